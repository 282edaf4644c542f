// Stored mail becomes what it means: a ticket message from the right customer in the right
// ticket, a recorded bounce, or nothing (our own mail coming back).
//
// Mails are processed in batches, in a few round trips whatever the batch size: load the rows;
// parse and check each (CPU and DNS); read every fact the batch needs (facts.ts); decide each
// mail (plan.ts); send every mail's transaction (write.ts). A mail whose decision could depend
// on an earlier mail of the batch (the same new address, the same ticket, a reply to it) waits
// for the next pass, which reads afresh; a mail whose transaction fails is run again alone, and
// fails or is quarantined alone. The claim at the start of each transaction makes retries and
// reprocessing idempotent.
import type pg from 'pg';
import type { Logger } from '../log.ts';
import { prepared, corked, type Sql } from '../db/index.ts';
import type { Analysed } from './analyse.ts';
import { analyseInPool, BudgetExceeded } from './mail-pool.ts';
import { authenticateMail, type DnsResolver } from './auth.ts';
import {
  describeMail,
  gatherFacts,
  UnprocessableMail,
  type Asking,
  type InboxRef,
  type RawRow,
  type Work,
} from './facts.ts';
import { planBounce, planDelivery, type Outcome } from './plan.ts';
import { ALREADY_PROCESSED, outcomeOf, sendWrite, type Write } from './write.ts';

export interface InboundSettings {
  /** A reply to a ticket closed longer ago than this opens a new ticket linked to it. */
  reopenDays: number;
  /** Domains of the Message-IDs we generate: mail carrying them is ours. */
  ownDomains: string[];
  /** The header our outbound mail carries, so that it is recognised if it comes back. */
  loopHeader: string;
  /** Our host name, as the authserv-id of the authentication results. */
  mta: string;
  /** DNS for SPF/DKIM/DMARC; the system resolver when undefined. */
  resolver?: DnsResolver;
  /** At most this many acks to one address in an hour (0: no acks). Undefined: 5. */
  ackLimitPerHour?: number;
  /** The time one mail's parse, classification and rendering may take (ms). Undefined: DEFAULT_CPU_BUDGET_MS. */
  cpuBudgetMs?: number;
}

const DEFAULT_CPU_BUDGET_MS = 5_000;

export interface InboundContext {
  /** a pipelined pool (createPgPool with pipeline: true) */
  pool: pg.Pool;
  log: Logger;
  settings: InboundSettings;
}

export type { Outcome };

export interface RawJob {
  rawId: number;
  /** the last try quarantines instead of failing, so the mail stays visible and reprocessable */
  finalAttempt?: boolean;
}

/** A mail's result: its outcome, or the error to retry it for. */
export type Processed = { outcome: Outcome } | { error: Error };

export async function processRawMessage(
  ctx: InboundContext,
  rawId: number,
  opts: { finalAttempt?: boolean } = {},
): Promise<Outcome> {
  const [result] = await processRawMessages(ctx, [{ rawId, ...opts }]);
  if ('error' in result!) throw result.error;
  return result!.outcome;
}

/** Processes the mails of these jobs, each with an outcome of its own. */
export async function processRawMessages(ctx: InboundContext, jobs: RawJob[]): Promise<Processed[]> {
  const client = await ctx.pool.connect();
  let broken: Error | undefined;
  try {
    return await processOn(ctx, client, prepared(client), jobs);
  } catch (err) {
    broken = err as Error;
    throw err;
  } finally {
    client.release(broken);
  }
}

/** A mail on its way: its job, and once parsed and checked, its Work. */
interface Item {
  job: RawJob;
  work?: Work;
  result?: Processed;
}

interface Failed {
  item: Item;
  error: Error;
}

