// Queue depths and ages, read when scraped, in one statement: pg-boss's jobs (schema pgboss,
// table job) of our queues and their dead-letter queues, and the stored mail not yet processed.
// pg-boss's index on (name, state, blocked, start_after) for the states counted here answers the
// job part without reading the finished jobs; raw_messages_status_idx answers the backlog.
import type { Knex } from 'knex';
import { Gauge } from 'prom-client';
import { QUEUES } from '../queue/index.ts';
import { PREFIX, registry } from './registry.ts';

const registers = [registry];
const MAIN_QUEUES: string[] = Object.values(QUEUES);
/** created: waiting (or deferred); retry: failed, waiting for its next try; failed: out of tries. */
const STATES = ['created', 'retry', 'active', 'failed'] as const;
/** A scrape never waits long for a database in trouble: it reports up = 0 instead. */
const READ_TIMEOUT_MS = 2_000;

const jobs = new Gauge({
  name: `${PREFIX}queue_jobs`,
  help: 'Jobs in each queue (and its .dead letter queue) by state, read at scrape time',
  labelNames: ['queue', 'state'],
  registers,
});
const oldest = new Gauge({
  name: `${PREFIX}queue_oldest_seconds`,
  help: 'How long the oldest job that is due (created or retry, start time reached) has waited to start; 0 when none',
  labelNames: ['queue'],
  registers,
});
const backlog = new Gauge({
  name: `${PREFIX}raw_backlog_messages`,
  help: 'Stored mails not yet processed (raw_messages in status received); NaN when queue_stats_up is 0',
  registers,
});
const backlogOldest = new Gauge({
  name: `${PREFIX}raw_backlog_oldest_seconds`,
  help: 'Age of the oldest stored mail not yet processed; 0 when none, NaN when queue_stats_up is 0',
  registers,
});
const up = new Gauge({
  name: `${PREFIX}queue_stats_up`,
  help: '1 when the queue and backlog gauges were read at this scrape, 0 when the database did not answer',
  registers,
});

interface Row {
  name: string | null;
  dead: boolean | null;
  state: string | null;
  n: number;
  oldest: number | null;
}

const STATEMENT = `
WITH q AS (
  SELECT name, false AS dead FROM pgboss.queue WHERE name = ANY(?::text[])
  UNION ALL
  SELECT dead_letter, true FROM pgboss.queue WHERE name = ANY(?::text[]) AND dead_letter IS NOT NULL
), j AS (
  SELECT name, state::text AS state, count(*)::int AS n,
         min(start_after) FILTER (WHERE state IN ('created', 'retry') AND start_after <= now()) AS due
    FROM pgboss.job
   WHERE name = ANY(ARRAY(SELECT name FROM q)) AND state IN ('created', 'retry', 'active', 'failed')
   GROUP BY name, state
)
SELECT q.name, q.dead, j.state, coalesce(j.n, 0) AS n, extract(epoch FROM now() - j.due)::float8 AS oldest
  FROM q LEFT JOIN j USING (name)
UNION ALL
SELECT NULL, NULL, NULL,
       (SELECT count(*)::int FROM raw_messages WHERE status = 'received'),
       (SELECT extract(epoch FROM now() - received_at)::float8 FROM raw_messages
         WHERE status = 'received' ORDER BY id LIMIT 1)`;

/** Sets the queue and backlog gauges from the database; on failure clears them and sets up to 0. */
export async function refreshQueueGauges(db: Knex): Promise<void> {
  let rows: Row[];
  try {
    rows = await withDeadline(
      db.raw<{ rows: Row[] }>(STATEMENT, [MAIN_QUEUES, MAIN_QUEUES]).timeout(READ_TIMEOUT_MS, { cancel: true }),
    );
  } catch {
    // stale numbers would look like a healthy queue: none at all (NaN where a series has no
    // labels, as prom-client always writes those), and up says why
    jobs.reset();
    oldest.reset();
    backlog.set(Number.NaN);
    backlogOldest.set(Number.NaN);
    up.set(0);
    return;
  }
  const counts = new Map<string, Map<string, number>>();
  const due = new Map<string, number>();
  for (const row of rows) {
    if (row.name === null) {
      backlog.set(row.n);
      backlogOldest.set(Math.max(0, row.oldest ?? 0));
      continue;
    }
    const byState = counts.get(row.name) ?? new Map<string, number>();
    counts.set(row.name, byState);
    if (row.state !== null) byState.set(row.state, row.n);
    // a dead-letter queue is never worked: its jobs wait for a person, not for a lane
    if (!row.dead) due.set(row.name, Math.max(due.get(row.name) ?? 0, row.oldest ?? 0));
  }
  // every state of every queue, 0 included: a series that vanishes when a queue empties cannot alert
  jobs.reset();
  for (const [queue, byState] of counts) {
    for (const state of STATES) jobs.set({ queue, state }, byState.get(state) ?? 0);
  }
  oldest.reset();
  for (const [queue, seconds] of due) oldest.set({ queue }, Math.max(0, seconds));
  up.set(1);
}

/** The rows, or a rejection after READ_TIMEOUT_MS: waiting for a connection counts too, not only the statement. */
function withDeadline(query: Promise<{ rows: Row[] }>): Promise<Row[]> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('queue stats: no answer in time')), READ_TIMEOUT_MS);
  });
  // the query may still fail after the deadline: that rejection is handled here, not left unhandled
  const rows = query.then((r) => r.rows);
  rows.catch(() => {});
  return Promise.race([rows, deadline]).finally(() => clearTimeout(timer));
}
