// The relay: outbound rows written without their job (acks, written by the inbound pipeline,
// which sends its statements without waiting and so cannot run pg-boss's insert in between) get
// one. Row lock, job and mark commit together, so a row never gets two jobs. Woken after each
// inbound batch that planned an ack, and on a timer as the backstop.
import type { Knex } from 'knex';
import type { Logger } from '../log.ts';
import { jobDb, QUEUES, type Boss } from '../queue/index.ts';

async function relayOutbound(db: Knex, boss: Boss): Promise<number> {
  return db.transaction(async (trx) => {
    const ids = (await trx('outbound_messages')
      .where({ status: 'queued' })
      .whereNull('job_queued_at')
      .orderBy('id')
      .limit(200)
      .forUpdate()
      .skipLocked()
      .pluck('id')) as number[];
    if (ids.length === 0) return 0;
    await boss.insert(
      QUEUES.outboundSend,
      ids.map((outboundId) => ({ data: { outboundId } })),
      { db: jobDb(trx) },
    );
    await trx('outbound_messages').whereIn('id', ids).update({ job_queued_at: trx.fn.now() });
    return ids.length;
  });
}

/** Runs the relay when kicked (coalesced) and every `intervalMs`; `onRelayed` wakes the sender. */
export function startRelay(
  db: Knex,
  boss: Boss,
  log: Logger,
  intervalMs: number,
  onRelayed: () => void,
): { kick(): void; stop(): Promise<void> } {
  let running: Promise<void> | undefined;
  let again = false;
  let stopped = false;
  const run = (): void => {
    if (stopped) return;
    if (running) {
      again = true;
      return;
    }
    running = relayOutbound(db, boss)
      .then((n) => {
        if (n === 0) return;
        log.debug({ relayed: n }, 'outbound jobs queued');
        onRelayed();
      })
      .catch((err: unknown) => log.error({ err }, 'outbound relay failed'))
      .then(() => {
        running = undefined;
        if (again) {
          again = false;
          run();
        }
      });
  };
  const timer = setInterval(run, intervalMs);
  timer.unref();
  return {
    kick: run,
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running;
    },
  };
}
