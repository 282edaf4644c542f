// A few pipelined node-postgres connections that every request shares, for statements that are
// short reads (the portal's session and list). A request takes no connection for itself: its
// statements go on the least busy connection at once, behind whatever is in flight there, and each
// backend answers many requests' statements per wake-up. A pool that lends a connection to one
// request at a time makes the others wait for it and wakes a backend per statement, which is what
// the portal list spent most of its time on under load.
//
// Only for statements that do not wait on locks or run long: one slow statement holds up those
// queued behind it on its connection. So every statement has a deadline (STATEMENT_TIMEOUT_MS in
// the server, lock waits LOCK_TIMEOUT_MS), and a connection that answers nothing for QUERY_TIMEOUT_MS
// is cut, which fails what is in flight on it at once and makes the next request connect afresh.
import type { Knex } from 'knex';
import pg from 'pg';
import type { Logger } from '../log.ts';
import { corked, prepared } from './sql.ts';

/** A statement with knex-style `?` bindings, to be sent by whoever runs it. */
export interface Statement {
  sql: string;
  bindings: readonly Knex.Value[];
}

const STATEMENT_TIMEOUT_MS = 5_000;
const LOCK_TIMEOUT_MS = 2_000;
const QUERY_TIMEOUT_MS = 10_000;
/** how long end() lets what is in flight finish before it cuts the connections */
const END_GRACE_MS = 5_000;

interface Slot {
  /** the connection, once connected; undefined when it is to be (re)made */
  client?: Promise<pg.Client>;
  inFlight: number;
}

export class SharedPipeline {
  private readonly slots: Slot[];
  private ended = false;

  private readonly url: string;
  private readonly options: { applicationName?: string; log?: Logger };

  constructor(url: string, size: number, options: { applicationName?: string; log?: Logger } = {}) {
    this.url = url;
    this.options = options;
    this.slots = Array.from({ length: Math.max(1, size) }, () => ({ inFlight: 0 }));
  }

  /**
   * Sends the statements together, in one write, on the least busy connection: one round trip for
   * what a page needs at once. Each stands alone (its own sync): one failing fails only its own
   * result, settled here in order. Each is a named prepared statement (sql.ts prepared); `db` only
   * turns `?` into `$n`.
   */
  async rows(
    db: Knex | Knex.Transaction,
    statements: readonly Statement[],
  ): Promise<PromiseSettledResult<unknown[]>[]> {
    if (this.ended) throw new Error('the shared pipeline has ended');
    const natives = statements.map((s) => db.raw(s.sql, s.bindings).toSQL().toNative());
    const slot = this.slots.reduce((a, b) => (b.inFlight < a.inFlight ? b : a));
    slot.inFlight++;
    try {
      const made = this.connection(slot);
      const client = await made;
      const run = prepared(client);
      const answers = corked(client, () =>
        natives.map((n) => run(n.sql, n.bindings as unknown[]).then((r) => r.rows as unknown[])),
      );
      const settled = await Promise.allSettled(answers);
      if (settled.some((r) => r.status === 'rejected' && unusable(r.reason)) && slot.client === made) {
        slot.client = undefined;
        client.end().catch(() => undefined);
      }
      return settled;
    } finally {
      slot.inFlight--;
    }
  }

  async end(): Promise<void> {
    this.ended = true;
    await Promise.all(
      this.slots.map(async (slot) => {
        const made = slot.client;
        slot.client = undefined;
        const client = made && (await made.catch(() => undefined));
        if (!client) return;
        // end() waits for what is in flight; a connection that answers nothing is cut after a grace
        const cut = setTimeout(
          () => (client as unknown as { connection: { stream: { destroy(): void } } }).connection.stream.destroy(),
          END_GRACE_MS,
        );
        await client.end().catch(() => undefined);
        clearTimeout(cut);
      }),
    );
  }

  private connection(slot: Slot): Promise<pg.Client> {
    if (!slot.client) {
      const client = new pg.Client({
        connectionString: this.url,
        application_name: this.options.applicationName ?? 'inbound',
        pipeline: true,
        connectionTimeoutMillis: 5_000,
        keepAlive: true,
        keepAliveInitialDelayMillis: 10_000,
        statement_timeout: STATEMENT_TIMEOUT_MS,
        lock_timeout: LOCK_TIMEOUT_MS,
        query_timeout: QUERY_TIMEOUT_MS,
      } as pg.ClientConfig);
      const made = client.connect().then(() => client);
      slot.client = made;
      // a connection lost (the server gone, a network cut) is made again by the next request; what
      // was in flight on it fails with the error, and nothing is left waiting
      const lost = (err?: Error) => {
        if (err) this.options.log?.warn({ error: err.message }, 'shared database connection lost');
        if (slot.client === made) slot.client = undefined;
      };
      client.on('error', lost);
      client.on('end', () => lost());
      made.catch((err: Error) => lost(err));
    }
    return slot.client;
  }
}

/**
 * Whether a connection that answered this error should go: the connection failed (no SQLSTATE),
 * the server is ending it (class 08, 57P), or it can no longer run a statement it has prepared
 * (26000: gone; 0A000: the result's type changed under it), which node-postgres would send by name
 * again and again.
 */
function unusable(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== 'string' || !/^[0-9A-Z]{5}$/.test(code)) return true;
  return code.startsWith('08') || code.startsWith('57P') || code === '26000' || code === '0A000';
}
