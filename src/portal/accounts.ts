// Portal accounts: a customer's portal status (none, invited, active, disabled), their password,
// and signing in with any of their addresses. An unknown address and a wrong password take the
// same time and give the same answer (undefined): verifyPassword hashes even when there is no
// stored hash to compare with.
import type { Db } from '../db/index.ts';
import { ValidationError } from '../errors.ts';
import { hashPassword, MIN_PASSWORD_LENGTH, revokeTokens, verifyPassword } from '../access/index.ts';
import { normalizeAddress } from '../customers/index.ts';
import { endAllSessions, type PortalAccount, type PortalStatus } from './sessions.ts';

export const PORTAL_STATUSES = ['none', 'invited', 'active', 'disabled'] as const satisfies readonly PortalStatus[];
export type { PortalAccount, PortalStatus };
export const MAX_PASSWORD_LENGTH = 1024;

/** The account of the customer an address (any of theirs) belongs to. */
export async function accountByAddress(db: Db, address: string): Promise<PortalAccount | undefined> {
  const row = await db('customer_emails as e')
    .join('customers as c', 'c.id', 'e.customer_id')
    .leftJoin('customer_emails as p', function primary() {
      this.on('p.customer_id', 'c.id').andOnVal('p.is_primary', true);
    })
    .where('e.address', normalizeAddress(address))
    .first('c.id', 'c.name', 'p.address as email', 'c.portal_status', 'c.locale', 'c.company_id');
  return row && toAccount(row);
}

export async function accountById(db: Db, customerId: number): Promise<PortalAccount | undefined> {
  const row = await db('customers as c')
    .leftJoin('customer_emails as p', function primary() {
      this.on('p.customer_id', 'c.id').andOnVal('p.is_primary', true);
    })
    .where('c.id', customerId)
    .first('c.id', 'c.name', 'p.address as email', 'c.portal_status', 'c.locale', 'c.company_id');
  return row && toAccount(row);
}

function toAccount(r: {
  id: number;
  name: string;
  email: string | null;
  portal_status: PortalStatus;
  locale: string | null;
  company_id: number | null;
}): PortalAccount {
  return {
    customerId: Number(r.id),
    name: r.name,
    email: r.email,
    status: r.portal_status,
    locale: r.locale,
    companyId: r.company_id === null ? null : Number(r.company_id),
  };
}

/**
 * The customer whose address and password these are, with an active account; undefined for every
 * other case alike (unknown address, no password yet, wrong password, disabled account).
 */
export async function checkPassword(db: Db, address: string, password: string): Promise<number | undefined> {
  const row =
    password.length <= MAX_PASSWORD_LENGTH
      ? await db('customer_emails as e')
          .join('customers as c', 'c.id', 'e.customer_id')
          .where('e.address', normalizeAddress(address))
          .first('c.id', 'c.portal_status', 'c.portal_password_hash')
      : undefined;
  const ok = await verifyPassword(password.slice(0, MAX_PASSWORD_LENGTH), row?.portal_password_hash ?? null);
  return ok && row?.portal_status === 'active' ? Number(row.id) : undefined;
}

/** Why a password is refused, or undefined when it will do. */
export function passwordProblem(password: string): string | undefined {
  if (password.length < MIN_PASSWORD_LENGTH) return `at least ${MIN_PASSWORD_LENGTH} characters`;
  if (password.length > MAX_PASSWORD_LENGTH) return `at most ${MAX_PASSWORD_LENGTH} characters`;
  return undefined;
}

/**
 * Sets the customer's password and activates the account (a password link is how an invited
 * customer becomes active); every session they had ends. A disabled account stays disabled.
 */
export async function setPassword(db: Db, customerId: number, password: string): Promise<void> {
  const problem = passwordProblem(password);
  if (problem) throw new ValidationError(`password: ${problem}`);
  const hash = await hashPassword(password);
  await db('customers')
    .where({ id: customerId })
    .update({
      portal_password_hash: hash,
      portal_status: db.raw(`CASE WHEN portal_status = 'disabled' THEN 'disabled' ELSE 'active' END`),
      updated_at: db.fn.now(),
    });
  await endAllSessions(db, customerId);
}

/**
 * Deactivates the account: it can no longer sign in, is signed out everywhere at once, and every
 * link it was mailed (password, sign-up, sign-in) dies, so activating it again revives none.
 */
export async function deactivate(db: Db, customerId: number): Promise<void> {
  await db('customers').where({ id: customerId }).update({ portal_status: 'disabled', updated_at: db.fn.now() });
  await endAllSessions(db, customerId);
  await revokeLinks(db, customerId);
}

/**
 * The customer's addresses changed: a portal account follows its addresses (sign-in, links), so
 * every session ends and every mailed link dies; the customer signs in again with what they have.
 */
export async function addressesChanged(db: Db, customerId: number): Promise<void> {
  await endAllSessions(db, customerId);
  await revokeLinks(db, customerId);
}

/** Activates a disabled account again: active with a password, else invited (it needs one). */
export async function activate(db: Db, customerId: number): Promise<void> {
  await db('customers')
    .where({ id: customerId })
    .update({
      portal_status: db.raw(`CASE WHEN portal_password_hash IS NULL THEN 'invited' ELSE 'active' END`),
      updated_at: db.fn.now(),
    });
}

/**
 * Kills every link mailed for the account: password, sign-in and sign-up links by the customer,
 * and sign-up links sent to any of their addresses before the customer existed.
 */
async function revokeLinks(db: Db, customerId: number): Promise<void> {
  for (const purpose of ['password_set', 'signup', 'sign_in'] as const) await revokeTokens(db, purpose, { customerId });
  await db('tokens')
    .where({ purpose: 'signup' })
    .whereIn('address', db('customer_emails').where({ customer_id: customerId }).select('address'))
    .whereNull('revoked_at')
    .update({ revoked_at: db.fn.now() });
}
