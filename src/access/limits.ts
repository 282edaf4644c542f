// Rate limits and server keys kept in PostgreSQL, so every web process counts the same attempts
// and signs with the same key.
import { randomBytes } from 'node:crypto';
import type { Db } from '../db/index.ts';

export interface Limit {
  /** attempts allowed per window */
  max: number;
  windowSeconds: number;
}

/**
 * Counts one attempt under `key` in the current fixed window; true while within the limit.
 * Fixed windows let a burst of 2×max straddle a boundary: acceptable for slowing down guessing.
 */
export async function hit(db: Db, key: string, limit: Limit): Promise<boolean> {
  const { rows } = await db.raw<{ rows: { count: number }[] }>(
    `INSERT INTO rate_limits (key, window_start, count)
     VALUES (?, to_timestamp(floor(extract(epoch FROM now()) / ?) * ?), 1)
     ON CONFLICT (key, window_start) DO UPDATE SET count = rate_limits.count + 1
     RETURNING count`,
    [key, limit.windowSeconds, limit.windowSeconds],
  );
  return rows[0]!.count <= limit.max;
}

/**
 * Takes back one attempt counted by `hit` in the current window (an attempt counted ahead of a
 * slow check, so that parallel requests cannot all pass the limit, that turned out not to be a
 * failure).
 */
export async function release(db: Db, key: string, limit: Limit): Promise<void> {
  await db.raw(
    `UPDATE rate_limits SET count = count - 1
      WHERE key = ? AND window_start = to_timestamp(floor(extract(epoch FROM now()) / ?) * ?) AND count > 0`,
    [key, limit.windowSeconds, limit.windowSeconds],
  );
}

/** Whether `key` is still within the limit in the current window, without counting an attempt. */
export async function within(db: Db, key: string, limit: Limit): Promise<boolean> {
  const { rows } = await db.raw<{ rows: { count: number }[] }>(
    `SELECT count FROM rate_limits WHERE key = ? AND window_start = to_timestamp(floor(extract(epoch FROM now()) / ?) * ?)`,
    [key, limit.windowSeconds, limit.windowSeconds],
  );
  return (rows[0]?.count ?? 0) < limit.max;
}

export async function pruneRateLimits(db: Db): Promise<number> {
  return db('rate_limits').where('window_start', '<', db.raw(`now() - interval '1 day'`)).delete();
}

/** A 256-bit key by name, made once and shared by every process. */
export async function serverKey(db: Db, name: string): Promise<Buffer> {
  await db('app_secrets')
    .insert({ name, value: randomBytes(32) })
    .onConflict('name')
    .ignore();
  const row = await db('app_secrets').where({ name }).first('value');
  return row.value as Buffer;
}

/**
 * The key a client is counted by in rate limits: an IPv4 address as it is, an IPv6 client by its
 * /64 (one household or host has them all).
 */
export function clientKey(ip: string): string {
  if (!ip.includes(':') || ip.startsWith('::ffff:')) return ip.replace(/^::ffff:/, '');
  const groups = ip.split('::');
  const head = groups[0]!.split(':').filter(Boolean);
  const tail = groups.length > 1 ? groups[1]!.split(':').filter(Boolean) : [];
  const full = [...head, ...Array(8 - head.length - tail.length).fill('0'), ...tail];
  return `${full.slice(0, 4).join(':')}::/64`;
}
