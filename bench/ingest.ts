// Ingest throughput and latency: our SMTP role against a reference server written here that does
// the least durable work possible (smtp-server + one INSERT per message, committed before 250),
// on the same database, load generator and machine, in the same run.
import { parseArgs } from 'node:util';
import pg from 'pg';
import { SMTPServer } from 'smtp-server';
import { createDb, createPgPool } from '../src/db/index.ts';
import { startBoss } from '../src/queue/index.ts';
import { cachedInboxLookup, createInboxStore } from '../src/inboxes/index.ts';
import { createSmtpIngest } from '../src/ingest/index.ts';
import { benchDatabase, log, round, startLoadGenerator, writeResult, type LoadResult } from './_support.ts';

const { values } = parseArgs({
  args: process.argv.slice(3),
  options: {
    mails: { type: 'string', default: '2000' },
    connections: { type: 'string', default: '10,50' },
    rounds: { type: 'string', default: '3' },
  },
});
const MAILS = Number(values.mails);
const CONNECTION_COUNTS = values.connections.split(',').map(Number);
const ROUNDS = Number(values.rounds);
const MAX = 25 * 1024 * 1024;

const database = await benchDatabase();
const db = createDb(database.url, { poolMax: 10, log });
const boss = await startBoss({ url: database.url, worker: false, log });
const inboxes = createInboxStore(db);
await inboxes.add('support@localhost');
await db.raw(
  `CREATE TABLE bench_reference (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, received_at timestamptz NOT NULL DEFAULT now(), raw bytea NOT NULL)`,
);

const oursPool = createPgPool(database.url, { poolMax: 6, log, pipeline: true });
const ours = createSmtpIngest(
  {
    host: '127.0.0.1',
    port: 0,
    hostname: 'bench',
    maxMessageBytes: MAX,
    maxClients: 100,
    tls: undefined,
    shutdownTimeoutMs: 5_000,
  },
  { pool: oursPool, boss, log, findInbox: cachedInboxLookup(inboxes) },
);
const oursPort = (await ours.listen()).port;

const refPool = new pg.Pool({ connectionString: database.url, max: 10 });
const reference = new SMTPServer({
  authOptional: true,
  disabledCommands: ['AUTH', 'STARTTLS'],
  hideSTARTTLS: true,
  disableReverseLookup: true,
  size: MAX,
  logger: false,
  onData(stream, _session, callback) {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => {
      refPool.query('INSERT INTO bench_reference (raw) VALUES ($1)', [Buffer.concat(chunks)]).then(
        () => callback(null, 'ok'),
        (err: Error) => callback(Object.assign(err, { responseCode: 451 })),
      );
    });
  },
});
const refPort = await new Promise<number>((resolve) =>
  reference.listen(0, '127.0.0.1', () => resolve((reference.server.address() as { port: number }).port)),
);

const sizes = [
  { label: '3KB', bytes: 3 * 1024, mails: MAILS },
  { label: '100KB', bytes: 100 * 1024, mails: Math.max(100, Math.round(MAILS / 4)) },
];
const load = startLoadGenerator();
const results = [];
for (const CONNECTIONS of CONNECTION_COUNTS)
  for (const size of sizes) {
    await load.run(oursPort, 200, CONNECTIONS, size.bytes); // warm up both: JIT, pools, prepared statements
    await load.run(refPort, 200, CONNECTIONS, size.bytes);
    const runs: { ours: LoadResult; reference: LoadResult }[] = [];
    // alternate, so neither side always runs on a warmer (or noisier) machine
    for (let r = 0; r < ROUNDS; r++) {
      const reference = await load.run(refPort, size.mails, CONNECTIONS, size.bytes);
      const oursRun = await load.run(oursPort, size.mails, CONNECTIONS, size.bytes);
      runs.push({ ours: oursRun, reference });
    }
    const sum = (k: 'ours' | 'reference') => runs.reduce((a, r) => a + r[k].msgsPerSec, 0) / runs.length;
    const row = {
      size: size.label,
      mails: size.mails,
      connections: CONNECTIONS,
      ours: {
        msgsPerSec: round(sum('ours')),
        p50: runs.at(-1)!.ours.p50,
        p99: runs.at(-1)!.ours.p99,
        failed: runs.reduce((a, r) => a + r.ours.failed, 0),
      },
      reference: {
        msgsPerSec: round(sum('reference')),
        p50: runs.at(-1)!.reference.p50,
        p99: runs.at(-1)!.reference.p99,
        failed: runs.reduce((a, r) => a + r.reference.failed, 0),
      },
      ratio: round(sum('ours') / sum('reference')),
      runs,
    };
    results.push(row);
    console.log(
      `${size.label.padEnd(6)} C=${String(CONNECTIONS).padEnd(3)} ours ${row.ours.msgsPerSec} msg/s (p50 ${row.ours.p50} ms, p99 ${row.ours.p99} ms)  ` +
        `reference ${row.reference.msgsPerSec} msg/s (p50 ${row.reference.p50} ms, p99 ${row.reference.p99} ms)  ratio ${row.ratio}`,
    );
  }
const file = await writeResult('ingest', { target: 'ratio >= 0.8', results });
console.log(`written to ${file}`);

load.stop();
await ours.close();
await oursPool.end();
await new Promise<void>((r) => reference.close(() => r()));
await refPool.end();
await boss.stop({ graceful: false });
await db.destroy();
await database.drop();
