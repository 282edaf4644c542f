import { createHash } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import nodemailer from 'nodemailer';
import { createTestDatabase, type TestDatabase } from './helpers/db.ts';
import { startTestIngest, type TestIngest } from './helpers/app.ts';
import { SmtpClient, sampleMail, sendRaw } from './helpers/smtp-client.ts';

let t: TestDatabase;
let app: TestIngest;

beforeAll(async () => {
  t = await createTestDatabase();
  app = await startTestIngest(t.url, {
    inboxes: ['support@localhost', 'billing@example.org'],
    maxMessageBytes: 64 * 1024,
  });
});

const queuedId = (text: string): number => Number(/queued as (\d+)/.exec(text)?.[1]);

async function jobsFor(rawId: number) {
  const { rows } = await t.db.raw(
    `SELECT state FROM pgboss.job WHERE name = 'inbound.process' AND (data->>'rawId')::bigint = ?`,
    [rawId],
  );
  return rows as { state: string }[];
}

describe('SMTP ingest', () => {
  it('stores accepted mail byte-exact, with its envelope and one processing job', async () => {
    // 8-bit bytes, a line starting with a dot (dot-stuffed on the wire), a bare LF
    const body = Buffer.concat([
      Buffer.from(
        sampleMail({ messageId: '<exact-1@example.com>', body: 'Caf\xe9 line\r\n.dot line\r\nbare\nLF\r\n' }),
        'latin1',
      ),
    ]);
    const reply = await sendRaw(app.port, 'alice@example.com', ['support@localhost'], body);
    expect(reply.code).toBe(250);
    const id = queuedId(reply.text);
    expect(id).toBeGreaterThan(0);

    const row = await t.db('raw_messages').where({ id }).first();
    expect(Buffer.compare(row.raw, body)).toBe(0);
    expect(row.size).toBe(body.length);
    expect(row.sha256.toString('hex')).toBe(createHash('sha256').update(body).digest('hex'));
    expect(row).toMatchObject({
      status: 'received',
      message_id: '<exact-1@example.com>',
      mail_from: 'alice@example.com',
      rcpt_to: ['support@localhost'],
      helo: 'test.example',
      remote_address: '127.0.0.1',
      duplicate_of: null,
    });
    expect(await jobsFor(id)).toEqual([{ state: 'created' }]);
  });

  it('accepts mail from a real client (nodemailer) and keeps its Message-ID', async () => {
    const transport = nodemailer.createTransport({ host: '127.0.0.1', port: app.port, secure: false, ignoreTLS: true });
    const info = await transport.sendMail({
      from: 'Bob <bob@example.net>',
      to: 'billing@example.org',
      cc: 'support@localhost',
      subject: 'Invoice question',
      text: 'Hi there',
    });
    transport.close();
    expect(info.response).toMatch(/^250 /);
    const row = await t
      .db('raw_messages')
      .where({ id: queuedId(info.response) })
      .first();
    expect(row.message_id).toBe(info.messageId);
    expect(row.rcpt_to.sort()).toEqual(['billing@example.org', 'support@localhost']);
    expect(row.raw.toString()).toContain('Subject: Invoice question');
  });

  it('refuses an unknown recipient with 550 5.1.1 at RCPT, and keeps the good ones', async () => {
    const { client } = await SmtpClient.connect(app.port);
    await client.command('EHLO test.example');
    expect((await client.command('MAIL FROM:<alice@example.com>')).code).toBe(250);
    const bad = await client.command('RCPT TO:<nobody@localhost>');
    expect(bad.code).toBe(550);
    expect(bad.text).toMatch(/^5\.1\.1 /);
    // another domain's address with our local part is not ours either
    expect((await client.command('RCPT TO:<support@elsewhere.example>')).code).toBe(550);
    expect((await client.command('RCPT TO:<support@localhost>')).code).toBe(250);
    expect((await client.command('DATA')).code).toBe(354);
    const done = await client.data(sampleMail());
    expect(done.code).toBe(250);
    const row = await t
      .db('raw_messages')
      .where({ id: queuedId(done.text) })
      .first();
    expect(row.rcpt_to).toEqual(['support@localhost']);
    client.close();
  });

  it('maps plus-addresses and any letter case to their inbox', async () => {
    for (const rcpt of ['support+a1b2c3@localhost', 'SUPPORT@LocalHost', 'Billing+Tag.With.Dots@Example.ORG']) {
      const reply = await sendRaw(app.port, 'alice@example.com', [rcpt], sampleMail());
      expect(reply.code, rcpt).toBe(250);
      const row = await t
        .db('raw_messages')
        .where({ id: queuedId(reply.text) })
        .first();
      expect(row.rcpt_to).toEqual([rcpt]); // the envelope is kept as sent: the token lives in it
    }
    expect((await sendRaw(app.port, 'a@example.com', ['support+x@example.org'], sampleMail())).code).toBe(550);
  });

  it('refuses mail over MAX_MESSAGE_BYTES with 552 5.3.4 and stores nothing', async () => {
    const before = await t.db('raw_messages').count<{ count: number }[]>({ count: '*' });
    const big = sampleMail({ body: `${'x'.repeat(998)}\r\n`.repeat(70) });
    const reply = await sendRaw(app.port, 'alice@example.com', ['support@localhost'], big);
    expect(reply.code).toBe(552);
    expect(reply.text).toMatch(/^5\.3\.4 /);
    const after = await t.db('raw_messages').count<{ count: number }[]>({ count: '*' });
    expect(after[0]!.count).toBe(before[0]!.count);

    // a declared SIZE over the limit is refused before any byte is sent
    const { client } = await SmtpClient.connect(app.port);
    const ehlo = await client.command('EHLO test.example');
    expect(ehlo.text).toContain(`SIZE ${64 * 1024}`);
    expect((await client.command(`MAIL FROM:<a@example.com> SIZE=${10 * 1024 * 1024}`)).code).toBe(552);
    client.close();
  });

  it('stores the same bytes sent twice once; the second delivery is a duplicate and gets no job', async () => {
    const body = sampleMail({ messageId: '<retry-1@example.com>' });
    const first = await sendRaw(app.port, 'alice@example.com', ['support@localhost'], body);
    const second = await sendRaw(app.port, 'alice@example.com', ['support@localhost'], body);
    expect(first.code).toBe(250);
    expect(second.code).toBe(250); // the sender must stop retrying
    const originalId = queuedId(first.text);
    expect(second.text).toContain(`already have this message as ${originalId}`);
    const rows = await t.db('raw_messages').where({ message_id: '<retry-1@example.com>' }).orderBy('id');
    expect(rows.map((r) => [r.status, r.duplicate_of, r.raw === null])).toEqual([
      ['received', null, false],
      ['duplicate', originalId, true],
    ]);
    expect(await jobsFor(originalId)).toHaveLength(1);
    expect(await jobsFor(rows[1].id)).toHaveLength(0);

    // other bytes under the same Message-ID (a different mail reusing an id) are a new message
    const other = await sendRaw(
      app.port,
      'alice@example.com',
      ['support@localhost'],
      sampleMail({ messageId: '<retry-1@example.com>', subject: 'Other' }),
    );
    expect(other.text).toMatch(/queued as/);
  });

  it('two copies racing each other still end as one original and one duplicate', async () => {
    const body = sampleMail({ messageId: '<race-1@example.com>' });
    const replies = await Promise.all(
      [1, 2, 3].map(() => sendRaw(app.port, 'alice@example.com', ['support@localhost'], body)),
    );
    expect(replies.map((r) => r.code)).toEqual([250, 250, 250]);
    const rows = await t.db('raw_messages').where({ message_id: '<race-1@example.com>' });
    expect(rows.filter((r) => r.duplicate_of === null)).toHaveLength(1);
    expect(rows.filter((r) => r.status === 'duplicate')).toHaveLength(2);
  });

  it('stores mail without a Message-ID, and a bounce with the null reverse path', async () => {
    const reply = await sendRaw(app.port, '', ['support@localhost'], sampleMail({ messageId: '' }));
    expect(reply.code).toBe(250);
    const row = await t
      .db('raw_messages')
      .where({ id: queuedId(reply.text) })
      .first();
    expect(row).toMatchObject({ message_id: null, mail_from: '' });
  });
});
