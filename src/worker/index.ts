// The worker role: pg-boss handlers. Jobs carry ids; each handler reloads what it works on.
import type pg from 'pg';
import type { Logger } from '../log.ts';
import { INBOUND_CHANNEL, INBOUND_RETRY_LIMIT, listenForWakeups, QUEUES, type Boss, type Job } from '../queue/index.ts';
import {
  closeMailPool,
  processRawMessages,
  warmMailPool,
  type InboundSettings,
  type Processed,
} from '../inbound/index.ts';
import { countBatch } from '../metrics/index.ts';

export interface WorkerDeps {
  /** For the LISTEN connection that wakes the inbound handler. */
  url: string;
  /** Pipelined (createPgPool with pipeline: true), one connection per lane at most. */
  pool: pg.Pool;
  boss: Boss;
  log: Logger;
  /** Lanes: batches in progress at once. */
  concurrency: number;
  /** Mails per batch at most. */
  batchSize?: number;
  /** The backstop poll; NOTIFY wakes the worker as soon as a job commits. */
  pollSeconds?: number;
  inbound: InboundSettings;
  /** Called after a batch that queued mail (acks, agent replies by mail): it waits in outbound_messages for the relay. */
  onFollowUps?: () => void;
}

export interface Worker {
  stop(): Promise<void>;
}

/**
 * Under load a lane takes a batch of mails and processes them together, in a few round trips
 * whatever the batch's size (see inbound/process.ts); round trips, not SQL, are what a mail costs
 * most here. When idle, a batch is the one mail that just arrived.
 */
const DEFAULT_BATCH_SIZE = 32;

/** Outcomes that may have written outbound mail for the relay. */
const FOLLOW_UPS: ReadonlySet<string> = new Set(['ticket_created', 'new_linked_ticket', 'agent_reply']);

export async function startWorker({
  url,
  pool,
  boss,
  log,
  concurrency,
  batchSize = DEFAULT_BATCH_SIZE,
  pollSeconds = 2,
  inbound,
  onFollowUps,
}: WorkerDeps): Promise<Worker> {
  await warmMailPool();
  async function handle(jobs: Job<{ rawId: number }>[]) {
    const started = performance.now();
    let results: Processed[];
    try {
      results = await processRawMessages(
        { pool, log, settings: inbound },
        // the last try quarantines instead of failing, so the mail stays visible and reprocessable
        jobs.map((job) => ({ rawId: job.data.rawId, finalAttempt: job.retryCount >= INBOUND_RETRY_LIMIT })),
      );
    } catch (err) {
      // the whole batch fails (its connection, say): every job goes back to the queue
      countBatch(
        (performance.now() - started) / 1000,
        jobs.map(() => 'failed'),
      );
      throw err;
    }
    const seconds = (performance.now() - started) / 1000;
    const ms = Math.round(seconds * 1000);
    countBatch(
      seconds,
      results.map((r) => ('error' in r ? 'failed' : r.outcome)),
    );
    if (onFollowUps && results.some((r) => 'outcome' in r && FOLLOW_UPS.has(r.outcome))) onFollowUps();
    // Each job settles on its own: a failing mail is retried (or dead-lettered) alone.
    return jobs.map((job, i) => {
      const jobLog = log.child({ job: job.id, raw: job.data.rawId });
      const result = results[i]!;
      const attempt = job.retryCount + 1;
      if ('error' in result) {
        jobLog.error({ err: result.error, attempt }, 'inbound processing failed');
        return { id: job.id, status: 'failed' as const, output: { message: result.error.message } };
      }
      jobLog.info({ outcome: result.outcome, ms, batch: jobs.length, attempt }, 'inbound processed');
      return { id: job.id, status: 'completed' as const };
    });
  }

  // One pg-boss worker per lane, each with one batch at a time. A lane that just finished a batch
  // asks for the next one at once (notifyWorker on itself): the poll interval only applies when
  // the queue was found empty. pg-boss's notifyWorker wakes one worker id, hence one id per lane
  // rather than localConcurrency.
  const lanes: string[] = [];
  for (let i = 0; i < concurrency; i++) {
    let self: string | undefined;
    self = await boss.work<{ rawId: number }>(
      QUEUES.inboundProcess,
      {
        localConcurrency: 1,
        batchSize,
        perJobResults: true,
        pollingIntervalSeconds: pollSeconds,
        notifyPollingIntervalSeconds: Math.max(30, pollSeconds),
      },
      async (jobs: Job<{ rawId: number }>[]) => {
        const results = await handle(jobs);
        if (self) boss.notifyWorker(self);
        return results;
      },
    );
    lanes.push(self);
  }
  // The ingest wakes us after each commit (see queue/wakeup.ts); the poll is the backstop. Each
  // wake-up goes to the next lane in turn: waking all of them for every mail of a steady stream
  // sends one fetch per lane to find one job, and those empty fetches crowd the queue's pool.
  // Under load the wake-ups come every few milliseconds, so every lane is soon busy.
  let next = 0;
  const listener = listenForWakeups(url, INBOUND_CHANNEL, () => boss.notifyWorker(lanes[next++ % lanes.length]!), log);
  return {
    async stop() {
      await listener.close();
      await boss.offWork(QUEUES.inboundProcess, { wait: true });
      await closeMailPool();
    },
  };
}

export { startHousekeeping } from './housekeeping.ts';
