// The portal's busiest page under load: the signed-in ticket list (/portal/tickets, first page) of
// 50 customers at once, each on their own keep-alive connection with their own session, against
// the real web role (buildWeb + listenWeb, in a process of its own as deployed) over a database of
// 100,000 tickets (5,000 customers in 200 companies, followers, a third of the customers seeing
// their company's tickets). autocannon drives the load for a fixed time; the same load on /healthz
// in the same run is the reference (what the machine, Node and Fastify cost with no page and no
// query). Target: list p99 under 50 ms. Then the list query alone, in this process, for the same
// customers: how much of a page is the database.
//
//   npm run bench -- portal [--seconds 20] [--connections 50] [--tickets 100000] [--explain] [--profile]
//
// Closed loop: each client sends its next request when the last is answered, so the latency is
// what 50 busy clients wait at the throughput the machine gives (autocannon's own rate limit sends
// in bursts, which measures its bursts rather than the server). --explain prints the plans of the
// page's two statements. The server process reports its CPU time and event-loop delay per phase.
import { fork } from 'node:child_process';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { createRequire } from 'node:module';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';

if (process.argv[2] === '--serve') await serve(process.argv[3]!);
else await bench();

/** The web role, as `inbound start --roles web` builds it, on a free port it tells the parent. */
async function serve(url: string): Promise<void> {
  const { loadConfig } = await import('../src/config.ts');
  const { createDb } = await import('../src/db/index.ts');
  const { startBoss } = await import('../src/queue/index.ts');
  const { buildWeb, listenWeb } = await import('../src/web/index.ts');
  const { log } = await import('./_support.ts');
  const db = createDb(url, { poolMax: loadConfig().dbPoolMax, applicationName: 'inbound-web', log });
  const boss = await startBoss({ url, worker: false, log });
  const app = buildWeb({ db, boss, log, publicUrl: 'http://help.bench.test' });
  const { port } = await listenWeb(app, '127.0.0.1', 0);
  // what the server itself went through in a phase: its CPU time and how late its event loop ran
  let delay = monitorEventLoopDelay({ resolution: 1 });
  let cpu = process.cpuUsage();
  let since = performance.now();
  process.on('message', (m: { phase: 'start' | 'end' }) => {
    if (m.phase === 'start') {
      delay.disable();
      delay = monitorEventLoopDelay({ resolution: 1 });
      delay.enable();
      cpu = process.cpuUsage();
      since = performance.now();
      process.send!({ started: true });
    } else {
      delay.disable();
      const used = process.cpuUsage(cpu);
      process.send!({
        cpu_share_of_one_core: Math.round(((used.user + used.system) / 1000 / (performance.now() - since)) * 100) / 100,
        // of which in the kernel (socket writes and reads)
        system_share: Math.round((used.system / (used.user + used.system)) * 100) / 100,
        event_loop_delay_ms: {
          p50: Math.round(delay.percentile(50) / 1e4) / 100,
          p99: Math.round(delay.percentile(99) / 1e4) / 100,
          max: Math.round(delay.max / 1e4) / 100,
        },
      });
    }
  });
  process.send!({ port });
  process.on('disconnect', async () => {
    await app.close();
    await boss.stop({ graceful: false });
    await db.destroy();
    process.exit(0);
  });
}

interface Latency {
  p50: number;
  p90: number;
  p99: number;
  max: number;
  average: number;
}
interface CannonResult {
  latency: Latency;
  requests: { total: number; average: number };
  non2xx: number;
  errors: number;
  timeouts: number;
  duration: number;
}
interface ServerStats {
  cpu_share_of_one_core: number;
  system_share: number;
  event_loop_delay_ms: { p50: number; p99: number; max: number };
}
interface CannonClient {
  setHeaders(headers: Record<string, string>): void;
}
type Autocannon = (opts: {
  url: string;
  connections: number;
  duration: number;
  pipelining?: number;
  setupClient?: (client: CannonClient) => void;
}) => Promise<CannonResult>;

