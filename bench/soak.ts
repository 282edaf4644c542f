// Soak: the whole system, as deployed, for minutes on end. Three `inbound start` processes, one per
// role (smtp, worker, web), on a fresh database, with an SMTP sink in this process as their
// outbound relay. A steady stream of mail over SMTP (20 a second by default: new tickets from the
// portal's customers, and their replies to the acks they got) while those customers, signed in,
// fetch their ticket list at a steady rate (20 a second). Every few seconds each process's /metrics
// (RSS, heap, CPU, event-loop delay, queue depths) and the outbound rows still queued are sampled,
// with the window's mail latency (end of DATA to the ack at the sink) and portal latency.
//
//   npm run bench -- soak [--minutes 3] [--rate 20] [--portal-rate 20] [--reply-share 0.3]
//                         [--customers 200] [--connections 4] [--sample-seconds 5]
//
// Flatness: a line fitted to each series over the second half of the run (the first half is the
// warm-up), its growth over ten minutes against a limit per kind of series (LIMITS). Writes
// bench/results/soak.json and soak-{memory,event-loop,queues,cpu,latency}.png; a run of other than 3
// minutes writes soak-<N>min.json and soak-<N>min-*.png instead, so the short and the long run
// are kept side by side.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { SMTPServer } from 'smtp-server';
import { createDb } from '../src/db/index.ts';
import { createSession, updatePortalSettings } from '../src/portal/index.ts';
import { freePort } from '../test/helpers/ports.ts';
import { SmtpClient } from '../test/helpers/smtp-client.ts';
import { type Series, writeChartPng } from './_plot.ts';
import { benchDatabase, round, writeResult } from './_support.ts';

const { values } = parseArgs({
  args: process.argv.slice(3),
  options: {
    minutes: { type: 'string', default: '3' },
    rate: { type: 'string', default: '20' },
    'portal-rate': { type: 'string', default: '20' },
    'reply-share': { type: 'string', default: '0.3' },
    customers: { type: 'string', default: '200' },
    connections: { type: 'string', default: '4' },
    'sample-seconds': { type: 'string', default: '5' },
  },
});
const MINUTES = Number(values.minutes);
const RATE = Number(values.rate);
const PORTAL_RATE = Number(values['portal-rate']);
const REPLY_SHARE = Number(values['reply-share']);
const CUSTOMERS = Number(values.customers);
const CONNECTIONS = Number(values.connections);
const SAMPLE_SECONDS = Number(values['sample-seconds']);
const NAME = MINUTES === 3 ? 'soak' : `soak-${MINUTES}min`;
/** A sending MTA's connection carries this many mails, then QUITs and connects anew. */
const MAILS_PER_CONNECTION = 100;
/** Portal requests still unanswered past this are not joined by more (counted as skipped). */
const PORTAL_MAX_IN_FLIGHT = 200;
/** The body of a new ticket's mail: about 2.8 KB of text. */
const TEXT = 'Hello, I have a question about my order and the invoice that came with it.\r\n'.repeat(36);
const ROLES = ['smtp', 'worker', 'web'] as const;
type Role = (typeof ROLES)[number];

/**
 * What growth over ten minutes of the second half a series may show and still count as flat.
 * Memory: under 10% of its mean. Queues: bounded, under ten seconds' worth of mail at the run's
 * rate. Latency and event-loop delay (noisier on a shared machine): under 25% of the mean or under
 * a floor, whichever is larger.
 */
const LIMITS = {
  memory: (mean: number) => 0.1 * mean,
  queue: (_mean: number) => RATE * 10,
  event_loop: (mean: number) => Math.max(0.25 * mean, 5),
  latency: (mean: number) => Math.max(0.25 * mean, 25),
};
type Kind = keyof typeof LIMITS;

interface ProcessSample {
  rss_mb: number;
  heap_used_mb: number;
  heap_total_mb: number;
  external_mb: number;
  /** CPU time in the window over its wall time: 1 is one core */
  cpu: number;
  event_loop_p99_ms: number;
  event_loop_max_ms: number;
  handles: number;
}
interface Sample {
  /** seconds since the load started */
  t: number;
  processes: Record<Role, ProcessSample>;
  /** this process: the load, the sink and the sampler */
  bench: { rss_mb: number; event_loop_p99_ms: number; cpu: number };
  queues: {
    inbound_waiting: number;
    inbound_active: number;
    inbound_failed: number;
    outbound_waiting: number;
    outbound_active: number;
    outbound_failed: number;
    raw_backlog: number;
    outbound_rows_queued: number;
    outbound_rows_unrelayed: number;
  };
  database_mb: number;
  /** CPU in the window, in cores (1: one core busy all the time) */
  machine: { load_1m: number; cpu_all: number; cpu_postgres: number; cpu_others: number };
  /** in the window */
  mail: {
    sent: number;
    failed: number;
    acks: number;
    in_flight: number;
    ack_p50_ms: number;
    ack_p99_ms: number;
    smtp_250_p99_ms: number;
  };
  portal: { requests: number; non_200: number; errors: number; skipped: number; p50_ms: number; p99_ms: number };
  log: Record<Role, { warnings: number; errors: number }>;
}

