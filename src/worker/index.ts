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
  const inboundWorker = await boss.work<{ rawId: number }>(
    QUEUES.inboundProcess,
    {
      localConcurrency: concurrency,
      batchSize: 1,
      pollingIntervalSeconds: pollSeconds,
      notifyPollingIntervalSeconds: Math.max(30, pollSeconds),
    },
    async (jobs: Job<{ rawId: number }>[]) => {
      for (const job of jobs) {
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
    },
  );
  // The ingest wakes us after each commit (see queue/wakeup.ts); the poll is the backstop.
  const listener = listenForWakeups(url, INBOUND_CHANNEL, () => boss.notifyWorker(inboundWorker), log);
  return {
    async stop() {
      await listener.close();
      await boss.offWork(QUEUES.inboundProcess, { wait: true });
    },
  };
}