async function processOn(ctx: InboundContext, client: pg.PoolClient, sql: Sql, jobs: RawJob[]): Promise<Processed[]> {
  const items: Item[] = jobs.map((job) => ({ job }));
  const { rows } = await sql<RawRow>(
    'SELECT id, status, raw, mail_from, rcpt_to, remote_address, helo FROM raw_messages WHERE id = ANY($1::bigint[])',
    [jobs.map((j) => j.rawId)],
  );
  const byId = new Map(rows.map((r) => [r.id, r]));
  const writes: Item[] = [];
  const toQuarantine = new Map<Item, string>();
  const fail = (item: Item, err: unknown) => {
    if (err instanceof Unparseable || err instanceof UnprocessableMail || item.job.finalAttempt)
      toQuarantine.set(item, (err as Error).message);
    else item.result = { error: err as Error };
  };
  const todo: { item: Item; row: RawRow }[] = [];
  for (const item of items) {
    const row = byId.get(item.job.rawId);
    if (!row || row.raw === null || row.status === 'processed' || row.status === 'duplicate')
      item.result = { outcome: 'skipped' };
    else todo.push({ item, row });
  }
  // the CPU work of the whole batch in one task of the mail pool; then the DNS-bound checks
  let analysed: (Analysed | BudgetExceeded)[] = [];
  try {
    analysed = await analyseInPool(
      todo.map(({ row }) => ({
        raw: row.raw!,
        mailFrom: row.mail_from,
        rcptTo: row.rcpt_to,
        ownMessageIdDomains: ctx.settings.ownDomains,
        loopHeader: ctx.settings.loopHeader,
      })),
      ctx.settings.cpuBudgetMs ?? DEFAULT_CPU_BUDGET_MS,
    );
  } catch (err) {
    for (const { item } of todo) fail(item, err);
  }
  await Promise.all(
    todo.map(async ({ item, row }, k) => {
      const a = analysed[k];
      if (!a) return; // the pool failed: handled above
      try {
        item.work = await prepare(ctx, row, a);
        writes.push(item);
      } catch (err) {
        fail(item, err);
      }
    }),
  );
  if (toQuarantine.size > 0) await quarantine(ctx, client, sql, toQuarantine);

  // in arrival order, so that a pass decides earlier mail first
  let pending = writes.sort((a, b) => a.job.rawId - b.job.rawId);
  while (pending.length > 0) {
    const { deferred, failed } = await pass(ctx, client, sql, pending);
    // a failure in a batch may be a neighbour's doing (an address created twice): alone, the mail
    // is read afresh; alone again, the failure is its own
    for (const f of failed) {
      const still = pending.length > 1 ? (await pass(ctx, client, sql, [f.item])).failed[0] : f;
      if (still) await giveUp(ctx, client, sql, f.item, still.error);
    }
    pending = deferred;
  }
  return items.map((i) => i.result!);
}

class Unparseable extends Error {}

/**
 * What is known of a mail before the database is asked: its analysis from the mail pool (parse,
 * classification, rendering, within the per-mail budget) and the DNS-bound sender checks.
 */
async function prepare(ctx: InboundContext, row: RawRow, analysed: Analysed | BudgetExceeded): Promise<Work> {
  if (analysed instanceof BudgetExceeded) throw new Unparseable(analysed.message);
  if (!analysed.ok) throw new Unparseable(analysed.error);
  const { mail, classification, rendered } = analysed;
  const auth =
    classification.kind === 'own' || classification.kind === 'bounce'
      ? undefined
      : await authenticateMail({
          raw: row.raw!,
          ip: row.remote_address ?? '127.0.0.1',
          helo: row.helo ?? undefined,
          mailFrom: row.mail_from,
          mta: ctx.settings.mta,
          resolver: ctx.settings.resolver,
        });
  return { row, mail, classification, auth, rendered };
}