const pct = (xs: number[], p: number) => {
  if (!xs.length) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  return round(s[Math.min(s.length - 1, Math.floor(s.length * p))]!);
};
const mb = (bytes: number) => round(bytes / 1048576);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const database = await benchDatabase();
const admin = new pg.Client({ connectionString: database.url });
await admin.connect();
const db = createDb(database.url, { poolMax: 2, applicationName: 'inbound-bench' });
const procs: Proc[] = [];
let sink: SMTPServer | undefined;
try {
  // the customers: each with a portal account and one address, their mail matched to them
  await admin.query(`INSERT INTO inboxes (address, name) VALUES ('support@localhost', 'Support')`);
  await admin.query(
    `INSERT INTO customers (name, portal_status) SELECT 'Customer ' || g, 'active' FROM generate_series(1, $1) g`,
    [CUSTOMERS],
  );
  await admin.query(
    `INSERT INTO customer_emails (customer_id, address, is_primary) SELECT id, 'customer' || id || '@soak.test', true FROM customers`,
  );
  const { rows: customerRows } = await admin.query<{ id: string }>('SELECT id FROM customers ORDER BY id');
  const customers = customerRows.map((r) => Number(r.id));
  await updatePortalSettings(db, { enabled: true });
  const cookies: string[] = [];
  for (const id of customers) cookies.push(`inbound_portal=${(await createSession(db, id)).secret}`);

  // the sink: the ack to each new ticket (its In-Reply-To) ends that mail's latency, and is what
  // the customer's reply will answer
  const pending = new Map<string, { t0: number; customer: number }>();
  const lastAck = new Map<number, { ackId: string; replyTo: string; origId: string; subject: string }>();
  const ackAll: number[] = [];
  let ackWindow: number[] = [];
  let sinkMails = 0;
  sink = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onData(stream, _session, callback) {
      let head = '';
      stream.on('data', (c: Buffer) => {
        if (head.length < 16384) head += c.toString('latin1');
      });
      stream.on('end', () => {
        const at = performance.now();
        sinkMails++;
        const block = head.split('\r\n\r\n')[0]!.replace(/\r\n[ \t]+/g, ' ');
        const header = (name: string) => new RegExp(`^${name}:[ \\t]*(.*)$`, 'im').exec(block)?.[1]?.trim();
        const origId = /<[^>\s]+>/.exec(header('In-Reply-To') ?? '')?.[0];
        const sent = origId && pending.get(origId);
        if (origId && sent) {
          pending.delete(origId);
          ackAll.push(at - sent.t0);
          ackWindow.push(at - sent.t0);
          const replyTo = header('Reply-To');
          const ackId = header('Message-ID');
          if (replyTo && ackId)
            lastAck.set(sent.customer, {
              ackId,
              replyTo: /<([^>]+)>/.exec(replyTo)?.[1] ?? replyTo,
              origId,
              subject: header('Subject') ?? 'Your request',
            });
        }
        callback(null, 'ok');
      });
    },
  });
  await new Promise<void>((resolve) => sink!.listen(0, '127.0.0.1', resolve));
  const sinkPort = (sink.server.address() as { port: number }).port;

  // the three roles, each an `inbound start` of its own, as deployed (NODE_ENV=production)
  const smtpPort = await freePort();
  const httpPort = await freePort();
  const base = {
    ...process.env,
    NODE_ENV: 'production',
    DATABASE_URL: database.url,
    SMTP_HOST: '127.0.0.1',
    SMTP_PORT: String(smtpPort),
    HTTP_HOST: '127.0.0.1',
    OUTBOUND_SMTP_URL: `smtp://127.0.0.1:${sinkPort}`,
    PUBLIC_URL: 'http://help.bench.test',
    LOG_LEVEL: process.env.BENCH_CHILD_LOG_LEVEL ?? 'warn',
    // each customer gets an ack for every new ticket of the run
    ACK_LIMIT_PER_HOUR: '1000',
  };
  const ports: Record<Role, number> = { smtp: await freePort(), worker: await freePort(), web: httpPort };
  await Promise.all(
    ROLES.map((role) =>
      startRole(
        role,
        role === 'web' ? { ...base, HTTP_PORT: String(httpPort) } : { ...base, METRICS_PORT: String(ports[role]) },
        procs,
      ),
    ),
  );
  const portalUrl = `http://127.0.0.1:${httpPort}/portal/tickets`;
  for (const cookie of cookies.slice(0, 5)) {
    const r = await fetch(portalUrl, { headers: { cookie }, redirect: 'manual' });
    await r.arrayBuffer();
    if (r.status !== 200) throw new Error(`/portal/tickets answered ${r.status}`);
  }
  console.log(
    `soak: ${MINUTES} min, ${RATE} mails/s (${Math.round(REPLY_SHARE * 100)}% replies once acks have come) over ${CONNECTIONS} connections, ` +
      `${PORTAL_RATE} portal lists/s for ${CUSTOMERS} customers, a sample every ${SAMPLE_SECONDS} s; ` +
      `processes: ${procs.map((p) => `${p.role} pid ${p.child.pid}`).join(', ')}; their logs: ${procs.map((p) => p.logFile).join(' ')}`,
  );

  // ---- the load ----
  const random = mulberry32(42);
  const connections = Array.from({ length: CONNECTIONS }, () => smtpConnection(smtpPort));
  const totals = { sent: 0, accepted: 0, failed: 0, newTickets: 0, replies: 0 };
  const smtpAll: number[] = [];
  let smtpWindow: number[] = [];
  let mailWindow = { sent: 0, failed: 0 };
  const portalAll: number[] = [];
  let portalWindow: number[] = [];
  const portalTotals = { requests: 0, non200: 0, errors: 0, skipped: 0 };
  let portalCounts = { requests: 0, non200: 0, errors: 0, skipped: 0 };
  let portalInFlight = 0;
  let inFlight = 0;
  const durationMs = MINUTES * 60_000;
  let started = performance.now();
  let stopping = false;

  const mailLoop = async () => {
    for (let i = 0; ; i++) {
      const due = started + (i * 1000) / RATE;
      if (due - started >= durationMs || stopping) break;
      const wait = due - performance.now();
      if (wait > 0) await sleep(wait);
      const customer = customers[Math.floor(random() * customers.length)]!;
      const ack = random() < REPLY_SHARE ? lastAck.get(customer) : undefined;
      const mail = ack ? replyMail(i, customer, ack) : newTicketMail(i, customer);
      const conn = connections[i % CONNECTIONS]!;
      inFlight++;
      conn.chain = conn.chain.then(async () => {
        const onData = (t0: number) => {
          if (!ack) pending.set(mail.messageId, { t0, customer });
        };
        const r = await conn.send(mail.from, mail.rcpt, mail.body, onData).catch(() => ({ code: 0, ms: 0 }));
        inFlight--;
        totals.sent++;
        mailWindow.sent++;
        if (r.code === 250) {
          totals.accepted++;
          if (ack) totals.replies++;
          else totals.newTickets++;
          smtpAll.push(r.ms);
          smtpWindow.push(r.ms);
        } else {
          pending.delete(mail.messageId);
          totals.failed++;
          mailWindow.failed++;
        }
      });
    }
    await Promise.all(connections.map((c) => c.chain));
  };

  const portalLoop = async () => {
    const inflight = new Set<Promise<void>>();
    for (let j = 0; ; j++) {
      const due = started + (j * 1000) / PORTAL_RATE;
      if (due - started >= durationMs || stopping) break;
      const wait = due - performance.now();
      if (wait > 0) await sleep(wait);
      if (portalInFlight >= PORTAL_MAX_IN_FLIGHT) {
        portalCounts.skipped++;
        portalTotals.skipped++;
        continue;
      }
      portalInFlight++;
      const cookie = cookies[j % cookies.length]!;
      const p = (async () => {
        const t0 = performance.now();
        try {
          const r = await fetch(portalUrl, {
            headers: { cookie },
            redirect: 'manual',
            signal: AbortSignal.timeout(10_000),
          });
          await r.arrayBuffer();
          const ms = performance.now() - t0;
          portalAll.push(ms);
          portalWindow.push(ms);
          if (r.status !== 200) {
            portalCounts.non200++;
            portalTotals.non200++;
          }
        } catch {
          portalCounts.errors++;
          portalTotals.errors++;
        }
        portalCounts.requests++;
        portalTotals.requests++;
        portalInFlight--;
      })();
      inflight.add(p);
      p.finally(() => inflight.delete(p));
    }
    await Promise.all(inflight);
  };

  // ---- the samples ----
  const benchDelay = monitorEventLoopDelay({ resolution: 10 });
  benchDelay.enable();
  const lastCpu = new Map<Role | 'bench', { cpu: number; at: number }>();
  let lastTicks: { busy: number; total: number; at: number } | undefined;
  let lastBackends = new Map<number, number>();
  const samples: Sample[] = [];
  const takeSample = async (): Promise<Sample> => {
    const at = performance.now();
    const scraped = await Promise.all(procs.map((p) => scrape(`http://127.0.0.1:${ports[p.role]}/metrics`)));
    const processes = {} as Record<Role, ProcessSample>;
    procs.forEach((p, k) => {
      const m = scraped[k]!;
      const cpu = m.get('inbound_process_cpu_seconds_total');
      const prev = lastCpu.get(p.role);
      lastCpu.set(p.role, { cpu, at });
      processes[p.role] = {
        rss_mb: mb(m.get('inbound_process_resident_memory_bytes')),
        heap_used_mb: mb(m.get('inbound_nodejs_heap_size_used_bytes')),
        heap_total_mb: mb(m.get('inbound_nodejs_heap_size_total_bytes')),
        external_mb: mb(m.get('inbound_nodejs_external_memory_bytes')),
        cpu: prev ? round((cpu - prev.cpu) / ((at - prev.at) / 1000)) : Number.NaN,
        event_loop_p99_ms: round(m.get('inbound_event_loop_delay_seconds', { percentile: 'p99' }) * 1000),
        event_loop_max_ms: round(m.get('inbound_event_loop_delay_seconds', { percentile: 'max' }) * 1000),
        handles: m.get('inbound_nodejs_active_handles_total'),
      };
    });
    // the queue gauges are the same database read by every process: the worker's are taken
    const w = scraped[procs.findIndex((p) => p.role === 'worker')]!;
    const jobs = (queue: string, state: string) => w.get('inbound_queue_jobs', { queue, state });
    const { rows } = await admin.query<{ queued: number; unrelayed: number; bytes: string }>(
      `SELECT (SELECT count(*)::int FROM outbound_messages WHERE status = 'queued') AS queued,
              (SELECT count(*)::int FROM outbound_messages WHERE status = 'queued' AND job_queued_at IS NULL) AS unrelayed,
              pg_database_size(current_database()) AS bytes`,
    );
    const ticks = await machineTicks();
    const backends = await postgresTicks(admin);
    let pgTicks = 0;
    for (const [pid, t] of backends) pgTicks += t - (lastBackends.get(pid) ?? 0);
    lastBackends = backends;
    const wall = (at - (lastTicks?.at ?? at)) / 1000;
    const cpuAll = lastTicks
      ? ((ticks.busy - lastTicks.busy) / (ticks.total - lastTicks.total || 1)) * os.cpus().length
      : Number.NaN;
    lastTicks = { ...ticks, at };
    const cpuPostgres = wall ? pgTicks / 100 / wall : Number.NaN;
    const own = process.cpuUsage();
    const ownCpu = (own.user + own.system) / 1e6;
    const prevOwn = lastCpu.get('bench');
    lastCpu.set('bench', { cpu: ownCpu, at });
    const s: Sample = {
      t: round((at - started) / 1000),
      processes,
      bench: {
        rss_mb: mb(process.memoryUsage.rss()),
        event_loop_p99_ms: round(Math.max(0, benchDelay.percentile(99) / 1e6 - 10)),
        cpu: prevOwn ? round((ownCpu - prevOwn.cpu) / ((at - prevOwn.at) / 1000)) : Number.NaN,
      },
      queues: {
        inbound_waiting: jobs('inbound.process', 'created') + jobs('inbound.process', 'retry'),
        inbound_active: jobs('inbound.process', 'active'),
        inbound_failed: jobs('inbound.process', 'failed'),
        outbound_waiting: jobs('outbound.send', 'created') + jobs('outbound.send', 'retry'),
        outbound_active: jobs('outbound.send', 'active'),
        outbound_failed: jobs('outbound.send', 'failed'),
        raw_backlog: w.get('inbound_raw_backlog_messages'),
        outbound_rows_queued: rows[0]!.queued,
        outbound_rows_unrelayed: rows[0]!.unrelayed,
      },
      database_mb: mb(Number(rows[0]!.bytes)),
      machine: {
        load_1m: round(os.loadavg()[0]!),
        cpu_all: round(cpuAll),
        cpu_postgres: round(cpuPostgres),
        cpu_others: Number.NaN,
      },
      mail: {
        sent: mailWindow.sent,
        failed: mailWindow.failed,
        acks: ackWindow.length,
        in_flight: inFlight,
        ack_p50_ms: pct(ackWindow, 0.5),
        ack_p99_ms: pct(ackWindow, 0.99),
        smtp_250_p99_ms: pct(smtpWindow, 0.99),
      },
      portal: {
        requests: portalCounts.requests,
        non_200: portalCounts.non200,
        errors: portalCounts.errors,
        skipped: portalCounts.skipped,
        p50_ms: pct(portalWindow, 0.5),
        p99_ms: pct(portalWindow, 0.99),
      },
      log: Object.fromEntries(procs.map((p) => [p.role, { warnings: p.warnings, errors: p.errors }])) as Sample['log'],
    };
    s.machine.cpu_others = round(cpuAll - cpuPostgres - s.bench.cpu - ROLES.reduce((a, r) => a + processes[r].cpu, 0));
    benchDelay.reset();
    ackWindow = [];
    smtpWindow = [];
    portalWindow = [];
    mailWindow = { sent: 0, failed: 0 };
    portalCounts = { requests: 0, non200: 0, errors: 0, skipped: 0 };
    return s;
  };

  // a first scrape opens each process's event-loop window and CPU count at the start of the load
  await takeSample();
  started = performance.now();
  let sampling = true;
  const sampler = (async () => {
    for (let k = 1; sampling; k++) {
      const wait = started + k * SAMPLE_SECONDS * 1000 - performance.now();
      if (wait > 0) await sleep(wait);
      if (!sampling) break;
      const s = await takeSample();
      samples.push(s);
      if (k % Math.max(1, Math.round(30 / SAMPLE_SECONDS)) === 0) console.log(progressLine(s));
      const dead = procs.find((p) => p.exit !== undefined);
      if (dead) {
        console.error(`${dead.role} exited (${dead.exit}) during the soak: stopping`);
        stopping = true;
      }
    }
  })();
  await Promise.all([mailLoop(), portalLoop()]);
  const loadSeconds = (performance.now() - started) / 1000;

  // the last acks: until every accepted new ticket has one, or none came for 15 s (at most 2 min)
  const drainStart = performance.now();
  let lastCount = sinkMails;
  for (let idle = 0; pending.size > 0 && idle < 150 && performance.now() - drainStart < 120_000; ) {
    await sleep(100);
    if (sinkMails === lastCount) idle++;
    else [idle, lastCount] = [0, sinkMails];
  }
  const drainSeconds = round((performance.now() - drainStart) / 1000);
  sampling = false;
  await sampler;
  const after = await takeSample();

  const { rows: outcomes } = await admin.query<{ status: string; outcome: string | null; n: number }>(
    `SELECT status, outcome, count(*)::int AS n FROM raw_messages GROUP BY 1, 2 ORDER BY 3 DESC`,
  );
  const { rows: outbound } = await admin.query<{ kind: string; status: string; n: number }>(
    `SELECT kind, status, count(*)::int AS n FROM outbound_messages GROUP BY 1, 2 ORDER BY 1, 2`,
  );
  const { rows: counts } = await admin.query<{ tickets: number; messages: number }>(
    `SELECT (SELECT count(*)::int FROM tickets) AS tickets, (SELECT count(*)::int FROM messages) AS messages`,
  );

  // ---- flatness: a line through the second half of each series ----
  // the drain after the load is drawn, not fitted
  const half = (MINUTES * 60) / 2;
  const fitted = samples.filter((s) => s.t >= half && s.t <= loadSeconds + 1);
  const judged: Judgement[] = [];
  const judge = (series: string, kind: Kind, unit: string, pick: (s: Sample) => number) =>
    judged.push(
      flatness(
        series,
        kind,
        unit,
        fitted.map((s) => [s.t / 60, pick(s)] as const),
      ),
    );
  for (const role of ROLES) {
    judge(`${role} RSS`, 'memory', 'MB', (s) => s.processes[role].rss_mb);
    judge(`${role} heap used`, 'memory', 'MB', (s) => s.processes[role].heap_used_mb);
  }
  for (const role of ROLES)
    judge(`${role} event-loop delay p99`, 'event_loop', 'ms', (s) => s.processes[role].event_loop_p99_ms);
  judge('inbound.process jobs waiting', 'queue', 'jobs', (s) => s.queues.inbound_waiting);
  judge('outbound.send jobs waiting', 'queue', 'jobs', (s) => s.queues.outbound_waiting);
  judge('stored mail not yet processed', 'queue', 'mails', (s) => s.queues.raw_backlog);
  judge('outbound rows queued', 'queue', 'rows', (s) => s.queues.outbound_rows_queued);
  judge('mail end to end p99', 'latency', 'ms', (s) => s.mail.ack_p99_ms);
  judge('portal list p99', 'latency', 'ms', (s) => s.portal.p99_ms);

  const first = samples[0]!;
  const last = samples.at(-1)!;
  const result = {
    minutes: MINUTES,
    load_seconds: round(loadSeconds),
    rate_per_sec: RATE,
    portal_rate_per_sec: PORTAL_RATE,
    reply_share: REPLY_SHARE,
    customers: CUSTOMERS,
    smtp_connections: CONNECTIONS,
    sample_seconds: SAMPLE_SECONDS,
    processes: 'three `inbound start --roles <role>` child processes (smtp, worker, web), NODE_ENV=production',
    machine: {
      cpus: os.cpus().length,
      cpu_model: os.cpus()[0]?.model,
      memory_gb: round(os.totalmem() / 2 ** 30),
      kernel: os.release(),
      load_average_at_end: os.loadavg().map(round),
      note: 'cores shared with PostgreSQL, this load generator and whatever else runs on the machine',
    },
    mail: {
      sent: totals.sent,
      accepted: totals.accepted,
      failed: totals.failed,
      new_tickets: totals.newTickets,
      replies: totals.replies,
      acks: ackAll.length,
      without_ack: pending.size,
      ack_ms: { p50: pct(ackAll, 0.5), p99: pct(ackAll, 0.99), max: pct(ackAll, 1) },
      smtp_250_ms: { p50: pct(smtpAll, 0.5), p99: pct(smtpAll, 0.99) },
      drain_seconds: drainSeconds,
    },
    portal: {
      requests: portalTotals.requests,
      non_200: portalTotals.non200,
      errors: portalTotals.errors,
      skipped: portalTotals.skipped,
      latency_ms: { p50: pct(portalAll, 0.5), p99: pct(portalAll, 0.99), max: pct(portalAll, 1) },
    },
    database: {
      ...counts[0],
      raw_messages: outcomes,
      outbound_messages: outbound,
      size_mb: { first: first.database_mb, last: last.database_mb },
    },
    memory_mb: Object.fromEntries(
      ROLES.map((r) => [
        r,
        {
          rss_first: first.processes[r].rss_mb,
          rss_last: last.processes[r].rss_mb,
          rss_peak: Math.max(...samples.map((s) => s.processes[r].rss_mb)),
          heap_used_first: first.processes[r].heap_used_mb,
          heap_used_last: last.processes[r].heap_used_mb,
        },
      ]),
    ),
    after_drain: { queues: after.queues, log: after.log },
    process_exits: Object.fromEntries(procs.map((p) => [p.role, p.exit ?? null])),
    flatness: {
      window: `the second half of the load (${half} s <= t <= ${round(loadSeconds)} s, ${fitted.length} samples); growth = fitted slope x 10 min`,
      limits_per_10_min: {
        memory: '10% of the mean',
        queue: `${RATE * 10} (ten seconds of mail)`,
        event_loop: '25% of the mean, at least 5 ms',
        latency: '25% of the mean, at least 25 ms',
      },
      series: judged,
      all_pass: judged.every((j) => j.pass),
    },
    samples,
  };

  console.log(
    `\n${totals.sent} mails in ${round(loadSeconds)} s (${totals.newTickets} new tickets, ${totals.replies} replies, ${totals.failed} refused or failed); ` +
      `${ackAll.length} acks, ${pending.size} without one after ${drainSeconds} s of drain`,
  );
  console.log(
    `mail, end of DATA -> ack at the sink: p50 ${result.mail.ack_ms.p50} ms, p99 ${result.mail.ack_ms.p99} ms, max ${result.mail.ack_ms.max} ms; end of DATA -> 250: p99 ${result.mail.smtp_250_ms.p99} ms`,
  );
  console.log(
    `portal list: ${portalTotals.requests} requests, p50 ${result.portal.latency_ms.p50} ms, p99 ${result.portal.latency_ms.p99} ms, max ${result.portal.latency_ms.max} ms; non-200 ${portalTotals.non200}, errors ${portalTotals.errors}, skipped ${portalTotals.skipped}`,
  );
  console.log(`raw messages: ${outcomes.map((r) => `${r.status}/${r.outcome}: ${r.n}`).join(', ')}`);
  console.log(`log lines: ${procs.map((p) => `${p.role} ${p.warnings} warn, ${p.errors} error`).join('; ')}`);
  console.log(`\nflatness over ${result.flatness.window}:`);
  for (const j of judged) console.log(judgementLine(j));
  console.log(result.flatness.all_pass ? 'all series flat' : 'NOT all series flat');

  const file = await writeResult(NAME, result);
  const pngs = await drawCharts(path.dirname(file), samples, half, loadSeconds);
  console.log(`written to ${file} and ${pngs.join(', ')}`);
} finally {
  await Promise.all(procs.map((p) => p.stop()));
  if (sink) await new Promise<void>((resolve) => sink!.close(() => resolve()));
  await db.destroy();
  await admin.end();
  await database.drop();
}

