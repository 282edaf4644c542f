// The worker's side of outbound mail: one pg-boss handler over `outbound.send`, and the pooled
// nodemailer transport to OUTBOUND_SMTP_URL (none: the dev outbox keeps the rendered mail).
import nodemailer from 'nodemailer';
import type { Knex } from 'knex';
import type { Logger } from '../log.ts';
import { OUTBOUND_RETRY_LIMIT, QUEUES, type Boss, type Job } from '../queue/index.ts';
import { sendOutbound, type SendDeps } from './send.ts';
import { startRelay } from './relay.ts';

export interface OutboundWorkerOptions {
  db: Knex;
  boss: Boss;
  log: Logger;
  outboundSmtpUrl: string | undefined;
  publicUrl: string;
  messageIdDomain: string;
  ticketLinkDays: number;
  concurrency?: number;
  pollSeconds?: number;
}

export interface OutboundWorker {
  /** Queue jobs for rows written without one (acks) now rather than at the next tick. */
  kick(): void;
  stop(): Promise<void>;
}

export async function startOutboundWorker(o: OutboundWorkerOptions): Promise<OutboundWorker> {
  const transport = o.outboundSmtpUrl
    ? nodemailer.createTransport({
        url: o.outboundSmtpUrl,
        pool: true,
        maxConnections: 5,
        connectionTimeout: 30_000,
        greetingTimeout: 30_000,
        socketTimeout: 60_000,
      } as never)
    : undefined;
  async function handle(job: Job<{ outboundId: number }>) {
    const log = o.log.child({ job: job.id, outbound: job.data.outboundId });
    try {
      const result = await sendOutbound(deps, job.data.outboundId, {
        finalAttempt: job.retryCount >= OUTBOUND_RETRY_LIMIT,
      });
      log.info({ result, attempt: job.retryCount + 1 }, 'outbound mail');
      return { id: job.id, status: 'completed' as const };
    } catch (err) {
      log.warn({ err: (err as Error).message, attempt: job.retryCount + 1 }, 'outbound mail deferred, will retry');
      return { id: job.id, status: 'failed' as const, output: { message: (err as Error).message } };
    }
  }
  const deps: SendDeps = {
    db: o.db,
    log: o.log,
    publicUrl: o.publicUrl.replace(/\/+$/, ''),
    messageIdDomain: o.messageIdDomain,
    transport,
    ticketLinkDays: o.ticketLinkDays,
  };
  // One pg-boss worker per lane, each taking a few jobs at a time and sending them side by side
  // (each settles on its own); a lane that finished asks for more at once (notifyWorker on
  // itself), so a burst drains without waiting for the poll.
  const lanes: string[] = [];
  for (let i = 0; i < (o.concurrency ?? 4); i++) {
    let self: string | undefined;
    self = await o.boss.work<{ outboundId: number }>(
      QUEUES.outboundSend,
      // new mail wakes the lanes (NOTIFY, or the relay in this process); retries, 30 s and later, are found by the poll
      {
        localConcurrency: 1,
        batchSize: 4,
        perJobResults: true,
        pollingIntervalSeconds: o.pollSeconds ?? 2,
        notifyPollingIntervalSeconds: o.pollSeconds ?? 10,
      },
      async (jobs: Job<{ outboundId: number }>[]) => {
        const results = await Promise.all(jobs.map(handle));
        if (self) o.boss.notifyWorker(self);
        return results;
      },
    );
    lanes.push(self);
  }
  // jobs the relay queued in this process are picked up at once, not at the next poll
  const relay = startRelay(o.db, o.boss, o.log, (o.pollSeconds ?? 2) * 1000, () => {
    for (const id of lanes) o.boss.notifyWorker(id);
  });
  return {
    kick: relay.kick,
    async stop() {
      await relay.stop();
      await o.boss.offWork(QUEUES.outboundSend, { wait: true });
      transport?.close();
    },
  };
}
