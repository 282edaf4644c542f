// What every server-rendered area (the ticket page, the portal, the admin area) sets up in its own
// plugin: urlencoded forms parsed into a plain object, and the security headers on every answer.
import type { FastifyInstance } from 'fastify';

/** Forms post at most this much (uploads are multipart, with their own limits). */
const FORM_LIMIT = 256 * 1024;

/** `application/x-www-form-urlencoded` bodies as name -> value (the last of a repeated name). */
export function parseForms(app: FastifyInstance, bodyLimit = FORM_LIMIT): void {
  app.addContentTypeParser(
    'application/x-www-form-urlencoded',
    { parseAs: 'string', bodyLimit },
    (_req, body, done) => {
      done(null, Object.fromEntries(new URLSearchParams(body as string)));
    },
  );
}

/** Sets each header on every answer that has not set it itself. */
export function securityHeaders(app: FastifyInstance, headers: Readonly<Record<string, string>>): void {
  app.addHook('onSend', async (_req, reply) => {
    for (const [k, v] of Object.entries(headers)) if (!reply.hasHeader(k)) reply.header(k, v);
  });
}

/** Cookie header to name -> value (the first of each name). */
export function parseCookies(header: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!header) return out;
  for (const part of header.slice(0, 8192).split(';')) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    const name = part.slice(0, eq).trim();
    if (!(name in out)) out[name] = part.slice(eq + 1).trim();
  }
  return out;
}

/** The set-cookie header with one more cookie. */
export function appendCookie(current: unknown, cookie: string): string[] {
  if (current === undefined) return [cookie];
  return [...(Array.isArray(current) ? current.map(String) : [String(current)]), cookie];
}