// ---- the processes ----

interface Proc {
  role: Role;
  child: ChildProcess;
  logFile: string;
  warnings: number;
  errors: number;
  exit?: number | null;
  stop(): Promise<void>;
}

/**
 * `inbound start --roles <role>`, ready when it writes its line for people; its JSON log goes to a
 * file. It joins `procs` at once, so a start that fails elsewhere still stops it.
 */
async function startRole(role: Role, env: NodeJS.ProcessEnv, procs: Proc[]): Promise<Proc> {
  const logFile = path.join(os.tmpdir(), `inbound-soak-${role}-${process.pid}.log`);
  const child = spawn(
    process.execPath,
    [path.resolve(import.meta.dirname, '../bin/inbound.js'), 'start', '--roles', role],
    { env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const out = createWriteStream(logFile);
  const proc: Proc = {
    role,
    child,
    logFile,
    warnings: 0,
    errors: 0,
    async stop() {
      if (proc.exit !== undefined) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
      await exited;
      clearTimeout(timer);
      out.end();
    },
  };
  procs.push(proc);
  child.once('exit', (code) => {
    proc.exit = code;
  });
  createInterface({ input: child.stdout! }).on('line', (line) => {
    out.write(`${line}\n`);
    const level = Number(/"level":(\d+)/.exec(line)?.[1]);
    if (level === 40) proc.warnings++;
    else if (level >= 50) proc.errors++;
  });
  await new Promise<void>((resolve, reject) => {
    child.stderr!.on('data', (d: Buffer) => {
      process.stderr.write(`[${role}] ${d}`);
      if (d.toString().includes('Inbound is running')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`inbound start --roles ${role} exited (${code})`)));
  });
  return proc;
}

/** One process's /metrics, read as Prometheus text: a value by name and labels (NaN when absent). */
async function scrape(url: string): Promise<{ get(name: string, labels?: Record<string, string>): number }> {
  const text = await (await fetch(url, { signal: AbortSignal.timeout(10_000) })).text();
  const rows: { name: string; labels: Record<string, string>; value: number }[] = [];
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    rows.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return {
    get: (name, want = {}) =>
      rows.find((r) => r.name === name && Object.entries(want).every(([k, v]) => r.labels[k] === v))?.value ??
      Number.NaN,
  };
}

/** Busy and all clock ticks of the machine's cores together, from /proc/stat (zeros elsewhere). */
async function machineTicks(): Promise<{ busy: number; total: number }> {
  const line = (await readFile('/proc/stat', 'utf8').catch(() => '')).split('\n')[0] ?? '';
  // user nice system idle iowait irq softirq steal
  const f = line.trim().split(/\s+/).slice(1, 9).map(Number);
  const total = f.reduce((a, b) => a + b, 0);
  return { busy: total - (f[3] ?? 0) - (f[4] ?? 0), total };
}

/**
 * CPU time so far (clock ticks, 100 a second) of each PostgreSQL backend connected to the bench's
 * database, read from /proc: the database's share of the machine, apart from other databases'.
 */
async function postgresTicks(admin: pg.Client): Promise<Map<number, number>> {
  const { rows } = await admin.query<{ pid: number }>(
    'SELECT pid FROM pg_stat_activity WHERE datname = current_database()',
  );
  const out = new Map<number, number>();
  for (const { pid } of rows) {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
    if (!stat.includes('(postgres)')) continue;
    // utime and stime: the 12th and 13th fields after the command's closing parenthesis
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (fields.length > 13) out.set(pid, Number(fields[11]) + Number(fields[12]));
  }
  return out;
}

// ---- the mail ----

interface Connection {
  /** the mails given to this connection, one after another */
  chain: Promise<void>;
  /** The reply to the end of DATA (code 0: the connection failed) and the time to it. */
  send(from: string, rcpt: string, body: Buffer, onData: (t0: number) => void): Promise<{ code: number; ms: number }>;
}

/** A sending MTA: one connection at a time, each carrying MAILS_PER_CONNECTION mails. */
function smtpConnection(port: number): Connection {
  let client: SmtpClient | undefined;
  let used = 0;
  const drop = () => {
    client?.close();
    client = undefined;
  };
  return {
    chain: Promise.resolve(),
    async send(from, rcpt, body, onData) {
      if (client && used >= MAILS_PER_CONNECTION) {
        await client.command('QUIT');
        drop();
      }
      if (!client) {
        client = (await SmtpClient.connect(port)).client;
        await client.command('EHLO soak.example');
        used = 0;
      }
      used++;
      const c = client;
      for (const line of [`MAIL FROM:<${from}>`, `RCPT TO:<${rcpt}>`, 'DATA']) {
        const r = await c.command(line);
        if (r.code === 0 || r.code >= 400) {
          drop();
          return { code: r.code, ms: 0 };
        }
      }
      const t0 = performance.now();
      onData(t0);
      const r = await c.data(body);
      if (r.code === 0) drop();
      return { code: r.code, ms: performance.now() - t0 };
    },
  };
}

interface Mail {
  from: string;
  rcpt: string;
  messageId: string;
  body: Buffer;
}

function newTicketMail(i: number, customer: number): Mail {
  const from = `customer${customer}@soak.test`;
  const messageId = `<soak-${i}-${Date.now()}@soak.test>`;
  const body = Buffer.from(
    `From: Customer ${customer} <${from}>\r\nTo: support@localhost\r\nSubject: Question ${i}\r\nDate: ${new Date().toUTCString()}\r\n` +
      `Message-ID: ${messageId}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n${TEXT}`,
  );
  return { from, rcpt: 'support@localhost', messageId, body };
}

/** The customer answers the ack of their last ticket, to its reply address, quoting it. */
function replyMail(
  i: number,
  customer: number,
  ack: { ackId: string; replyTo: string; origId: string; subject: string },
): Mail {
  const from = `customer${customer}@soak.test`;
  const messageId = `<soak-reply-${i}-${Date.now()}@soak.test>`;
  const body = Buffer.from(
    `From: Customer ${customer} <${from}>\r\nTo: ${ack.replyTo}\r\nSubject: Re: ${ack.subject}\r\nDate: ${new Date().toUTCString()}\r\n` +
      `Message-ID: ${messageId}\r\nIn-Reply-To: ${ack.ackId}\r\nReferences: ${ack.origId} ${ack.ackId}\r\n` +
      `Content-Type: text/plain; charset=utf-8\r\n\r\nThanks, one more detail: the order number is ${1000 + i}.\r\n\r\n` +
      `On ${new Date().toUTCString()}, Support wrote:\r\n> We have received your request.\r\n> ${TEXT.slice(0, 200)}\r\n`,
  );
  return { from, rcpt: ack.replyTo, messageId, body };
}

/** A small seeded generator: the same customers and mix of mail at every run. */
function mulberry32(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// ---- flatness ----

interface Judgement {
  series: string;
  kind: Kind;
  unit: string;
  samples: number;
  mean: number;
  slope_per_min: number;
  /** half the 95% interval of the slope (about two standard errors): the noise in the fit */
  slope_ci95_per_min: number;
  slope_pct_of_mean_per_min: number;
  growth_per_10_min: number;
  limit_per_10_min: number;
  pass: boolean;
}

/** Least squares through (minutes, value); growth over ten minutes against the kind's limit. */
function flatness(series: string, kind: Kind, unit: string, points: readonly (readonly [number, number])[]): Judgement {
  const p = points.filter(([, y]) => Number.isFinite(y));
  const n = p.length;
  const mx = p.reduce((a, [x]) => a + x, 0) / n;
  const my = p.reduce((a, [, y]) => a + y, 0) / n;
  let sxx = 0;
  let sxy = 0;
  for (const [x, y] of p) {
    sxx += (x - mx) ** 2;
    sxy += (x - mx) * (y - my);
  }
  const slope = sxx ? sxy / sxx : 0;
  let sse = 0;
  for (const [x, y] of p) sse += (y - (my + slope * (x - mx))) ** 2;
  const se = n > 2 && sxx ? Math.sqrt(sse / (n - 2) / sxx) : Number.NaN;
  const growth = slope * 10;
  const limit = LIMITS[kind](my);
  return {
    series,
    kind,
    unit,
    samples: n,
    mean: round(my),
    slope_per_min: round(slope),
    slope_ci95_per_min: round(2 * se),
    slope_pct_of_mean_per_min: my ? round((slope / my) * 100) : 0,
    growth_per_10_min: round(growth),
    limit_per_10_min: round(limit),
    pass: n >= 3 && growth < limit,
  };
}

function judgementLine(j: Judgement): string {
  const rel = j.mean ? ` (${j.slope_pct_of_mean_per_min}%/min of the mean)` : '';
  return (
    `  ${j.pass ? 'PASS' : 'FAIL'}  ${j.series.padEnd(32)} mean ${String(j.mean).padStart(8)} ${j.unit.padEnd(5)} ` +
    `slope ${j.slope_per_min} ±${j.slope_ci95_per_min} ${j.unit}/min${rel}; ` +
    `growth/10 min ${j.growth_per_10_min} < ${j.limit_per_10_min}`
  );
}

function progressLine(s: Sample): string {
  const p = s.processes;
  return (
    `t=${Math.round(s.t)}s RSS smtp/worker/web ${p.smtp.rss_mb}/${p.worker.rss_mb}/${p.web.rss_mb} MB, ` +
    `heap ${p.smtp.heap_used_mb}/${p.worker.heap_used_mb}/${p.web.heap_used_mb} MB, ` +
    `loop p99 ${p.smtp.event_loop_p99_ms}/${p.worker.event_loop_p99_ms}/${p.web.event_loop_p99_ms} ms; ` +
    `backlog ${s.queues.raw_backlog}, inbound waiting ${s.queues.inbound_waiting}, outbound queued ${s.queues.outbound_rows_queued}; ` +
    `ack p99 ${s.mail.ack_p99_ms} ms, portal p99 ${s.portal.p99_ms} ms; ` +
    `machine CPU ${s.machine.cpu_all} cores (others ${s.machine.cpu_others}), load ${s.machine.load_1m}`
  );
}

// ---- the charts ----

async function drawCharts(dir: string, samples: Sample[], half: number, loadSeconds: number): Promise<string[]> {
  const x = (s: Sample) => round(s.t / 60);
  const line = (name: string, pick: (s: Sample) => number, extra: Partial<Series> = {}): Series => ({
    name,
    points: samples.map((s) => [x(s), pick(s)] as const),
    ...extra,
  });
  const colors: Record<Role, string> = { smtp: '#0072B2', worker: '#D55E00', web: '#009E73' };
  const markers = [
    { x: round(half / 60), label: 'fit window (second half) ->' },
    { x: round(loadSeconds / 60), label: 'load ends' },
  ];
  const xLabel = 'minutes since the load started';
  const charts = {
    memory: {
      title: 'Memory per process (RSS solid, V8 heap used dashed)',
      yLabel: 'MB',
      series: ROLES.flatMap((r) => [
        line(`${r} RSS`, (s) => s.processes[r].rss_mb, { color: colors[r] }),
        line(`${r} heap used`, (s) => s.processes[r].heap_used_mb, { color: colors[r], dashed: true }),
      ]),
    },
    'event-loop': {
      title: `Event-loop delay p99 per ${SAMPLE_SECONDS} s window`,
      yLabel: 'ms',
      series: [
        ...ROLES.map((r) => line(r, (s) => s.processes[r].event_loop_p99_ms, { color: colors[r] })),
        line('load generator (this bench)', (s) => s.bench.event_loop_p99_ms, { color: '#888888', dashed: true }),
      ],
    },
    queues: {
      title: 'Queue depths',
      yLabel: 'jobs, mails or rows',
      series: [
        line('inbound.process jobs waiting', (s) => s.queues.inbound_waiting),
        line('inbound.process jobs active', (s) => s.queues.inbound_active, { dashed: true }),
        line('stored mail not yet processed', (s) => s.queues.raw_backlog),
        line('outbound.send jobs waiting', (s) => s.queues.outbound_waiting),
        line('outbound rows queued', (s) => s.queues.outbound_rows_queued),
        line('mails the load generator waits on', (s) => s.mail.in_flight, { dashed: true }),
      ],
    },
    cpu: {
      title: `CPU use per ${SAMPLE_SECONDS} s window (${os.cpus().length} cores)`,
      yLabel: 'cores busy (1 = one core all the time)',
      series: [
        ...ROLES.map((r) => line(r, (s) => s.processes[r].cpu, { color: colors[r] })),
        line('PostgreSQL (this database)', (s) => s.machine.cpu_postgres, { color: '#CC79A7' }),
        line('load generator (this bench)', (s) => s.bench.cpu, { color: '#888888', dashed: true }),
        line('everything else on the machine', (s) => s.machine.cpu_others, { color: '#000000', dashed: true }),
        line('whole machine', (s) => s.machine.cpu_all, { color: '#000000' }),
      ],
    },
    latency: {
      title: `Latency per ${SAMPLE_SECONDS} s window (p99 solid, p50 dashed)`,
      yLabel: 'ms',
      series: [
        line('mail: end of DATA -> ack at sink p99', (s) => s.mail.ack_p99_ms, { color: '#D55E00' }),
        line('mail: end of DATA -> ack p50', (s) => s.mail.ack_p50_ms, { color: '#D55E00', dashed: true }),
        line('portal ticket list p99', (s) => s.portal.p99_ms, { color: '#009E73' }),
        line('portal ticket list p50', (s) => s.portal.p50_ms, { color: '#009E73', dashed: true }),
        line('mail: end of DATA -> 250 p99', (s) => s.mail.smtp_250_p99_ms, { color: '#0072B2' }),
      ],
    },
  };
  const files: string[] = [];
  for (const [name, c] of Object.entries(charts)) {
    const file = path.join(dir, `${NAME}-${name}.png`);
    await writeChartPng(file, { ...c, xLabel, markers });
    files.push(file);
  }
  return files;
}
