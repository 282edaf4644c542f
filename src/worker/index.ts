// The worker role: pg-boss handlers. Jobs carry ids; each handler reloads what it works on.
import type { Knex } from 'knex';
import type { Logger } from '../log.ts';
import { INBOUND_CHANNEL, INBOUND_RETRY_LIMIT, listenForWakeups, QUEUES, type Boss, type Job } from '../queue/index.ts';
import { processRawMessage, type InboundSettings } from '../inbound/index.ts';

export interface WorkerDeps {
  /** For the LISTEN connection that wakes the inbound handler. */
  url: string;
  db: Knex;
  boss: Boss;
  log: Logger;
  concurrency: number;
  /** The backstop poll; NOTIFY wakes the worker as soon as a job commits. */
  pollSeconds?: number;
  inbound: InboundSettings;
}

export interface Worker {
  stop(): Promise<void>;
}

export async function startWorker({ url, db, boss, log, concurrency, pollSeconds = 2, inbound }: WorkerDeps): Promise<Worker> {
  async function handle(job: Job<{ rawId: number }>): Promise<void> {
    const jobLog = log.child({ job: job.id, raw: job.data.rawId });
    const started = performance.now();
    try {
      const outcome = await processRawMessage({ db, log: jobLog, settings: inbound }, job.data.rawId, {
        // the last try quarantines instead of failing, so the mail stays visible and reprocessable
        finalAttempt: job.retryCount >= INBOUND_RETRY_LIMIT,
      });
      jobLog.info({ outcome, ms: Math.round(performance.now() - started), attempt: job.retryCount + 1 }, 'inbound processed');
    } catch (err) {
      jobLog.error({ err, attempt: job.retryCount + 1 }, 'inbound processing failed');
      throw err;
    }
  }

  // One pg-boss worker per lane, each fetching one job at a time, so a failing mail fails alone.
  // A lane that just finished a job asks for the next one at once (notifyWorker on itself): the
  // poll interval only applies when the queue was found empty. pg-boss's notifyWorker wakes one
  // worker id, hence one id per lane rather than localConcurrency.
  const lanes: string[] = [];
  for (let i = 0; i < concurrency; i++) {
    let self: string | undefined;
    self = await boss.work<{ rawId: number }>(
      QUEUES.inboundProcess,
      { localConcurrency: 1, batchSize: 1, pollingIntervalSeconds: pollSeconds, notifyPollingIntervalSeconds: Math.max(30, pollSeconds) },
      async (jobs: Job<{ rawId: number }>[]) => {
        for (const job of jobs) await handle(job);
        if (self) boss.notifyWorker(self);
      },
    );
    lanes.push(self);
  }
  // The ingest wakes us after each commit (see queue/wakeup.ts); the poll is the backstop.
  const listener = listenForWakeups(url, INBOUND_CHANNEL, () => lanes.forEach((id) => boss.notifyWorker(id)), log);
  return {
    async stop() {
      await listener.close();
      await boss.offWork(QUEUES.inboundProcess, { wait: true });
    },
  };
}
