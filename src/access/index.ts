// Secrets, password hashes and single-purpose tokens. A secret is 256 random bits shown once;
// only its sha256 is stored, so a database leak does not hand out working links or API keys.
import { createHash, randomBytes, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import type { Db } from '../db/index.ts';

export function newSecret(): string {
  return randomBytes(32).toString('base64url');
}

export function hashSecret(secret: string): Buffer {
  return createHash('sha256').update(secret, 'utf8').digest();
}

function scrypt(password: string, salt: Buffer, keylen: number, options: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scryptCb(password, salt, keylen, options, (err, key) => (err ? reject(err) : resolve(key))),
  );
}

// scrypt at one of OWASP's recommended settings (N=2^16, r=8, p=2: 64 MiB); the parameters
// travel in the hash so they can be raised later without breaking stored ones.
const SCRYPT = { N: 2 ** 16, r: 8, p: 2, keylen: 32 };
export const MIN_PASSWORD_LENGTH = 10;

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const { N, r, p, keylen } = SCRYPT;
  const key = await scrypt(password.normalize('NFKC'), salt, keylen, { N, r, p, maxmem: 256 * N * r });
  return ['scrypt', N, r, p, salt.toString('base64url'), key.toString('base64url')].join('$');
}

export async function verifyPassword(password: string, stored: string | null): Promise<boolean> {
  const parts = stored?.split('$');
  if (parts?.length !== 6 || parts[0] !== 'scrypt') {
    // same cost as a real check, so timing does not tell an unknown account from a wrong password
    await hashPassword(password);
    return false;
  }
  const [, n, r, p, salt, hash] = parts as [string, string, string, string, string, string];
  const expected = Buffer.from(hash, 'base64url');
  const key = await scrypt(password.normalize('NFKC'), Buffer.from(salt, 'base64url'), expected.length, {
    N: Number(n),
    r: Number(r),
    p: Number(p),
    maxmem: 256 * Number(n) * Number(r),
  });
  return timingSafeEqual(key, expected);
}

const TOKEN_PURPOSES = ['ticket_link', 'password_set', 'session', 'signup', 'sign_in'] as const;
export type TokenPurpose = (typeof TOKEN_PURPOSES)[number];
/**
 * A token's subject: one agent, customer or ticket; or, for a ticket link, one customer of one
 * ticket; or, for a sign-up link, the (normalised) address it was mailed to, nobody's customer yet.
 */
export type TokenSubject =
  | { agentId: number }
  | { customerId: number }
  | { ticketId: number }
  | { ticketId: number; customerId: number }
  | { address: string };

export interface TokenRow {
  id: number;
  purpose: TokenPurpose;
  agent_id: number | null;
  customer_id: number | null;
  ticket_id: number | null;
  /** a sign-up link's address (then no agent, customer or ticket) */
  address: string | null;
  expires_at: Date;
}

/** A new token for one purpose and subject; returns the secret, which exists nowhere else. */
export async function issueToken(
  db: Db,
  purpose: TokenPurpose,
  subject: TokenSubject,
  ttlSeconds: number,
): Promise<{ secret: string; id: number; expiresAt: Date }> {
  const secret = newSecret();
  const [row] = await db('tokens')
    .insert({
      purpose,
      token_hash: hashSecret(secret),
      agent_id: 'agentId' in subject ? subject.agentId : null,
      customer_id: 'customerId' in subject ? subject.customerId : null,
      ticket_id: 'ticketId' in subject ? subject.ticketId : null,
      address: 'address' in subject ? subject.address : null,
      expires_at: db.raw(`now() + make_interval(secs => ?)`, [ttlSeconds]),
    })
    .returning(['id', 'expires_at']);
  return { secret, id: row.id, expiresAt: row.expires_at };
}

/** The live token a secret names, for this purpose only: not expired, used or revoked. */
export async function findToken(db: Db, purpose: TokenPurpose, secret: string): Promise<TokenRow | undefined> {
  return db('tokens')
    .where({ token_hash: hashSecret(secret), purpose })
    .whereNull('used_at')
    .whereNull('revoked_at')
    .where('expires_at', '>', db.fn.now())
    .first<TokenRow | undefined>('id', 'purpose', 'agent_id', 'customer_id', 'ticket_id', 'address', 'expires_at');
}

/** Marks a single-use token used; false when another request used it first. */
export async function useToken(db: Db, id: number): Promise<boolean> {
  const n = await db('tokens')
    .where({ id })
    .whereNull('used_at')
    .whereNull('revoked_at')
    .update({ used_at: db.fn.now() });
  return n === 1;
}

/** Revokes the live tokens of a purpose whose subject matches every field given (a ticket's: all of its links). */
export async function revokeTokens(db: Db, purpose: TokenPurpose, subject: TokenSubject): Promise<number> {
  const where: Record<string, number | string> = {};
  if ('agentId' in subject) where.agent_id = subject.agentId;
  if ('customerId' in subject) where.customer_id = subject.customerId;
  if ('ticketId' in subject) where.ticket_id = subject.ticketId;
  if ('address' in subject) where.address = subject.address;
  return db('tokens')
    .where({ purpose, ...where })
    .whereNull('revoked_at')
    .whereNull('used_at')
    .update({ revoked_at: db.fn.now() });
}

export { clientKey, hit, pruneRateLimits, release, serverKey, within, type Limit } from './limits.ts';
