// Agents signing in to the admin area: the password check (an unknown address, a wrong password, a
// disabled agent and an agent without a password all take the same time and give the same
// answer), and setting the password from the link `inbound admin create` prints.
import type { Db } from '../db/index.ts';
import { ValidationError } from '../errors.ts';
import {
  findToken,
  hashPassword,
  MIN_PASSWORD_LENGTH,
  revokeTokens,
  useToken,
  verifyPassword,
} from '../access/index.ts';
import { normalizeAddress } from '../customers/index.ts';
import { endAllAdminSessions } from './sessions.ts';

export const MAX_PASSWORD_LENGTH = 1024;

export interface SignedInAgent {
  id: number;
  role: 'admin' | 'agent';
  totpEnabled: boolean;
}

/** The enabled agent these are the address and password of; undefined for every other case alike. */
export async function checkAgentPassword(db: Db, email: string, password: string): Promise<SignedInAgent | undefined> {
  const row =
    password.length <= MAX_PASSWORD_LENGTH
      ? await db('agents')
          .where({ email: normalizeAddress(email) })
          .first<{
            id: string;
            role: 'admin' | 'agent';
            disabled: boolean;
            password_hash: string | null;
            totp: boolean;
          }>('id', 'role', 'disabled', 'password_hash', db.raw('totp_enabled_at IS NOT NULL AS totp'))
      : undefined;
  const ok = await verifyPassword(password.slice(0, MAX_PASSWORD_LENGTH), row?.password_hash ?? null);
  if (!ok || !row || row.disabled) return undefined;
  return { id: Number(row.id), role: row.role, totpEnabled: row.totp };
}

/** Why a password is refused, or undefined when it will do. */
export function agentPasswordProblem(password: string): string | undefined {
  if (password.length < MIN_PASSWORD_LENGTH) return `at least ${MIN_PASSWORD_LENGTH} characters`;
  if (password.length > MAX_PASSWORD_LENGTH) return `at most ${MAX_PASSWORD_LENGTH} characters`;
  return undefined;
}

/** The agent a live password link is for, without using it (the page shows the form). */
export async function passwordLinkAgent(db: Db, secret: string): Promise<{ id: number; email: string } | undefined> {
  const token = await findToken(db, 'password_set', secret);
  if (!token?.agent_id) return undefined;
  const agent = await db('agents').where({ id: token.agent_id, disabled: false }).first('id', 'email');
  return agent && { id: Number(agent.id), email: agent.email };
}

/**
 * Sets an agent's password with a password link: the link is used up (once only, even when two
 * requests race), the agent's other links die and every session of theirs ends.
 */
export async function setAgentPasswordByLink(db: Db, secret: string, password: string): Promise<number | undefined> {
  const problem = agentPasswordProblem(password);
  if (problem) throw new ValidationError(`password: ${problem}`);
  const token = await findToken(db, 'password_set', secret);
  if (!token?.agent_id) return undefined;
  const hash = await hashPassword(password);
  return db.transaction(async (trx) => {
    if (!(await useToken(trx, token.id))) return undefined;
    const n = await trx('agents').where({ id: token.agent_id!, disabled: false }).update({ password_hash: hash });
    if (n !== 1) return undefined;
    await revokeTokens(trx, 'password_set', { agentId: token.agent_id! });
    await endAllAdminSessions(trx, token.agent_id!);
    return Number(token.agent_id);
  });
}
