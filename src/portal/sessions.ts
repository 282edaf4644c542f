// Portal sessions: the cookie holds a secret, PostgreSQL its sha256. A session lives until sign-out,
// SESSION_IDLE of no use, or SESSION_MAX after sign-in, whichever comes first; a password change or
// a deactivation ends every session of the customer at once. A session id is never reused: each
// sign-in makes a new one (no fixation).
import { type Db, type Statement, statementRows } from '../db/index.ts';
import { hashSecret, newSecret } from '../access/index.ts';
import { effectivePermissions, type PortalPermission } from '../customers/index.ts';

export const SESSION_IDLE_SECONDS = 12 * 3600;
export const SESSION_MAX_SECONDS = 14 * 86400;
/** last_seen_at is written at most this often: a page view is a read, not a write */
const TOUCH_EVERY_SECONDS = 60;

export type PortalStatus = 'none' | 'invited' | 'active' | 'disabled';

/** A customer as the portal knows them. */
export interface PortalAccount {
  customerId: number;
  name: string;
  email: string | null;
  status: PortalStatus;
  locale: string | null;
  companyId: number | null;
}

export interface PortalSession {
  id: number;
  customerId: number;
  account: PortalAccount;
  /** the customer's portal permissions as they are now (customer's, else company's, else default) */
  permissions: Record<PortalPermission, boolean>;
}

export async function createSession(
  db: Db,
  customerId: number,
  client: { ip?: string; userAgent?: string } = {},
): Promise<{ secret: string; id: number }> {
  const secret = newSecret();
  const [row] = await db('portal_sessions')
    .insert({
      token_hash: hashSecret(secret),
      customer_id: customerId,
      expires_at: db.raw(`now() + make_interval(secs => ?)`, [SESSION_MAX_SECONDS]),
      ip: client.ip ?? null,
      user_agent: client.userAgent?.slice(0, 512) ?? null,
    })
    .returning('id');
  await db('customers').where({ id: customerId }).update({ last_sign_in_at: db.fn.now() });
  return { secret, id: row.id };
}

interface SessionRow {
  id: string;
  customer_id: string;
  stale: boolean;
  name: string;
  email: string | null;
  portal_status: PortalStatus;
  locale: string | null;
  company_id: string | null;
  own: Record<string, boolean> | null;
  company: Record<string, boolean> | null;
}

/**
 * The live session a cookie's secret names, with its customer's account and permissions, in one
 * round trip (every portal page asks): not ended, not expired, not idle too long, and its customer
 * still has an active portal account. Marks it seen (at most once a minute).
 */
export async function findSession(db: Db, secret: string): Promise<PortalSession | undefined> {
  return sessionFrom(db, await statementRows<SessionRow>(db, sessionStatement(secret)));
}

/**
 * findSession's statement, for a page that sends it together with its own (db SharedPipeline);
 * sessionFrom reads its rows.
 */
export function sessionStatement(secret: string): Statement {
  return {
    sql: `SELECT s.id, s.customer_id, s.last_seen_at < now() - make_interval(secs => ?) AS stale,
                 c.name, p.address AS email, c.portal_status, c.locale, c.company_id,
                 c.portal_permissions AS own, co.portal_permissions AS company
            FROM portal_sessions s
            JOIN customers c ON c.id = s.customer_id
            LEFT JOIN customer_emails p ON p.customer_id = c.id AND p.is_primary
            LEFT JOIN companies co ON co.id = c.company_id
           WHERE s.token_hash = ? AND s.ended_at IS NULL AND s.expires_at > now()
             AND s.last_seen_at > now() - make_interval(secs => ?)
             AND c.portal_status = 'active'`,
    bindings: [TOUCH_EVERY_SECONDS, hashSecret(secret), SESSION_IDLE_SECONDS],
  };
}

/** The session of sessionStatement's rows, if any; marks it seen when it is due. */
export async function sessionFrom(db: Db, rows: readonly unknown[]): Promise<PortalSession | undefined> {
  const s = rows[0] as SessionRow | undefined;
  if (!s) return undefined;
  if (s.stale) await db('portal_sessions').where({ id: s.id }).update({ last_seen_at: db.fn.now() });
  const customerId = Number(s.customer_id);
  return {
    id: Number(s.id),
    customerId,
    account: {
      customerId,
      name: s.name,
      email: s.email,
      status: s.portal_status,
      locale: s.locale,
      companyId: s.company_id === null ? null : Number(s.company_id),
    },
    permissions: effectivePermissions(s.own ?? {}, s.company),
  };
}

export async function endSession(db: Db, id: number): Promise<void> {
  await db('portal_sessions').where({ id }).whereNull('ended_at').update({ ended_at: db.fn.now() });
}

/** Ends every session of the customer (password changed, account deactivated). */
export async function endAllSessions(db: Db, customerId: number): Promise<number> {
  return db('portal_sessions')
    .where({ customer_id: customerId })
    .whereNull('ended_at')
    .update({ ended_at: db.fn.now() });
}

/** Sessions long over are of no further use: housekeeping deletes them after a day. */
export async function pruneSessions(db: Db): Promise<number> {
  return db('portal_sessions')
    .where((q) =>
      q
        .where('expires_at', '<', db.raw(`now() - interval '1 day'`))
        .orWhere('ended_at', '<', db.raw(`now() - interval '1 day'`))
        .orWhere(
          'last_seen_at',
          '<',
          db.raw(`now() - make_interval(secs => ?) - interval '1 day'`, [SESSION_IDLE_SECONDS]),
        ),
    )
    .delete();
}
