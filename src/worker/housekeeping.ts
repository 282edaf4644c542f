// Housekeeping the worker role does on a timer: rate-limit windows older than a day, portal and
// admin sessions over for a day, test mails' contents a day after they went, and tokens that
// expired or were used or revoked more than a week ago (kept that long so that a link followed
// late still finds its ticket and can offer a fresh one).
import type { Knex } from 'knex';
import type { Logger } from '../log.ts';
import { pruneRateLimits } from '../access/index.ts';
import { pruneAdminSessions } from '../admin/index.ts';
import { pruneSessions } from '../portal/index.ts';

export async function housekeep(db: Knex): Promise<{ rateLimits: number; tokens: number; sessions: number }> {
  const rateLimits = await pruneRateLimits(db);
  const sessions = (await pruneSessions(db)) + (await pruneAdminSessions(db));
  // a test mail's content carries what it was previewed with (a real ticket's names and text):
  // kept a day after it was sent or given up, for the outbox's record, then gone
  await db('template_test_mails')
    .whereIn(
      'outbound_id',
      db('outbound_messages')
        .whereNot({ status: 'queued' })
        .where('updated_at', '<', db.raw(`now() - interval '1 day'`))
        .select('id'),
    )
    .delete();
  const tokens = await db('tokens')
    .where('expires_at', '<', db.raw(`now() - interval '7 days'`))
    .orWhere('used_at', '<', db.raw(`now() - interval '7 days'`))
    .orWhere('revoked_at', '<', db.raw(`now() - interval '7 days'`))
    .delete();
  return { rateLimits, tokens, sessions };
}

export function startHousekeeping(db: Knex, log: Logger, intervalMs = 10 * 60_000): { stop(): void } {
  const run = () =>
    housekeep(db).then(
      (n) => (n.rateLimits || n.tokens || n.sessions) && log.info(n, 'housekeeping'),
      (err: unknown) => log.error({ err }, 'housekeeping failed'),
    );
  const timer = setInterval(run, intervalMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
