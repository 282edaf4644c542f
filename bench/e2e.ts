// End to end, as deployed: `inbound start` (all roles, its own process) receives a steady stream
// of new-ticket mails over SMTP (50 a second by default, each from its own sender) and sends the
// acks to an SMTP sink in this process. Reports p50/p99 of the time from the end of each inbound
// DATA to its ack arriving at the sink (target p99 under 1 s), and, as the reference in the same
// run, the same figures for the time to our 250.
import { spawn } from 'node:child_process';
import { createConnection } from 'node:net';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { SMTPServer } from 'smtp-server';
import pg from 'pg';
import { SmtpClient } from '../test/helpers/smtp-client.ts';
import { benchDatabase, round, writeResult } from './_support.ts';
import { freePort } from '../test/helpers/ports.ts';

const { values } = parseArgs({
  args: process.argv.slice(3),
  options: {
    rate: { type: 'string', default: '50' },
    seconds: { type: 'string', default: '30' },
    connections: { type: 'string', default: '4' },
  },
});
const RATE = Number(values.rate);
const MAILS = RATE * Number(values.seconds);
const CONNECTIONS = Number(values.connections);

const database = await benchDatabase();
const admin = new pg.Client({ connectionString: database.url });
await admin.connect();
await admin.query(`INSERT INTO inboxes (address, name) VALUES ('support@localhost', 'Support')`);

// the sink: when did the ack to each mail (its In-Reply-To) arrive?
const sentAt = new Map<string, number>();
const ackLatency: number[] = [];
const slowest: [number, number][] = [];
const sink = new SMTPServer({
  authOptional: true,
  disabledCommands: ['STARTTLS', 'AUTH'],
  logger: false,
  onData(stream, _session, callback) {
    let head = '';
    stream.on('data', (c: Buffer) => {
      if (head.length < 8192) head += c.toString('latin1');
    });
    stream.on('end', () => {
      const at = performance.now();
      const m = /^In-Reply-To:\s*(<[^>\r\n]+>)/im.exec(head);
      const t0 = m && sentAt.get(m[1]!);
      if (t0 !== undefined && t0 !== null) {
        ackLatency.push(at - t0);
        slowest.push([Number(/e2e-(\d+)-/.exec(m![1]!)![1]), Math.round(at - t0)]);
      }
      callback(null, 'ok');
    });
  },
});
await new Promise<void>((resolve) => sink.listen(0, '127.0.0.1', resolve));
const sinkPort = (sink.server.address() as { port: number }).port;

const smtpPort = await freePort();
const child = spawn(process.execPath, [path.resolve(import.meta.dirname, '../bin/inbound.js'), 'start'], {
  env: {
    ...process.env,
    DATABASE_URL: database.url,
    SMTP_HOST: '127.0.0.1',
    SMTP_PORT: String(smtpPort),
    HTTP_HOST: '127.0.0.1',
    HTTP_PORT: '0',
    OUTBOUND_SMTP_URL: `smtp://127.0.0.1:${sinkPort}`,
    PUBLIC_URL: 'http://help.bench.test',
    LOG_LEVEL: process.env.BENCH_CHILD_LOG_LEVEL ?? 'warn',
    ACK_LIMIT_PER_HOUR: '5',
  },
  stdio: ['ignore', process.env.BENCH_CHILD_LOG ? 'pipe' : 'inherit', 'pipe'],
});
// Every role up (the worker's mail pool loaded too): the line `inbound start` writes for people.
// The SMTP port alone opens earlier, and mail sent then waits for the worker to start.
const ready = new Promise<void>((resolve, reject) => {
  child.stderr!.on('data', (d: Buffer) => {
    process.stderr.write(d);
    if (d.toString().includes('Inbound is running')) resolve();
  });
  child.once('exit', (code) => reject(new Error(`inbound start exited (${code})`)));
});

if (process.env.BENCH_CHILD_LOG)
  child.stdout!.pipe((await import('node:fs')).createWriteStream(process.env.BENCH_CHILD_LOG));
