// pg-boss: the job queue lives in the same PostgreSQL as the data, so a job and the work that
// causes it commit together (`send(..., { db: jobDb(trx) })`).
import { PgBoss, fromKnex, type Job } from 'pg-boss';
import type { Knex } from 'knex';
import type { Logger } from '../log.ts';

export type { Job };
export type Boss = PgBoss;

const QUEUE_SCHEMA = 'pgboss';

/** Every queue we use, with its retry policy and dead-letter queue. */
export const QUEUES = {
  inboundProcess: 'inbound.process',
  outboundSend: 'outbound.send',
} as const;

interface QueueSpec {
  name: string;
  retryLimit: number;
  retryDelay: number;
  retryDelayMax: number;
  expireInSeconds: number;
  /**
   * A live worker refreshes its active jobs every heartbeatSeconds / 2; the supervisor (once a
   * minute) fails a job left without a refresh this long, and the queue retries it. So a job is
   * found orphaned within a minute or two, not at expireInSeconds, when its worker died or when
   * its result could not be recorded because the database was gone at that moment.
   */
  heartbeatSeconds: number;
  /** pg-boss's NOTIFY inside the sending transaction; off where the sender wakes workers itself (see wakeup.ts). */
  notify: boolean;
}

export const INBOUND_RETRY_LIMIT = 5;
export const OUTBOUND_RETRY_LIMIT = 10;

const SPECS: QueueSpec[] = [
  // Parsing one mail takes milliseconds; a job still active after 5 minutes is a dead worker.
  {
    name: QUEUES.inboundProcess,
    retryLimit: INBOUND_RETRY_LIMIT,
    retryDelay: 5,
    retryDelayMax: 600,
    expireInSeconds: 300,
    heartbeatSeconds: 30,
    notify: false,
  },
  // A receiving server that answers 4xx usually recovers within hours: back off up to an hour,
  // ~10 tries over about a day, then the mail is marked failed.
  {
    name: QUEUES.outboundSend,
    retryLimit: OUTBOUND_RETRY_LIMIT,
    retryDelay: 30,
    retryDelayMax: 3600,
    expireInSeconds: 300,
    heartbeatSeconds: 30,
    notify: true,
  },
];

const deadLetterOf = (queue: string): string => `${queue}.dead`;

export interface BossOptions {
  url: string;
  /** Run maintenance and LISTEN for new jobs: true for the worker role. */
  worker: boolean;
  poolMax?: number;
  log: Logger;
}

export async function startBoss({ url, worker, poolMax, log }: BossOptions): Promise<PgBoss> {
  const boss = new PgBoss({
    connectionString: url,
    schema: QUEUE_SCHEMA,
    application_name: worker ? 'inbound-worker' : 'inbound-queue',
    max: poolMax ?? (worker ? 6 : 2),
    supervise: worker,
    schedule: worker,
    migrate: true,
    useListenNotify: worker,
  });
  boss.on('error', (err: Error) => log.error({ err }, 'queue error'));
  boss.on('warning', (w: { message: string }) => log.warn({ warning: w }, 'queue warning'));
  await boss.start();
  return boss;
}

/** Creates (or updates) our queues and their dead-letter queues. Idempotent. */
export async function ensureQueues(boss: PgBoss): Promise<void> {
  for (const spec of SPECS) {
    const dead = deadLetterOf(spec.name);
    if (!(await boss.getQueue(dead))) await boss.createQueue(dead, { retentionSeconds: 30 * 86400 });
    const options = {
      retryLimit: spec.retryLimit,
      retryDelay: spec.retryDelay,
      retryBackoff: true,
      expireInSeconds: spec.expireInSeconds,
      heartbeatSeconds: spec.heartbeatSeconds,
      notify: spec.notify,
    };
    // The dead-letter queue and the backoff cap are fixed at creation (pg-boss does not update them).
    if (await boss.getQueue(spec.name)) await boss.updateQueue(spec.name, options);
    else await boss.createQueue(spec.name, { ...options, retryDelayMax: spec.retryDelayMax, deadLetter: dead });
  }
}

export { createWaker, listenForWakeups, INBOUND_CHANNEL, type Listener } from './wakeup.ts';

/** The queue's view of a knex transaction: a job sent with it commits or rolls back with it. */
export function jobDb(trx: Knex.Transaction) {
  return fromKnex(trx);
}
