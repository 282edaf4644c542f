// Durable accept: the raw bytes and the job that processes them commit in one transaction, and
// only then does the client get its 250.
//
// Mail arriving together is committed together (group commit, as MTAs and databases do it): while
// a transaction is in flight, new mail waits for the next one, which then takes all of it. A lone
// mail is written at once, so this adds no latency when idle and saves a commit and a queue
// insert per mail under load. One batch at a time measured best here: more transactions in flight
// only made each batch smaller on a machine where PostgreSQL and we share the CPU. Large mails
// take a lane of their own so that one 25 MB mail never holds up the small ones behind it. A
// batch that fails is retried mail by mail, so one bad mail never costs its neighbours their 250.
//
// A batch normally costs one round trip: ids come from a block reserved ahead of time, so BEGIN,
// the INSERT, the job insert and COMMIT are pipelined together. When the INSERT meets a copy we
// already have (unique violation), PostgreSQL aborts the transaction, answers COMMIT with a
// rollback, and the batch is written again on the careful path that records duplicates.
import type pg from 'pg';
import { prepared, type Sql } from '../db/index.ts';
import { isUniqueViolation } from '../errors.ts';
import type { Boss } from '../queue/index.ts';
import { QUEUES } from '../queue/index.ts';

export interface RawMail {
  mailFrom: string;
  rcptTo: string[];
  remoteAddress: string | undefined;
  helo: string | undefined;
  smtpSession: string | undefined;
  sha256: Buffer;
  messageId: string | undefined;
  raw: Buffer;
}

export interface Stored {
  id: number;
  /** Set when these bytes were stored before: this row only records the second delivery. */
  duplicateOf?: number;
}

export interface RawMailWriter {
  store(mail: RawMail): Promise<Stored>;
}

export interface WriterOptions {
  /** Mails per transaction at most. */
  maxBatch?: number;
  /** Bytes per transaction at most (a single larger mail still goes alone). */
  maxBatchBytes?: number;
  /** Batch transactions in flight at once. */
  maxConcurrent?: number;
  /** Mails at least this big are written alone, at once, beside the batches. */
  largeMailBytes?: number;
  /** Called after each commit that queued jobs: wakes the worker. */
  onCommit?: () => void;
}

interface Pending {
  mail: RawMail;
  resolve: (s: Stored) => void;
  reject: (e: unknown) => void;
}

export function createRawMailWriter(pool: pg.Pool, boss: Boss, options: WriterOptions = {}): RawMailWriter {
  const maxBatch = options.maxBatch ?? 64;
  const maxBatchBytes = options.maxBatchBytes ?? 16 * 1024 * 1024;
  const maxConcurrent = options.maxConcurrent ?? 1;
  const largeMailBytes = options.largeMailBytes ?? 1024 * 1024;
  const ids = createIdReserve(pool);
  const pending: Pending[] = [];
  let active = 0;

  function takeBatch(): Pending[] {
    const batch = [pending.shift()!];
    let bytes = batch[0]!.mail.raw.length;
    while (pending.length > 0 && batch.length < maxBatch && bytes + pending[0]!.mail.raw.length <= maxBatchBytes) {
      const next = pending.shift()!;
      bytes += next.mail.raw.length;
      batch.push(next);
    }
    return batch;
  }

  function pump(): void {
    while (active < maxConcurrent && pending.length > 0) {
      const batch = takeBatch();
      active++;
      void write(batch).finally(() => {
        active--;
        pump();
      });
    }
  }

  async function store(mails: RawMail[]): Promise<Stored[]> {
    const stored = (await storeFast(pool, boss, mails, ids)) ?? (await storeBatch(pool, boss, mails));
    options.onCommit?.();
    return stored;
  }

  async function write(batch: Pending[]): Promise<void> {
    try {
      const stored = await store(batch.map((p) => p.mail));
      for (const [i, p] of batch.entries()) p.resolve(stored[i]!);
    } catch (err) {
      if (batch.length === 1) return batch[0]!.reject(err);
      for (const p of batch) await store([p.mail]).then(([s]) => p.resolve(s!), p.reject);
    }
  }

  return {
    store(mail) {
      return new Promise<Stored>((resolve, reject) => {
        const entry = { mail, resolve, reject };
        if (mail.raw.length >= largeMailBytes) void write([entry]);
        else {
          pending.push(entry);
          pump();
        }
      });
    },
  };
}

