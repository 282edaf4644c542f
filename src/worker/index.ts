// The worker role: pg-boss handlers. Jobs carry ids; each handler reloads what it works on.
import type { Knex } from 'knex';
import type { Logger } from '../log.ts';
import { QUEUES, type Boss, type Job } from '../queue/index.ts';
import { processRawMessage } from '../inbound/index.ts';

export interface WorkerDeps {
  db: Knex;
  boss: Boss;
  log: Logger;
  concurrency: number;
}

export interface Worker {
  stop(): Promise<void>;
}

export async function startWorker({ db, boss, log, concurrency }: WorkerDeps): Promise<Worker> {
  await boss.work<{ rawId: number }>(
    QUEUES.inboundProcess,
    // NOTIFY wakes the worker when a job commits; the poll is only a backstop.
    { localConcurrency: concurrency, batchSize: 1, pollingIntervalSeconds: 2, notifyPollingIntervalSeconds: 30 },
    async (jobs: Job<{ rawId: number }>[]) => {
      for (const job of jobs) {
        const jobLog = log.child({ job: job.id, raw: job.data.rawId });
        const started = performance.now();
        try {
          const outcome = await processRawMessage(db, job.data.rawId, jobLog);
          jobLog.info({ outcome, ms: Math.round(performance.now() - started), attempt: job.retryCount + 1 }, 'inbound processed');
        } catch (err) {
          jobLog.error({ err, attempt: job.retryCount + 1 }, 'inbound processing failed');
          throw err;
        }
      }
    },
  );
  return {
    async stop() {
      await boss.offWork(QUEUES.inboundProcess, { wait: true });
    },
  };
}
