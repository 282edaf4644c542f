// Inbound processing: (1) the time one hostile-sized mail takes (2,000 links; a 5 MB HTML body)
// through processRawMessage; (2) end-to-end throughput from SMTP to ticket for typical 3 KB mails
// (ingest + worker in this process, load from a separate process).
import { parseArgs } from 'node:util';
import { createDb, createPgPool } from '../src/db/index.ts';
import { startBoss } from '../src/queue/index.ts';
import { cachedInboxLookup, createInboxStore } from '../src/inboxes/index.ts';
import { createSmtpIngest, storeBatch } from '../src/ingest/index.ts';
import { processRawMessage, warmMailPool, closeMailPool, type InboundSettings } from '../src/inbound/index.ts';
import { staticResolver } from '../src/inbound/auth.ts';
import { LOOP_HEADER } from '../src/mail/index.ts';
import { spawn } from 'node:child_process';
import { appendFileSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { createHash } from 'node:crypto';
import { benchDatabase, log, round, startLoadGenerator, writeResult } from './_support.ts';

const { values } = parseArgs({
  args: process.argv.slice(3),
  options: {
    mails: { type: 'string', default: '3000' },
    connections: { type: 'string', default: '10' },
    concurrency: { type: 'string', default: '8' },
    workers: { type: 'string', default: '1' },
  },
});

const database = await benchDatabase();
const db = createDb(database.url, { poolMax: 12, log });
const pool = createPgPool(database.url, { poolMax: 6, log, pipeline: true });
const boss = await startBoss({ url: database.url, worker: true, log });
const inboxes = createInboxStore(db);
await inboxes.add('support@localhost');
// no DNS from here: the verdicts are 'none', as for a domain without records
const settings: InboundSettings = {
  reopenDays: 30,
  ownDomains: ['help.bench.test'],
  loopHeader: LOOP_HEADER,
  mta: 'bench',
  resolver: staticResolver({}),
};

// (1) single hostile-sized mails, processed directly
function mail(subject: string, html: string): Buffer {
  return Buffer.from(
    [
      'From: Big Sender <big@bench.example>',
      'To: support@localhost',
      `Subject: ${subject}`,
      `Message-ID: <${subject.replace(/\W/g, '')}.${Date.now()}@bench.example>`,
      'MIME-Version: 1.0',
      'Content-Type: text/html; charset=utf-8',
      '',
      html,
      '',
    ].join('\r\n'),
  );
}
const links = mail(
  '2000 links',
  `<html><body>${Array.from({ length: 2000 }, (_, i) => `<p><a href="https://example.com/page/${i}?q=${i}">Link number ${i}</a> and some text</p>`).join('\n')}</body></html>`,
);
const paragraph =
  '<p style="color:#333">Lorem ipsum <b>dolor</b> sit amet, <a href="https://example.com">consectetur</a> adipiscing elit.</p>\n';
const bigHtml = mail(
  '5 MB HTML',
  `<html><body><div>${paragraph.repeat(Math.ceil((5 * 1024 * 1024) / paragraph.length))}</div></body></html>`,
);

// as the worker role does at start: the mail pool's threads loaded before the first mail
await warmMailPool();
const single: Record<string, { bytes: number; ms: number; outcome: string }> = {};
for (const [name, raw] of [
  ['links2000', links],
  ['html5mb', bigHtml],
] as const) {
  const [stored] = await storeBatch(pool, boss, [
    {
      mailFrom: 'big@bench.example',
      rcptTo: ['support@localhost'],
      remoteAddress: '127.0.0.1',
      helo: 'bench',
      smtpSession: undefined,
      sha256: createHash('sha256').update(raw).digest(),
      messageId: undefined,
      raw,
    },
  ]);
  const t0 = performance.now();
  const outcome = await processRawMessage({ pool, log, settings }, stored!.id);
  single[name] = { bytes: raw.length, ms: round(performance.now() - t0), outcome };
  console.log(
    `${name.padEnd(10)} ${(raw.length / 1024).toFixed(0)} KB processed in ${single[name]!.ms} ms (${outcome})`,
  );
}

// (2) end to end: SMTP in, ticket out. The worker role runs as a process of its own, as it would
// in production (roles scale apart), so the ingest and the worker do not share one event loop.
// Worker processes of their own (--workers N); on this 2-core machine a second one only competes
// with PostgreSQL and the ingest for the same cores.
const workerProcesses = await Promise.all(
  Array.from({ length: Number(values.workers) }, async () => {
    const profile = process.env.BENCH_WORKER_PROF
      ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_WORKER_PROF}`]
      : [];
    const child = spawn(
      process.execPath,
      [...profile, path.resolve(import.meta.dirname, '../bin/inbound.js'), 'start', '--roles', 'worker'],
      {
        env: { ...process.env, DATABASE_URL: database.url, WORKER_CONCURRENCY: values.concurrency, LOG_LEVEL: 'info' },
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    await new Promise<void>((resolve, reject) => {
      createInterface({ input: child.stdout! }).on('line', (line) => {
        if (line.includes('"worker started"')) resolve();
        if (process.env.BENCH_WORKER_LOG) appendFileSync(process.env.BENCH_WORKER_LOG, `${line}\n`);
      });
      child.once('exit', (code) => reject(new Error(`worker exited (${code})`)));
    });
    return child;
  }),
);
const ingest = createSmtpIngest(
  {
    host: '127.0.0.1',
    port: 0,
    hostname: 'bench',
    maxMessageBytes: 25 * 1024 * 1024,
    maxClients: 100,
    tls: undefined,
    shutdownTimeoutMs: 5_000,
  },
  { pool, boss, log, findInbox: cachedInboxLookup(inboxes) },
);
const port = (await ingest.listen()).port;
const load = startLoadGenerator();
const MAILS = Number(values.mails);
const before = Number((await db('raw_messages').count<{ count: number }[]>({ count: '*' }))[0]!.count);
const t0 = performance.now();
const sent = await load.run(port, MAILS, Number(values.connections), 3 * 1024);
const acceptedAt = performance.now();
for (;;) {
  const [row] = await db('raw_messages').where({ status: 'received' }).count<{ pending: number }[]>({ pending: '*' });
  if (Number(row?.pending) === 0) break;
  await new Promise((r) => setTimeout(r, 20));
}
const seconds = (performance.now() - t0) / 1000;
const tickets = Number((await db('tickets').count<{ count: number }[]>({ count: '*' }))[0]!.count);
const processed =
  Number(
    (await db('raw_messages').where({ status: 'processed' }).count<{ count: number }[]>({ count: '*' }))[0]!.count,
  ) - 2;
const e2e = {
  workerProcesses: Number(values.workers),
  mails: MAILS,
  connections: Number(values.connections),
  workerConcurrency: Number(values.concurrency),
  smtpAcceptPerSec: round(MAILS / ((acceptedAt - t0) / 1000)),
  processedPerSec: round(MAILS / seconds),
  seconds: round(seconds),
  processed,
  tickets,
  failedSends: sent.failed,
  rawBefore: before,
};
console.log(
  `end to end: ${MAILS} mails of 3 KB, SMTP to ticket, ${e2e.processedPerSec} mails/s (SMTP accepted ${e2e.smtpAcceptPerSec}/s); ${tickets} tickets`,
);
const file = await writeResult('process', {
  target: 'single mails well under 1 s; >= 300 mails/s end to end',
  single,
  endToEnd: e2e,
});
console.log(`written to ${file}`);

load.stop();
await Promise.all(
  workerProcesses.map(
    (w) =>
      new Promise((r) => {
        w.once('exit', r);
        w.kill('SIGTERM');
      }),
  ),
);
await ingest.close();
await closeMailPool();
await boss.stop({ graceful: false });
await pool.end();
await db.destroy();
await database.drop();
