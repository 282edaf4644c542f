// What the commands share: the database for a command, usage errors, and output.
import type { Config } from '../config.ts';
import { createLogger, type Logger } from '../log.ts';
import { migrate, openDatabase } from '../setup.ts';
import { createDb, type Knex } from '../db/index.ts';

export class UsageError extends Error {}

/** Runs a command against the database; the embedded server is started for it when needed. */
export async function withDatabase(
  config: Config,
  fn: (db: Knex, log: Logger, url: string) => Promise<number>,
  opts: { migrate?: boolean } = {},
): Promise<number> {
  const log = createLogger(config.logLevel === 'info' ? 'warn' : config.logLevel, 2);
  const database = await openDatabase(config, log);
  try {
    // A fresh embedded database has no schema yet: commands work on it straight away.
    if (opts.migrate || database.embedded)
      await migrate(database.url, opts.migrate ? log.child({}, { level: 'info' }) : log);
    const db = createDb(database.url, { poolMax: 2, applicationName: 'inbound-cli', log });
    try {
      return await fn(db, log, database.url);
    } finally {
      await db.destroy();
    }
  } finally {
    await database.close();
  }
}

export function parseLimit(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new UsageError('--limit must be a whole number');
  return n;
}

export function printJson(rows: unknown): void {
  process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
}

export function printTable(rows: Record<string, string | number | boolean>[]): void {
  if (rows.length === 0) {
    console.log('(none)');
    return;
  }
  const keys = Object.keys(rows[0]!);
  const cells = rows.map((r) => keys.map((k) => String(r[k])));
  const widths = keys.map((k, i) => Math.min(60, Math.max(k.length, ...cells.map((c) => c[i]!.length))));
  const line = (vals: string[]) =>
    vals
      .map((v, i) => (v.length > widths[i]! ? `${v.slice(0, widths[i]! - 1)}…` : v.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  console.log(line(keys));
  for (const c of cells) console.log(line(c));
}
