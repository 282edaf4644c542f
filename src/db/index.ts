// The knex instance and the migrations. Services take a `Db`, which may be a transaction, so one
// unit of work passes through several services without globals.
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import knexFactory, { type Knex } from 'knex';
import pg from 'pg';
import type { Logger } from '../log.ts';
import { prepared } from './sql.ts';
import type { Statement } from './shared-pipeline.ts';

export type Db = Knex | Knex.Transaction;
export type { Knex };

// bigint ids and counts come back as strings by default; ours stay far below 2^53.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number(v));

export interface DbOptions {
  poolMax?: number;
  applicationName?: string;
  /** Where knex's own warnings go (it prints to the console otherwise). */
  log?: Logger;
}

export function createDb(url: string, options: DbOptions = {}): Knex {
  return knexFactory({
    client: 'pg',
    connection: {
      connectionString: url,
      application_name: options.applicationName ?? 'inbound',
      // A database that does not answer must turn into a quick temporary failure (SMTP 451),
      // not a client waiting for minutes.
      connectionTimeoutMillis: 5_000,
      keepAlive: true,
    },
    pool: { min: 0, max: options.poolMax ?? 10, idleTimeoutMillis: 30_000 },
    acquireConnectionTimeout: 10_000,
    ...(options.log && {
      log: {
        warn: (m: unknown) => options.log!.warn({ knex: String(m) }, 'database warning'),
        error: (m: unknown) => options.log!.error({ knex: String(m) }, 'database error'),
        deprecate: (m: unknown) => options.log!.warn({ knex: String(m) }, 'database deprecation'),
        debug: (m: unknown) => options.log!.debug({ knex: m }, 'database debug'),
      },
    }),
  });
}

/**
 * A plain node-postgres pool, for the one hot path that wants named prepared statements and as
 * few round trips as possible (SMTP ingest); everything else goes through knex.
 */
export function createPgPool(url: string, options: DbOptions & { pipeline?: boolean } = {}): pg.Pool {
  const pool = new pg.Pool({
    // pipelined: a query is sent without waiting for the answer to the one before it
    ...(options.pipeline && { pipeline: true }),
    connectionString: url,
    application_name: options.applicationName ?? 'inbound',
    max: options.poolMax ?? 10,
    connectionTimeoutMillis: 5_000,
    idleTimeoutMillis: 30_000,
    keepAlive: true,
  });
  // An idle connection the server drops must not take the process down; the next query reconnects.
  pool.on('error', (err: Error & { code?: string }) =>
    options.log?.warn({ error: err.message, code: err.code }, 'idle database connection lost'),
  );
  // A connection lost while checked out (the ingest's write, a worker lane's batch) rejects what
  // was in flight on it, and its holder releases it as broken. node-postgres also emits 'error' on
  // the client, which the pool hears only while the client is idle: unheard, it ends the process.
  pool.on('connect', (client) => client.on('error', () => undefined));
  return pool;
}

const migrationsDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../migrations');

interface MigrationModule {
  up(knex: Knex): Promise<void>;
  down(knex: Knex): Promise<void>;
}

// Our own migration source: the files are TypeScript modules loaded with import(), which works
// the same under the CLI and the test runner, whatever compiler `tsc` is.
const migrationSource: Knex.MigrationSource<string> = {
  async getMigrations() {
    const files = await readdir(migrationsDir);
    return files.filter((f) => /^\d{14}_[\w-]+\.ts$/.test(f)).sort();
  },
  getMigrationName(file) {
    return file.replace(/\.ts$/, '');
  },
  async getMigration(file) {
    return (await import(pathToFileURL(path.join(migrationsDir, file)).href)) as MigrationModule;
  },
};

/** Brings the schema up to date; returns the names of the migrations that ran. */
export async function migrateLatest(db: Knex): Promise<string[]> {
  const [, ran] = (await db.migrate.latest({ migrationSource })) as [number, string[]];
  return ran;
}

/** Is the database reachable right now? */
export async function ping(db: Db): Promise<boolean> {
  try {
    await db.raw('select 1');
    return true;
  } catch {
    return false;
  }
}

export { corked, prepared, type Sql } from './sql.ts';
export { SharedPipeline, type Statement } from './shared-pipeline.ts';

/**
 * Rows of a statement sent as a named prepared statement on a connection of the pool (sql.ts
 * prepared): planned once per connection, for the statements every page sends, whose planning
 * costs more than their running. Inside a transaction, an ordinary statement on it.
 */
export async function preparedRows<R>(db: Db, sql: string, bindings: readonly Knex.Value[]): Promise<R[]> {
  if (db.isTransaction) return (await db.raw<{ rows: R[] }>(sql, bindings)).rows;
  const native = db.raw(sql, bindings).toSQL().toNative();
  const conn = await db.client.acquireConnection();
  try {
    return (await prepared(conn)(native.sql, native.bindings as unknown[])).rows as R[];
  } finally {
    await db.client.releaseConnection(conn);
  }
}

/** Rows of one statement, as preparedRows sends it. */
export function statementRows<R>(db: Db, s: Statement): Promise<R[]> {
  return preparedRows<R>(db, s.sql, s.bindings);
}

/** The URL a knex instance of createDb connects to. */
export function connectionUrl(db: Knex): string {
  const c = db.client.config.connection as { connectionString?: string } | string;
  const url = typeof c === 'string' ? c : c.connectionString;
  if (!url) throw new Error('the database has no connection URL');
  return url;
}

export { startEmbeddedPostgres, type EmbeddedServer } from './embedded.ts';
