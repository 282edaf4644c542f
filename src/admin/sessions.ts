// Admin sessions, as the portal's: the cookie holds a secret, PostgreSQL its sha256; a session ends
// at sign-out, after SESSION_IDLE of no use or SESSION_MAX after sign-in, and every session of an
// agent ends when their password changes, their second factor changes, or they lose the admin role
// or are disabled (the lookup checks both on every request). A sign-in whose second factor is
// still to come is a pending session: it opens the code page only, for PENDING_SECONDS.
import { type Db, preparedRows } from '../db/index.ts';
import { hashSecret, newSecret } from '../access/index.ts';

export const ADMIN_SESSION_IDLE_SECONDS = 2 * 3600;
export const ADMIN_SESSION_MAX_SECONDS = 12 * 3600;
const PENDING_SECONDS = 5 * 60;
/** wrong codes a pending session may give before it is ended */
export const MAX_CODE_FAILURES = 5;
const TOUCH_EVERY_SECONDS = 60;

export interface AdminAgent {
  id: number;
  name: string;
  email: string;
  role: 'admin' | 'agent';
  totpEnabled: boolean;
}

export interface AdminSession {
  id: number;
  agent: AdminAgent;
  /** the password was right; the second factor is still to come */
  pending: boolean;
}

export async function createAdminSession(
  db: Db,
  agentId: number,
  o: { pending: boolean; ip?: string; userAgent?: string },
): Promise<{ secret: string; id: number }> {
  const secret = newSecret();
  const [row] = await db('admin_sessions')
    .insert({
      token_hash: hashSecret(secret),
      agent_id: agentId,
      second_factor_pending: o.pending,
      expires_at: db.raw(`now() + make_interval(secs => ?)`, [o.pending ? PENDING_SECONDS : ADMIN_SESSION_MAX_SECONDS]),
      ip: o.ip ?? null,
      user_agent: o.userAgent?.slice(0, 512) ?? null,
    })
    .returning('id');
  if (!o.pending) await db('agents').where({ id: agentId }).update({ last_sign_in_at: db.fn.now() });
  return { secret, id: Number(row.id) };
}

interface Row {
  id: string;
  stale: boolean;
  pending: boolean;
  agent_id: string;
  name: string;
  email: string;
  role: 'admin' | 'agent';
  totp: boolean;
}

/**
 * The live session a cookie's secret names, with its agent, in one round trip: not ended, expired
 * or idle too long, and its agent still enabled. The role is returned as it is now: pages refuse a
 * session whose agent is no longer an admin.
 */
export async function findAdminSession(db: Db, secret: string): Promise<AdminSession | undefined> {
  const rows = await preparedRows<Row>(
    db,
    `SELECT s.id, s.last_seen_at < now() - make_interval(secs => ?) AS stale, s.second_factor_pending AS pending,
            a.id AS agent_id, a.name, a.email, a.role, a.totp_enabled_at IS NOT NULL AS totp
       FROM admin_sessions s JOIN agents a ON a.id = s.agent_id
      WHERE s.token_hash = ? AND s.ended_at IS NULL AND s.expires_at > now()
        AND s.last_seen_at > now() - make_interval(secs => ?) AND NOT a.disabled`,
    [TOUCH_EVERY_SECONDS, hashSecret(secret), ADMIN_SESSION_IDLE_SECONDS],
  );
  const s = rows[0];
  if (!s) return undefined;
  if (s.stale) await db('admin_sessions').where({ id: s.id }).update({ last_seen_at: db.fn.now() });
  return {
    id: Number(s.id),
    pending: s.pending,
    agent: { id: Number(s.agent_id), name: s.name, email: s.email, role: s.role, totpEnabled: s.totp },
  };
}

/**
 * The second factor was given: the pending session ends and a full one begins (a new secret, so
 * the cookie of the half-signed-in state is worth nothing afterwards).
 */
export async function upgradeAdminSession(
  db: Db,
  pending: AdminSession,
  client: { ip?: string; userAgent?: string },
): Promise<{ secret: string; id: number }> {
  await endAdminSession(db, pending.id);
  return createAdminSession(db, pending.agent.id, { pending: false, ...client });
}

/**
 * Takes one of the pending session's tries at a code, before the code is checked (so parallel
 * requests cannot all pass): false, and the session ends, when it has none left. A right code
 * ends the session anyway (upgradeAdminSession).
 */
export async function takeCodeTry(db: Db, sessionId: number): Promise<boolean> {
  const taken = await db('admin_sessions')
    .where({ id: sessionId })
    .whereNull('ended_at')
    .where('code_failures', '<', MAX_CODE_FAILURES)
    .increment('code_failures', 1)
    .returning('code_failures');
  if (taken.length === 0) {
    await endAdminSession(db, sessionId);
    return false;
  }
  return true;
}

/** After a wrong code: ends the session when that was its last try. Whether it lives on. */
export async function afterWrongCode(db: Db, sessionId: number): Promise<boolean> {
  const n = await db('admin_sessions')
    .where({ id: sessionId })
    .where('code_failures', '>=', MAX_CODE_FAILURES)
    .whereNull('ended_at')
    .update({ ended_at: db.fn.now() });
  return n === 0;
}

export async function endAdminSession(db: Db, id: number): Promise<void> {
  await db('admin_sessions').where({ id }).whereNull('ended_at').update({ ended_at: db.fn.now() });
}

/** Ends every session of the agent, but `except` (the one that made the change, when it stays). */
export async function endAllAdminSessions(db: Db, agentId: number, except?: number): Promise<number> {
  return db('admin_sessions')
    .where({ agent_id: agentId })
    .whereNull('ended_at')
    .modify((q) => {
      if (except !== undefined) q.whereNot({ id: except });
    })
    .update({ ended_at: db.fn.now() });
}

/** Housekeeping: sessions long over. */
export async function pruneAdminSessions(db: Db): Promise<number> {
  return db('admin_sessions')
    .where('expires_at', '<', db.raw(`now() - interval '1 day'`))
    .orWhere('ended_at', '<', db.raw(`now() - interval '1 day'`))
    .orWhere(
      'last_seen_at',
      '<',
      db.raw(`now() - make_interval(secs => ?) - interval '1 day'`, [ADMIN_SESSION_IDLE_SECONDS]),
    )
    .delete();
}