try {
  await waitForPort(smtpPort, 60_000);
  await ready;
  const clients = await Promise.all(
    Array.from({ length: CONNECTIONS }, async () => {
      const { client } = await SmtpClient.connect(smtpPort);
      await client.command('EHLO bench.example');
      return client;
    }),
  );
  const accepted: number[] = [];
  const queues = clients.map(() => Promise.resolve());
  const started = performance.now();
  for (let i = 0; i < MAILS; i++) {
    const due = started + (i * 1000) / RATE;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const c = i % CONNECTIONS;
    queues[c] = queues[c]!.then(async () => {
      const client = clients[c]!;
      const messageId = `<e2e-${i}-${Date.now()}@bench-sender.test>`;
      const from = `customer${i}@bench-sender.test`;
      await client.command(`MAIL FROM:<${from}>`);
      await client.command('RCPT TO:<support@localhost>');
      await client.command('DATA');
      const body = Buffer.from(
        `From: Customer ${i} <${from}>\r\nTo: support@localhost\r\nSubject: Question ${i}\r\nMessage-ID: ${messageId}\r\nContent-Type: text/plain\r\n\r\n${'Hello, I have a question about my order.\r\n'.repeat(60)}`,
      );
      const t0 = performance.now();
      sentAt.set(messageId, t0);
      const r = await client.data(body);
      if (r.code === 250) accepted.push(performance.now() - t0);
    });
  }
  await Promise.all(queues);
  const sendSeconds = (performance.now() - started) / 1000;
  // the last acks: wait until all have come or nothing came for 10 s
  let last = ackLatency.length;
  for (let idle = 0; ackLatency.length < accepted.length && idle < 100; ) {
    await new Promise((r) => setTimeout(r, 100));
    if (ackLatency.length === last) idle++;
    else {
      idle = 0;
      last = ackLatency.length;
    }
  }
  for (const c of clients) c.close();
  const { rows: statuses } = await admin.query(
    `SELECT kind, status, count(*)::int AS n FROM outbound_messages GROUP BY 1, 2 ORDER BY 1, 2`,
  );
  const { rows: stages } = await admin.query(`
    SELECT round(avg(extract(epoch FROM r.processed_at - r.received_at)) * 1000) AS processed,
           round(avg(extract(epoch FROM o.created_at - r.received_at)) * 1000) AS ack_row,
           round(avg(extract(epoch FROM o.job_queued_at - r.received_at)) * 1000) AS job,
           round(avg(extract(epoch FROM o.sent_at - r.received_at)) * 1000) AS sent,
           round(percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM o.job_queued_at - r.received_at)) * 1000) AS job_p99,
           round(percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM r.processed_at - r.received_at)) * 1000) AS processed_p99
      FROM outbound_messages o JOIN tickets t ON t.id = o.ticket_id JOIN messages m ON m.ticket_id = t.id JOIN raw_messages r ON r.id = m.raw_message_id
     WHERE o.kind = 'ack'`);
  console.log('stages after receipt, mean ms:', JSON.stringify(stages[0]));
  console.log('slowest (mail index, ms):', JSON.stringify(slowest.sort((a, b) => b[1] - a[1]).slice(0, 15)));
  console.log('outbound:', statuses.map((r) => `${r.kind}/${r.status}: ${r.n}`).join(', '));

  const pct = (xs: number[], p: number) => {
    const s = [...xs].sort((a, b) => a - b);
    return round(s[Math.min(s.length - 1, Math.floor(s.length * p))] ?? NaN);
  };
  const result = {
    rate_per_sec: RATE,
    mails: MAILS,
    accepted: accepted.length,
    acks: ackLatency.length,
    send_seconds: round(sendSeconds),
    ack_ms: { p50: pct(ackLatency, 0.5), p99: pct(ackLatency, 0.99), max: pct(ackLatency, 1) },
    reference_smtp_250_ms: { p50: pct(accepted, 0.5), p99: pct(accepted, 0.99) },
    target: { ack_p99_ms: 1000 },
  };
  console.log(
    `${MAILS} mails at ${RATE}/s over ${round(sendSeconds)} s: ${accepted.length} accepted, ${ackLatency.length} acks`,
  );
  console.log(
    `end of DATA -> ack at the sink: p50 ${result.ack_ms.p50} ms, p99 ${result.ack_ms.p99} ms, max ${result.ack_ms.max} ms`,
  );
  console.log(
    `reference, end of DATA -> 250: p50 ${result.reference_smtp_250_ms.p50} ms, p99 ${result.reference_smtp_250_ms.p99} ms`,
  );
  console.log(`written to ${await writeResult('e2e', result)}`);
} finally {
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
  await new Promise<void>((resolve) => sink.close(() => resolve()));
  await admin.end();
  await database.drop();
}

async function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = createConnection({ port, host: '127.0.0.1' }, () => {
        s.end();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > until) throw new Error(`inbound start did not listen on ${port}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
