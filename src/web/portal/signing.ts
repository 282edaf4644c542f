// What the sign-in page and the account pages share: the key an address is counted by in rate
// limits, and starting a session (a new id every time: no fixation).
import { createHash } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { normalizeAddress } from '../../customers/index.ts';
import { createSession, endSession, SESSION_MAX_SECONDS } from '../../portal/index.ts';
import { type PortalContext, PRE_SESSION_COOKIE, SESSION_COOKIE } from './context.ts';

/** A key for an address in the rate-limit table: its hash, so the table holds no addresses. */
export function addressKey(address: string): string {
  return createHash('sha256').update(normalizeAddress(address)).digest('hex').slice(0, 32);
}

/**
 * Signs the customer in: a new session and its cookie (a session the browser had, of whoever,
 * ends), the pre-session cookie gone, and on to their tickets.
 */
export async function beginSession(
  ctx: PortalContext,
  request: FastifyRequest,
  reply: FastifyReply,
  customerId: number,
): Promise<FastifyReply> {
  const { db } = ctx.deps;
  if (request.visitor.session) await endSession(db, request.visitor.session.id);
  const session = await createSession(db, customerId, { ip: request.ip, userAgent: request.headers['user-agent'] });
  ctx.setCookie(reply, SESSION_COOKIE, session.secret, SESSION_MAX_SECONDS);
  ctx.clearCookie(reply, PRE_SESSION_COOKIE);
  return reply.redirect('/portal/tickets', 303);
}
