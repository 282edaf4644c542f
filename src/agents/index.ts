// Agents (the people answering tickets; admins also manage templates and the directory) and the
// API tokens they use. A token is "inb_" + 256 random bits; only its sha256 is stored.
import type { Db } from '../db/index.ts';
import { ConflictError, ValidationError } from '../errors.ts';
import { hashPassword, hashSecret, MIN_PASSWORD_LENGTH, newSecret } from '../access/index.ts';
import { isValidAddress, normalizeAddress } from '../customers/index.ts';

export const AGENT_ROLES = ['admin', 'agent'] as const;
export type AgentRole = (typeof AGENT_ROLES)[number];

export interface Agent {
  id: number;
  name: string;
  email: string;
  role: AgentRole;
  disabled: boolean;
}

const COLUMNS = ['id', 'name', 'email', 'role', 'disabled'];
const TOKEN_PREFIX = 'inb_';

export async function createAgent(
  db: Db,
  a: { email: string; name?: string; role: AgentRole; password?: string },
): Promise<Agent> {
  const email = normalizeAddress(a.email);
  if (!isValidAddress(email)) throw new ValidationError(`not an email address: ${a.email}`);
  if (a.password !== undefined && a.password.length < MIN_PASSWORD_LENGTH) {
    throw new ValidationError(`a password needs at least ${MIN_PASSWORD_LENGTH} characters`);
  }
  const [row] = await db('agents')
    .insert({
      email,
      name: a.name?.trim() || email.slice(0, email.indexOf('@')),
      role: a.role,
      password_hash: a.password === undefined ? null : await hashPassword(a.password),
    })
    .onConflict(db.raw('(email)'))
    .ignore()
    .returning(COLUMNS);
  if (!row) throw new ConflictError(`there is already an agent ${email}`);
  return row;
}

export async function findAgentByEmail(db: Db, email: string): Promise<Agent | undefined> {
  return db('agents')
    .where({ email: normalizeAddress(email) })
    .first<Agent | undefined>(COLUMNS);
}

/** A new API token for an agent; the secret is returned once and stored nowhere. */
export async function createApiToken(db: Db, agentId: number, name = ''): Promise<{ id: number; token: string }> {
  const token = TOKEN_PREFIX + newSecret();
  const [row] = await db('api_tokens')
    .insert({ agent_id: agentId, name, token_hash: hashSecret(token), prefix: token.slice(0, TOKEN_PREFIX.length + 6) })
    .returning('id');
  return { id: row.id, token };
}

export async function revokeApiToken(db: Db, id: number): Promise<boolean> {
  return (await db('api_tokens').where({ id }).whereNull('revoked_at').update({ revoked_at: db.fn.now() })) === 1;
}

/** The enabled agent a bearer token belongs to, if the token is live. */
export async function agentForApiToken(db: Db, token: string): Promise<(Agent & { token_id: number }) | undefined> {
  if (!token.startsWith(TOKEN_PREFIX) || token.length > 100) return undefined;
  const row = await db('api_tokens as t')
    .join('agents as a', 'a.id', 't.agent_id')
    .where('t.token_hash', hashSecret(token))
    .whereNull('t.revoked_at')
    .where('a.disabled', false)
    .first('a.id', 'a.name', 'a.email', 'a.role', 'a.disabled', 't.id as token_id', 't.last_used_at');
  if (!row) return undefined;
  // "last used" to the minute: not a write on every request
  if (!row.last_used_at || Date.now() - row.last_used_at.getTime() > 60_000) {
    await db('api_tokens').where({ id: row.token_id }).update({ last_used_at: db.fn.now() });
  }
  const { last_used_at: _, ...agent } = row;
  return agent;
}