/** raw_messages ids reserved from its sequence in blocks, so a batch needs no round trip for them. */
function createIdReserve(pool: pg.Pool, block = 256) {
  const free: number[] = [];
  let refill: Promise<void> | undefined;
  return async (n: number): Promise<number[]> => {
    while (free.length < n) {
      refill ??= pool
        .query<{ id: number }>(
          `SELECT nextval(pg_get_serial_sequence('raw_messages', 'id')) AS id FROM generate_series(1, $1)`,
          [Math.max(block, n)],
        )
        .then((r) => void free.push(...r.rows.map((row) => Number(row.id))))
        .finally(() => (refill = undefined));
      await refill;
    }
    return free.splice(0, n);
  };
}

const keyOf = (sha256: Buffer | string, messageId: string | null | undefined): string =>
  `${typeof sha256 === 'string' ? sha256 : sha256.toString('hex')}|${messageId ?? ''}`;

const COLUMNS = [
  'mail_from',
  'rcpt_to',
  'remote_address',
  'helo',
  'smtp_session',
  'size',
  'sha256',
  'message_id',
  'raw',
] as const;

function rowOf(mail: RawMail) {
  return {
    mail_from: mail.mailFrom,
    rcpt_to: mail.rcptTo,
    remote_address: mail.remoteAddress ?? null,
    helo: mail.helo ?? null,
    smtp_session: mail.smtpSession ?? null,
    size: mail.raw.length,
    sha256: mail.sha256,
    message_id: mail.messageId ?? null,
    raw: mail.raw,
  };
}

/**
 * Queues pg-boss's insert of the jobs and, right behind it once it is on the wire, COMMIT. If
 * anything before failed, PostgreSQL has aborted the transaction and answers COMMIT with a
 * rollback: that is an error here, never mail committed without its job.
 */
async function insertJobsAndCommit(client: pg.PoolClient, query: Sql, boss: Boss, rawIds: number[]): Promise<void> {
  if (rawIds.length === 0) {
    await client.query('COMMIT');
    return;
  }
  let sent!: () => void;
  const onWire = new Promise<void>((resolve) => (sent = resolve));
  const jobs = boss.insert(
    QUEUES.inboundProcess,
    rawIds.map((rawId) => ({ data: { rawId } })),
    {
      // The job joins our transaction: pg-boss runs its insert through this adapter.
      db: {
        executeSql: (text, values) => {
          const result = query(text, values);
          sent();
          return result;
        },
      },
    },
  );
  const failedEarly = await Promise.race([
    onWire.then(() => false),
    jobs.then(
      () => false,
      () => true,
    ),
  ]);
  if (failedEarly) await jobs; // throws before COMMIT was ever sent
  const commit = client.query('COMMIT');
  const [inserted, committed] = await Promise.allSettled([jobs, commit]);
  if (inserted.status === 'rejected') throw inserted.reason;
  if (committed.status === 'rejected') throw committed.reason;
  if (committed.value.command !== 'COMMIT') throw new Error(`transaction not committed (${committed.value.command})`);
}

async function withClient<T>(pool: pg.Pool, fn: (client: pg.PoolClient, query: Sql) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    return await fn(client, prepared(client));
  } catch (err) {
    await client.query('ROLLBACK').catch((e: Error) => (broken = e));
    throw err;
  } finally {
    client.release(broken);
  }
}

/**
 * The one-round-trip path for mails we have not seen: undefined when one of them turns out to be
 * a copy of a stored mail (nothing was written then; the caller takes the careful path).
 */
async function storeFast(
  pool: pg.Pool,
  boss: Boss,
  mails: RawMail[],
  reserve: (n: number) => Promise<number[]>,
): Promise<Stored[] | undefined> {
  if (new Set(mails.map((m) => keyOf(m.sha256, m.messageId))).size !== mails.length) return undefined;
  const ids = await reserve(mails.length);
  return withClient(pool, async (client, query) => {
    const begin = client.query('BEGIN');
    let n = 0;
    const placeholders = mails.map(() => `($${++n}, ${COLUMNS.map(() => `$${++n}`).join(', ')})`).join(', ');
    const insert = query(
      `INSERT INTO raw_messages (id, ${COLUMNS.join(', ')}) OVERRIDING SYSTEM VALUE VALUES ${placeholders}`,
      mails.flatMap((m, i) => {
        const row = rowOf(m);
        return [ids[i], ...COLUMNS.map((c) => row[c])];
      }),
    );
    // Settled before awaiting the commit, so a rejection is never left unhandled.
    const inserted = Promise.allSettled([begin, insert]);
    try {
      await insertJobsAndCommit(client, query, boss, ids);
    } catch (err) {
      const [, ins] = await inserted;
      if (ins.status === 'rejected' && isUniqueViolation(ins.reason, 'raw_messages_dedupe_key')) return undefined;
      throw err;
    }
    return ids.map((id) => ({ id }));
  });
}