/** One round of facts, decisions and writes; sets each mail's result unless deferred or failed. */
async function pass(
  ctx: InboundContext,
  client: pg.PoolClient,
  sql: Sql,
  items: Item[],
): Promise<{ deferred: Item[]; failed: Failed[] }> {
  const inboxes = await inboxRefs(ctx.pool, sql);
  const asking = new Map<Item, Asking>();
  const decided = new Map<Item, Write>();
  for (const item of items) {
    const { row, classification } = item.work!;
    if (classification.kind === 'own') decided.set(item, { rawId: row.id, kind: 'own' });
    else if (classification.kind === 'bounce') asking.set(item, { bounce: classification.bounce ?? {} });
    else {
      try {
        asking.set(item, { deliver: describeMail(item.work!, inboxes, ctx.settings.ownDomains) });
      } catch (err) {
        if (!(err instanceof UnprocessableMail)) throw err;
        decided.set(item, { rawId: row.id, kind: 'quarantine', reason: err.message });
      }
    }
  }

  const asked = [...asking.keys()];
  let facts: Awaited<ReturnType<typeof gatherFacts>>;
  try {
    facts = await gatherFacts(client, sql, [...asking.values()]);
  } catch (err) {
    ctx.log.warn({ err }, 'reading the facts of a batch failed');
    return { deferred: [], failed: items.map((item) => ({ item, error: err as Error })) };
  }
  const deferred: Item[] = [];
  const made = new Set<string>();
  const acksPlanned = new Map<string, number>();
  for (const [index, item] of asked.entries()) {
    const a = asking.get(item)!;
    if ('bounce' in a) {
      decided.set(item, {
        rawId: item.job.rawId,
        kind: 'bounce',
        record: planBounce(item.work!, facts.outbound[index]),
      });
      continue;
    }
    const plan = planDelivery(a.deliver, facts, index, ctx.settings, { acksPlanned });
    if (plan.uses.some((k) => made.has(k))) {
      deferred.push(item);
      continue;
    }
    for (const k of plan.makes) made.add(k);
    if (plan.ack) acksPlanned.set(plan.ack.address, (acksPlanned.get(plan.ack.address) ?? 0) + 1);
    decided.set(item, { rawId: item.job.rawId, kind: 'delivery', plan });
  }

  // in arrival order, like the decisions
  const ordered = items.filter((i) => decided.has(i));
  const sent = corked(client, () => ordered.map((item) => sendWrite(client, sql, decided.get(item)!)));
  const errors = await Promise.all(sent);
  const failed: Failed[] = [];
  for (const [i, item] of ordered.entries()) {
    const err = errors[i];
    const w = decided.get(item)!;
    if (!err) {
      item.result = { outcome: outcomeOf(w) };
      if (w.kind === 'quarantine') ctx.log.warn({ raw: w.rawId, reason: w.reason }, 'mail quarantined');
      else
        ctx.log.debug({ raw: w.rawId, outcome: outcomeOf(w), kind: item.work!.classification.kind }, 'mail processed');
    } else if ((err as { code?: string }).code === ALREADY_PROCESSED) {
      item.result = { outcome: 'skipped' };
    } else {
      ctx.log.debug({ raw: w.rawId, err }, 'mail not written');
      failed.push({ item, error: err });
    }
  }
  return { deferred, failed };
}

/** A mail that failed alone: the queue retries it, or on its last try it is quarantined. */
async function giveUp(ctx: InboundContext, client: pg.PoolClient, sql: Sql, item: Item, error: Error): Promise<void> {
  if (item.job.finalAttempt) await quarantine(ctx, client, sql, new Map([[item, error.message]]));
  else item.result = { error };
}

async function quarantine(
  ctx: InboundContext,
  client: pg.PoolClient,
  sql: Sql,
  reasons: Map<Item, string>,
): Promise<void> {
  const entries = [...reasons];
  const errors = await Promise.all(
    corked(client, () =>
      entries.map(([item, reason]) => sendWrite(client, sql, { rawId: item.job.rawId, kind: 'quarantine', reason })),
    ),
  );
  for (const [i, [item, reason]] of entries.entries()) {
    item.result = errors[i] ? { error: errors[i] } : { outcome: 'quarantined' };
    if (!errors[i]) ctx.log.warn({ raw: item.job.rawId, reason }, 'mail quarantined');
  }
}

// The inbox list is read on every mail and changes rarely: a few seconds of staleness only
// delays the recognition of a brand-new inbox's address among the CC.
const inboxCache = new WeakMap<pg.Pool, { at: number; rows: InboxRef[] }>();
async function inboxRefs(pool: pg.Pool, sql: Sql): Promise<InboxRef[]> {
  const cached = inboxCache.get(pool);
  if (cached && Date.now() - cached.at < 5_000) return cached.rows;
  const { rows } = await sql<InboxRef>('SELECT id, address FROM inboxes');
  inboxCache.set(pool, { at: Date.now(), rows });
  return rows;
}
