import { beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './helpers/db.ts';
import { eventually, startBossFor, startTestIngest, startTestWorker } from './helpers/app.ts';
import { sampleMail, sendRaw } from './helpers/smtp-client.ts';
import { processRawMessage } from '../src/inbound/index.ts';
import { createPgPool } from '../src/db/index.ts';
import { testInboundSettings, testLog } from './helpers/app.ts';

let t: TestDatabase;
beforeAll(async () => {
  t = await createTestDatabase();
});

describe('worker', () => {
  it('processes a stored mail from its job, woken by NOTIFY rather than the poll', async () => {
    const boss = await startBossFor(t.url, true);
    const app = await startTestIngest(t.url, { inboxes: ['support@localhost'], boss });
    // a one-minute poll: within the 10 s this test waits, only NOTIFY can wake the worker
    await startTestWorker(t.url, boss, 60);
    // let the worker's first (empty) fetch pass, so the next job can only be found by NOTIFY
    await new Promise((r) => setTimeout(r, 500));

    const reply = await sendRaw(app.port, 'alice@example.com', ['support@localhost'], sampleMail());
    const id = Number(/queued as (\d+)/.exec(reply.text)![1]);
    const row = await eventually(() => t.db('raw_messages').where({ id, status: 'processed' }).first(), 10_000);
    expect(row.attempts).toBe(1);
    expect(row.processed_at).toBeInstanceOf(Date);
  });

  it('the queue retries with backoff and then dead-letters', async () => {
    const boss = await startBossFor(t.url);
    const queue = await boss.getQueue('inbound.process');
    expect(queue).toMatchObject({ retryLimit: 5, retryBackoff: true, deadLetter: 'inbound.process.dead' });
    expect(await boss.getQueue('inbound.process.dead')).not.toBeNull();
  });

  it('processing is idempotent: a second run of the same mail changes nothing', async () => {
    const raw = Buffer.from(sampleMail({ messageId: '<idem@example.com>' }));
    const [row] = await t
      .db('raw_messages')
      .insert({
        mail_from: 'alice@example.com',
        rcpt_to: ['support@localhost'],
        size: raw.length,
        sha256: Buffer.alloc(32, 7),
        raw,
      })
      .returning('id');
    const pool = createPgPool(t.url, { poolMax: 1, log: testLog, pipeline: true });
    const ctx = { pool, log: testLog, settings: testInboundSettings };
    expect(await processRawMessage(ctx, row.id)).toMatch(/ticket_created|reply/);
    expect(await processRawMessage(ctx, row.id)).toBe('skipped');
    expect((await t.db('raw_messages').where({ id: row.id }).first()).attempts).toBe(1);
    expect(await t.db('messages').where({ raw_message_id: row.id })).toHaveLength(1);
    await pool.end();
  });
});
