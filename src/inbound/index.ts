// Turns a stored raw mail into what it means. For now: claim the row and mark it processed;
// parsing, classification and threading build on this one transaction per mail.
import type { Knex } from 'knex';
import type { Logger } from '../log.ts';

export type ProcessOutcome = 'processed' | 'skipped';

export async function processRawMessage(db: Knex, rawId: number, log: Logger): Promise<ProcessOutcome> {
  return db.transaction(async (trx) => {
    // Row lock: a retried job and a manual reprocess never work on the same mail at once.
    const row = await trx('raw_messages')
      .select('id', 'status')
      .where({ id: rawId })
      .forUpdate()
      .first<{ id: number; status: string } | undefined>();
    if (!row || row.status === 'processed' || row.status === 'duplicate') {
      log.debug({ raw: rawId, status: row?.status }, 'nothing to process');
      return 'skipped';
    }
    await trx('raw_messages')
      .where({ id: rawId })
      .update({ status: 'processed', processed_at: trx.fn.now(), error: null, attempts: trx.raw('attempts + 1') });
    return 'processed';
  });
}
