// Roles started in-process against the test file's database.
import { startOutboundWorker } from '../../src/outbound/index.ts';
import { afterAll } from 'vitest';
import { createDb, createPgPool, type Knex } from '../../src/db/index.ts';
import { createLogger } from '../../src/log.ts';
import { startBoss, type Boss } from '../../src/queue/index.ts';
import { cachedInboxLookup, createInboxStore } from '../../src/inboxes/index.ts';
import { createSmtpIngest, type SmtpIngest } from '../../src/ingest/index.ts';
import { startWorker, type Worker } from '../../src/worker/index.ts';
import type { InboundSettings } from '../../src/inbound/index.ts';
import { LOOP_HEADER } from '../../src/mail/index.ts';
import { staticResolver } from '../../src/inbound/auth.ts';

export const testLog = createLogger(process.env.TEST_LOG_LEVEL ?? 'silent', 2);

export async function startBossFor(url: string, worker = false): Promise<Boss> {
  const boss = await startBoss({ url, worker, log: testLog });
  afterAll(() => boss.stop({ graceful: false }));
  return boss;
}

export interface TestIngest {
  port: number;
  ingest: SmtpIngest;
  db: Knex;
  boss: Boss;
}

export async function startTestIngest(
  url: string,
  opts: { maxMessageBytes?: number; inboxes?: string[]; boss?: Boss; shutdownTimeoutMs?: number } = {},
): Promise<TestIngest> {
  const db = createDb(url, { poolMax: 10, applicationName: 'inbound-test-smtp', log: testLog });
  const boss = opts.boss ?? (await startBossFor(url));
  const pool = createPgPool(url, { poolMax: 6, applicationName: 'inbound-test-smtp', log: testLog, pipeline: true });
  const store = createInboxStore(db);
  for (const address of opts.inboxes ?? []) {
    if (!(await store.findEnabled(address))) await store.add(address);
  }
  const ingest = createSmtpIngest(
    {
      host: '127.0.0.1',
      port: 0,
      hostname: 'mx.test',
      maxMessageBytes: opts.maxMessageBytes ?? 1024 * 1024,
      maxClients: 100,
      tls: undefined,
      shutdownTimeoutMs: opts.shutdownTimeoutMs ?? 10_000,
    },
    { pool, boss, log: testLog, findInbox: cachedInboxLookup(store) },
  );
  const { port } = await ingest.listen();
  let closed = false;
  afterAll(async () => {
    if (!closed) await ingest.close();
    await pool.end();
    await db.destroy();
  });
  return {
    port,
    db,
    boss,
    ingest: {
      listen: ingest.listen,
      close: async () => {
        closed = true;
        await ingest.close();
      },
    },
  };
}

export const testInboundSettings: InboundSettings = {
  reopenDays: 30,
  ownDomains: ['help.inbound.test'],
  loopHeader: LOOP_HEADER,
  mta: 'mx.test',
  // no DNS from outside in tests: an empty zone (SPF/DKIM/DMARC verdicts 'none')
  resolver: staticResolver({}),
};

export async function startTestWorker(
  url: string,
  boss: Boss,
  pollSeconds?: number,
  inbound = testInboundSettings,
): Promise<Worker> {
  const pool = createPgPool(url, { poolMax: 2, applicationName: 'inbound-test-worker', log: testLog, pipeline: true });
  const worker = await startWorker({ url, pool, boss, log: testLog, concurrency: 2, pollSeconds, inbound });
  afterAll(async () => {
    await worker.stop();
    await pool.end();
  });
  return worker;
}

/** Polls until fn returns a truthy value (the database is the only place to look). */
export async function eventually<T>(fn: () => Promise<T | undefined | null | false>, timeoutMs = 10_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** The outbound worker, sending to a live SMTP sink (test/helpers/sink.ts); stopped after the file. */
export async function startTestOutbound(
  db: Knex,
  boss: Boss,
  sinkUrl: string,
  publicUrl = 'http://help.inbound.test',
): Promise<void> {
  const outbound = await startOutboundWorker({
    db,
    boss,
    log: testLog,
    outboundSmtpUrl: sinkUrl,
    publicUrl,
    messageIdDomain: 'help.inbound.test',
    ticketLinkDays: 30,
    pollSeconds: 1,
  });
  afterAll(() => outbound.stop());
}
