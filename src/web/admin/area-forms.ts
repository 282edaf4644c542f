// What the admin area's set-up pages (portal, help, portal users, inboxes) share about forms: the
// posted fields as strings and switches, ids in paths, and a refusal from a domain turned into
// what the form says.
import type { FastifyReply, FastifyRequest } from 'fastify';
import { AppError } from '../../errors.ts';
import type { AdminContext } from './context.ts';

/** An urlencoded form as the admin area parses it: name -> value. */
export type Posted = Record<string, string | undefined>;
export type Form = { Body: Posted | undefined };

/** A text field's value ('' when absent); line ends as the browser sent them become \n. */
export function text(body: Posted | undefined, name: string): string {
  const v = body?.[name];
  return typeof v === 'string' ? v.replace(/\r\n?/g, '\n') : '';
}

/** A checkbox: present (any value) is on. */
export function checked(body: Posted | undefined, name: string): boolean {
  return typeof body?.[name] === 'string';
}

/** A database id from a path segment; undefined when it cannot be one. */
export function idParam(raw: string): number | undefined {
  return /^[1-9]\d{0,14}$/.test(raw) ? Number(raw) : undefined;
}

/**
 * What the person filling in the form can fix (a domain's refusal: invalid, conflict, too large,
 * not found), as status and message; anything else is ours and is thrown on.
 */
export function refusal(err: unknown): { status: number; message: string; details?: Record<string, unknown> } {
  if (err instanceof AppError && err.status >= 400 && err.status < 500)
    return { status: err.status, message: err.message, details: err.details };
  throw err;
}

/** The field a domain message is about (`branding.name: ...`, `title: ...`), and the rest of it. */
export function fieldOf(message: string): { field?: string; text: string } {
  const m = /^([a-z_]+(?:\.[a-z_]+)*): (.*)$/s.exec(message);
  return m ? { field: m[1]!, text: m[2]! } : { text: message };
}

/** A domain's message as a sentence on a page: capital first, full stop last. */
export function sentence(message: string): string {
  const s = message.charAt(0).toUpperCase() + message.slice(1);
  return /[.!?]$/.test(s) ? s : `${s}.`;
}

/** The token check every posted form starts with; the 403 page when it fails. */
export function badToken(
  ctx: AdminContext,
  request: FastifyRequest<Form>,
  reply: FastifyReply,
  form: string,
): FastifyReply | undefined {
  return ctx.csrfOk(request, form, request.body?.csrf) ? undefined : ctx.expired(request, reply);
}

export function notFound(ctx: AdminContext, request: FastifyRequest, reply: FastifyReply, what: string): FastifyReply {
  return ctx.message(request, reply, 'Not found', `There is no such ${what}. It may have been deleted.`, 404);
}

/** The entry of a fixed table a query parameter names (`?done=saved`), never one of Object's own keys. */
export function pick<T>(table: Readonly<Record<string, T>>, key: string | undefined): T | undefined {
  return key !== undefined && Object.hasOwn(table, key) ? table[key] : undefined;
}
