// Our own trouble is the sender's temporary failure: nothing half-stored, and the retry works.
import { beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './helpers/db.ts';
import { startBossFor, startTestIngest } from './helpers/app.ts';
import { SmtpClient, sampleMail, sendRaw } from './helpers/smtp-client.ts';
import { startTcpProxy, viaProxy, type TcpProxy } from './helpers/tcp-proxy.ts';

let t: TestDatabase;
let proxy: TcpProxy;

beforeAll(async () => {
  t = await createTestDatabase();
  const u = new URL(t.url);
  proxy = await startTcpProxy(u.hostname, Number(u.port || 5432));
  return () => proxy.close();
});

const count = async (where: Record<string, unknown> = {}) =>
  Number((await t.db('raw_messages').where(where).count<{ count: number }[]>({ count: '*' }))[0]!.count);

describe('when the database is down', () => {
  it('answers 451 4.3.0, stores nothing, and the retry succeeds once it is back', async () => {
    // the ingest reaches PostgreSQL through the proxy; the test reads it directly
    const boss = await startBossFor(t.url);
    const app = await startTestIngest(viaProxy(t.url, proxy), { inboxes: ['support@localhost'], boss });
    const body = sampleMail({ messageId: '<while-down@example.com>' });
    expect((await sendRaw(app.port, 'a@example.com', ['support@localhost'], sampleMail())).code).toBe(250);

    proxy.down();
    const refused = await sendRaw(app.port, 'alice@example.com', ['support@localhost'], body);
    expect(refused.code).toBe(451);
    expect(refused.text).toMatch(/^4\.3\.0 /);
    // an address not in the RCPT cache needs the database at RCPT already
    const rcpt = await sendRaw(app.port, 'alice@example.com', ['support+new@localhost'], body);
    expect(rcpt.code).toBe(451);
    expect(await count({ message_id: '<while-down@example.com>' })).toBe(0);

    proxy.up();
    const retried = await sendRaw(app.port, 'alice@example.com', ['support@localhost'], body);
    expect(retried.code).toBe(250);
    expect(await count({ message_id: '<while-down@example.com>' })).toBe(1);
    const { rows } = await t.db.raw(`SELECT count(*)::int AS n FROM pgboss.job WHERE name = 'inbound.process'`);
    expect(rows[0].n).toBe(2);
  });
});

describe('shutdown', () => {
  it('refuses new connections with 421 and finishes the mail in flight', async () => {
    const app = await startTestIngest(t.url, { inboxes: ['support@localhost'] });
    const { client: inFlight } = await SmtpClient.connect(app.port);
    await inFlight.command('EHLO test.example');
    await inFlight.command('MAIL FROM:<alice@example.com>');
    await inFlight.command('RCPT TO:<support@localhost>');
    expect((await inFlight.command('DATA')).code).toBe(354);
    const body = sampleMail({ messageId: '<in-flight@example.com>', body: 'first half\r\n' });
    inFlight.write(body.slice(0, 100));

    let closed = false;
    const closing = app.ingest.close().then(() => (closed = true));
    await new Promise((r) => setTimeout(r, 50));

    const { client: late, greeting } = await SmtpClient.connect(app.port);
    expect(greeting.code).toBe(421);
    late.close();
    expect(closed).toBe(false);

    const done = await inFlight.data(body.slice(100));
    expect(done.code).toBe(250);
    // the connection that finished its mail is not offered another one
    expect((await inFlight.command('MAIL FROM:<alice@example.com>')).code).toBe(421);
    inFlight.close();
    await closing;
    expect(await count({ message_id: '<in-flight@example.com>' })).toBe(1);
  });
});