/** The careful path: one transaction that records copies of stored mails as duplicates. */
export async function storeBatch(pool: pg.Pool, boss: Boss, mails: RawMail[]): Promise<Stored[]> {
  return withClient(pool, async (client, query) => {
    const begin = client.query('BEGIN');
    const results = await insertMails(query, mails);
    await begin;
    await insertJobsAndCommit(
      client,
      query,
      boss,
      results.filter((r) => r.duplicateOf === undefined).map((r) => r.id),
    );
    return results;
  });
}

async function insertMails(query: Sql, mails: RawMail[]): Promise<Stored[]> {
  // The first copy of each (bytes, Message-ID) in the batch may be new; later copies in the same
  // batch are duplicates of it.
  const firstIndex = new Map<string, number>();
  mails.forEach((m, i) => {
    const key = keyOf(m.sha256, m.messageId);
    if (!firstIndex.has(key)) firstIndex.set(key, i);
  });
  const candidates = [...firstIndex.values()].map((i) => rowOf(mails[i]!));
  // A parallel insert of the same bytes waits on the unique index and then conflicts, so copies
  // racing each other from different connections still end as one original and duplicates.
  let n = 0;
  const placeholders = candidates.map(() => `(${COLUMNS.map(() => `$${++n}`).join(', ')})`).join(', ');
  const inserted = await query<{ id: number; sha: string; mid: string }>(
    `INSERT INTO raw_messages (${COLUMNS.join(', ')}) VALUES ${placeholders}
     ON CONFLICT (sha256, coalesce(message_id, '')) WHERE duplicate_of IS NULL DO NOTHING
     RETURNING id, encode(sha256, 'hex') AS sha, coalesce(message_id, '') AS mid`,
    candidates.flatMap((row) => COLUMNS.map((c) => row[c])),
  );
  const newIds = new Map(inserted.rows.map((r) => [keyOf(r.sha, r.mid), r.id]));

  const known = new Map<string, number>();
  const seen = [...firstIndex.keys()].filter((k) => !newIds.has(k));
  if (seen.length > 0) {
    const existing = await query<{ id: number; sha: string; mid: string }>(
      `SELECT id, encode(sha256, 'hex') AS sha, coalesce(message_id, '') AS mid FROM raw_messages
        WHERE duplicate_of IS NULL AND (sha256, coalesce(message_id, '')) IN
              (SELECT decode(k.sha, 'hex'), k.mid FROM unnest($1::text[], $2::text[]) AS k(sha, mid))`,
      [seen.map((k) => k.slice(0, 64)), seen.map((k) => k.slice(65))],
    );
    for (const r of existing.rows) known.set(keyOf(r.sha, r.mid), r.id);
  }

  const results: Stored[] = [];
  for (const [i, mail] of mails.entries()) {
    const key = keyOf(mail.sha256, mail.messageId);
    const newId = newIds.get(key);
    if (newId !== undefined && firstIndex.get(key) === i) {
      results.push({ id: newId });
      continue;
    }
    const original = newId ?? known.get(key);
    if (original === undefined) throw new Error('duplicate key conflict without an original row');
    // Duplicates are rare: one small insert each, the bytes not stored again.
    const row = rowOf(mail);
    const dup = await query<{ id: number }>(
      `INSERT INTO raw_messages (mail_from, rcpt_to, remote_address, helo, smtp_session, size, sha256, message_id, status, duplicate_of, processed_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'duplicate', $9, now()) RETURNING id`,
      [
        row.mail_from,
        row.rcpt_to,
        row.remote_address,
        row.helo,
        row.smtp_session,
        row.size,
        row.sha256,
        row.message_id,
        original,
      ],
    );
    results.push({ id: dup.rows[0]!.id, duplicateOf: original });
  }
  return results;
}