async function bench(): Promise<void> {
  const { values } = parseArgs({
    args: process.argv.slice(3),
    options: {
      seconds: { type: 'string', default: '20' },
      connections: { type: 'string', default: '50' },
      tickets: { type: 'string', default: '100000' },
      explain: { type: 'boolean', default: false },
      profile: { type: 'boolean', default: false },
    },
  });
  const SECONDS = Number(values.seconds);
  const CONNECTIONS = Number(values.connections);
  const TICKETS = Number(values.tickets);
  const CUSTOMERS = 5000;
  const COMPANIES = 200;

  // autocannon ships no types; what is used of it is typed above
  const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;
  const { benchDatabase, round, writeResult } = await import('./_support.ts');
  const { createDb } = await import('../src/db/index.ts');
  const { createSession, sessionStatement, updatePortalSettings } = await import('../src/portal/index.ts');
  const { customerTickets } = await import('../src/tickets/index.ts');

  const database = await benchDatabase();
  const admin = new pg.Client({ connectionString: database.url });
  await admin.connect();
  const db = createDb(database.url, { poolMax: 4, applicationName: 'inbound-bench' });
  let child: ReturnType<typeof fork> | undefined;
  try {
    const seeded = performance.now();
    await seed(admin, { tickets: TICKETS, customers: CUSTOMERS, companies: COMPANIES });
    console.log(
      `seeded ${TICKETS} tickets, ${CUSTOMERS} customers, ${COMPANIES} companies in ${round((performance.now() - seeded) / 1000)} s`,
    );
    await updatePortalSettings(db, { enabled: true });

    // 50 customers, each with tickets of their own, in a company; every third sees the company's
    const { rows: chosen } = await admin.query<{ id: string; company_id: string; sees_company: boolean }>(
      `SELECT c.id, c.company_id, coalesce((c.portal_permissions->>'view_company_tickets')::boolean, false) AS sees_company
         FROM customers c
        WHERE c.company_id IS NOT NULL AND EXISTS (SELECT 1 FROM tickets t WHERE t.requester_id = c.id)
        ORDER BY c.id LIMIT $1`,
      [CONNECTIONS],
    );
    const cookies: string[] = [];
    for (const c of chosen) cookies.push(`inbound_portal=${(await createSession(db, Number(c.id))).secret}`);
    const withCompany = chosen.filter((c) => c.sees_company).length;

    // as deployed: NODE_ENV=production (templates compiled once, not read at every page)
    child = fork(fileURLToPath(import.meta.url), ['--serve', database.url], {
      stdio: 'inherit',
      env: { ...process.env, NODE_ENV: 'production' },
      // --profile: the server's CPU profile of the whole run, for chrome://inspect or speedscope
      ...(values.profile && { execArgv: [...process.execArgv, '--cpu-prof', '--cpu-prof-dir=bench/results/profile'] }),
    });
    const port = await new Promise<number>((resolve, reject) => {
      child!.once('message', (m) => resolve((m as { port: number }).port));
      child!.once('exit', (code) => reject(new Error(`the web role exited (${code})`)));
    });
    const base = `http://127.0.0.1:${port}`;

    // every session works and its list has tickets in it
    const sizes: number[] = [];
    const bytes: number[] = [];
    for (const cookie of cookies) {
      const r = await fetch(`${base}/portal/tickets`, { headers: { cookie }, redirect: 'manual' });
      const html = await r.text();
      if (r.status !== 200) throw new Error(`/portal/tickets answered ${r.status} for ${cookie.slice(0, 24)}…`);
      sizes.push((html.match(/data-ticket="/g) ?? []).length);
      bytes.push(Buffer.byteLength(html));
    }
    console.log(
      `${cookies.length} sessions (${withCompany} see their company's tickets); rows on their first page: ${Math.min(...sizes)}-${Math.max(...sizes)}, ${Math.round(Math.max(...bytes) / 1024)} KB at most`,
    );

    const ask = <T>(phase: 'start' | 'end') =>
      new Promise<T>((resolve) => {
        child!.once('message', (m) => resolve(m as T));
        child!.send({ phase });
      });
    const load = (path: string, seconds: number) => {
      let next = 0;
      return autocannon({
        url: base + path,
        connections: CONNECTIONS,
        duration: seconds,
        // one customer per connection, as 50 people at their browsers
        setupClient: (client) => client.setHeaders({ cookie: cookies[next++ % cookies.length]! }),
      });
    };
    const summary = (r: CannonResult) => ({
      requests: r.requests.total,
      per_sec: round(r.requests.average),
      // autocannon counts whole milliseconds: a reference under 1 ms reads 0
      latency_ms: {
        mean: round(r.latency.average),
        p50: r.latency.p50,
        p90: r.latency.p90,
        p99: r.latency.p99,
        max: r.latency.max,
      },
      non_2xx: r.non2xx,
      errors: r.errors,
      timeouts: r.timeouts,
    });

    const loadBefore = os.loadavg().map((x) => round(x));
    // warm: each of the server's connections plans its statements, the JIT settles
    await load('/portal/tickets', 3);
    const measured = async (path: string) => {
      await ask('start');
      const r = summary(await load(path, SECONDS));
      return { ...r, server: await ask<ServerStats>('end') };
    };
    const health = await measured('/healthz');
    const list = await measured('/portal/tickets');
    if (list.non_2xx || list.errors) throw new Error(`the list failed under load: ${JSON.stringify(list)}`);

    // the list query alone, one at a time, for the same customers: the database's share of a page
    // (the bench's companies set no defaults: the customer's own permission is the one in force)
    const viewers = chosen.map((c) => ({
      customerId: Number(c.id),
      companyId: Number(c.company_id),
      companyTickets: c.sees_company,
    }));
    const queryMs: number[] = [];
    for (let round = 0; round < 20; round++)
      for (const v of viewers) {
        const t0 = performance.now();
        await customerTickets(db, v, {});
        queryMs.push(performance.now() - t0);
      }
    queryMs.sort((a, b) => a - b);
    if (values.explain)
      await explain(db, admin, viewers, customerTickets, sessionStatement(cookies[0]!.slice('inbound_portal='.length)));
    const pct = (p: number) => round(queryMs[Math.min(queryMs.length - 1, Math.floor(queryMs.length * p))]!);

    const result = {
      tickets: TICKETS,
      customers: CUSTOMERS,
      companies: COMPANIES,
      sessions: cookies.length,
      sessions_seeing_company: withCompany,
      connections: CONNECTIONS,
      // the server's PostgreSQL pool: DB_POOL_MAX, as `inbound start` reads it
      db_pool_max: (await import('../src/config.ts')).loadConfig().dbPoolMax,
      seconds: SECONDS,
      list,
      reference_healthz: health,
      ratio_list_to_healthz: {
        mean: round(list.latency_ms.mean / health.latency_ms.mean),
        p99: round(list.latency_ms.p99 / Math.max(health.latency_ms.p99, 1)),
        throughput: round(list.per_sec / health.per_sec),
      },
      list_query_alone_ms: { p50: pct(0.5), p99: pct(0.99), runs: queryMs.length },
      // the server, PostgreSQL and the load generator share this machine's cores
      machine_load_average_before: loadBefore,
      target: { list_p99_ms: 50, met: list.latency_ms.p99 < 50 },
    };
    const line = (name: string, r: typeof list) =>
      `${name}: ${r.requests} requests, ${r.per_sec}/s, mean ${r.latency_ms.mean} ms, p50 ${r.latency_ms.p50} ms, p90 ${r.latency_ms.p90} ms, p99 ${r.latency_ms.p99} ms, max ${r.latency_ms.max} ms; server CPU ${r.server.cpu_share_of_one_core} of a core (${Math.round(r.server.system_share * 100)}% kernel), event-loop delay p99 ${r.server.event_loop_delay_ms.p99} ms, max ${r.server.event_loop_delay_ms.max} ms`;
    console.log(line('/portal/tickets', list));
    console.log(line('/healthz (reference)', health));
    console.log(
      `ratio list/healthz: mean ${result.ratio_list_to_healthz.mean}x, p99 ${result.ratio_list_to_healthz.p99}x, throughput ${result.ratio_list_to_healthz.throughput}x`,
    );
    console.log(`list query alone (in this process, one at a time): p50 ${pct(0.5)} ms, p99 ${pct(0.99)} ms`);
    console.log(`target p99 < 50 ms: ${result.target.met ? 'met' : 'MISSED'}`);
    console.log(`written to ${await writeResult('portal', result)}`);
  } finally {
    child?.disconnect();
    if (child) await new Promise((r) => child!.once('exit', r));
    await db.destroy();
    await admin.end();
    await database.drop();
  }
}

/**
 * The database: one inbox, ten agents, companies, customers (all with an active portal account,
 * a primary address, nine in ten in a company, every third allowed the company's tickets), tickets
 * spread over the customers and the past year, a fifth of them followed by another customer.
 * generate_series in a few statements; the same data every run (setseed).
 */
async function seed(admin: pg.Client, n: { tickets: number; customers: number; companies: number }): Promise<void> {
  await admin.query('BEGIN');
  await admin.query('SELECT setseed(0.42)');
  const { rows } = await admin.query<{ id: string }>(
    `INSERT INTO inboxes (address, name, next_ticket_number) VALUES ('support@bench.test', 'Bench Support', $1 + 1) RETURNING id`,
    [n.tickets],
  );
  const inbox = rows[0]!.id;
  await admin.query(
    `INSERT INTO agents (name, email, role) SELECT 'Agent ' || g, 'agent' || g || '@bench.test', 'agent' FROM generate_series(1, 10) g`,
  );
  await admin.query(`INSERT INTO companies (name) SELECT 'Company ' || g FROM generate_series(1, $1) g`, [n.companies]);
  await admin.query(
    `INSERT INTO customers (name, company_id, company_source, portal_status, portal_permissions)
     SELECT 'Customer ' || g,
            CASE WHEN g % 10 = 0 THEN NULL ELSE (SELECT min(id) FROM companies) + g % $2 END,
            CASE WHEN g % 10 = 0 THEN NULL ELSE 'manual' END,
            'active',
            CASE WHEN g % 3 = 0 THEN '{"view_company_tickets": true}'::jsonb ELSE '{}'::jsonb END
       FROM generate_series(1, $1) g`,
    [n.customers, n.companies],
  );
  await admin.query(
    `INSERT INTO customer_emails (customer_id, address, is_primary)
     SELECT id, 'customer' || id || '@bench.test', true FROM customers`,
  );
  // each ticket's requester is a random customer; its company is the requester's
  await admin.query(
    `WITH c AS (SELECT id, company_id, row_number() OVER (ORDER BY id) - 1 AS k FROM customers),
          g AS (SELECT g, floor(random() * $2)::int AS k, now() - random() * interval '365 days' AS at,
                       (ARRAY['open', 'pending', 'resolved', 'closed'])[1 + floor(random() * 4)::int] AS status
                  FROM generate_series(1, $1) g)
     INSERT INTO tickets (inbox_id, number, requester_id, company_id, subject, status, priority, assignee_id,
                          reply_token, created_at, updated_at, last_message_at, closed_at)
     SELECT $3, g.g, c.id, c.company_id, 'Question number ' || g.g || ' about the order', g.status,
            (ARRAY['low', 'normal', 'normal', 'high'])[1 + g.g % 4],
            CASE WHEN g.g % 3 = 0 THEN NULL ELSE (SELECT min(id) FROM agents) + g.g % 10 END,
            md5('bench' || g.g), g.at - interval '1 hour', g.at, g.at,
            CASE WHEN g.status IN ('resolved', 'closed') THEN g.at END
       FROM g JOIN c ON c.k = g.k`,
    [n.tickets, n.customers, inbox],
  );
  await admin.query(
    `INSERT INTO ticket_followers (ticket_id, customer_id)
     SELECT t.id, (SELECT min(id) FROM customers) + floor(random() * $1)::int
       FROM tickets t WHERE random() < 0.2
     ON CONFLICT DO NOTHING`,
    [n.customers],
  );
  await admin.query('COMMIT');
  await admin.query('ANALYZE');
}

/**
 * --explain: EXPLAIN (ANALYZE, BUFFERS) of the two statements of a list page, the session lookup
 * and the list (captured as node-postgres sends it), for a customer without and one with their
 * company's tickets.
 */
async function explain(
  db: import('knex').Knex,
  admin: pg.Client,
  viewers: { customerId: number; companyId: number; companyTickets: boolean }[],
  list: (db: import('knex').Knex, v: (typeof viewers)[number], f: object) => Promise<unknown>,
  session: { sql: string; bindings: readonly import('knex').Knex.Value[] },
): Promise<void> {
  const sent: { text: string; values: unknown[] }[] = [];
  const query = pg.Client.prototype.query;
  // biome-ignore lint/suspicious/noExplicitAny: a diagnostic wrapper around every overload
  (pg.Client.prototype as any).query = function (this: pg.Client, config: any, ...rest: unknown[]) {
    if (config && typeof config === 'object' && config.name) sent.push({ text: config.text, values: config.values });
    // biome-ignore lint/suspicious/noExplicitAny: as above
    return (query as any).call(this, config, ...rest);
  };
  try {
    for (const v of [viewers.find((x) => !x.companyTickets)!, viewers.find((x) => x.companyTickets)!]) {
      sent.length = 0;
      await list(db, v, {});
      const statement = sent.at(-1)!;
      const { rows } = await admin.query(`EXPLAIN (ANALYZE, BUFFERS) ${statement.text}`, statement.values);
      console.log(`\nthe list, customer ${v.customerId} (company tickets: ${v.companyTickets}):`);
      console.log(rows.map((r) => r['QUERY PLAN']).join('\n'));
      // as a prepared statement on one connection: does PostgreSQL settle on a generic plan, or
      // plan again at every execution (a custom plan each time)?
      await admin.query(`PREPARE bench_list AS ${statement.text}`);
      const args = statement.values.map((x) => admin.escapeLiteral(String(x))).join(', ');
      for (let i = 0; i < 12; i++) await admin.query(`EXECUTE bench_list (${args})`);
      const plans = await admin.query(
        `SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE name = 'bench_list'`,
      );
      console.log(`prepared, 12 executions: ${JSON.stringify(plans.rows[0])}`);
      await admin.query('DEALLOCATE bench_list');
    }
    // the session's statement as the portal sends it (portal/sessions.ts sessionStatement)
    const native = db.raw(session.sql, session.bindings).toSQL().toNative();
    const { rows } = await admin.query(`EXPLAIN (ANALYZE, BUFFERS) ${native.sql}`, native.bindings as unknown[]);
    console.log('\nthe session lookup (portal/sessions.ts sessionStatement, sent unprepared):');
    console.log(rows.map((r) => r['QUERY PLAN']).join('\n'));
  } finally {
    pg.Client.prototype.query = query;
  }
}
