// What every server-rendered area (the ticket page, the portal, the admin area) sets up in its own
// plugin: urlencoded forms parsed into a plain object, and the security headers on every answer.
import { createHmac, timingSafeEqual } from 'node:crypto';
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

/** CSRF tokens made, before a FormTokens starts afresh */
const TOKENS_KEPT = 10_000;

/**
 * The CSRF tokens of one area's forms (portal, admin): an HMAC of the area, what the visitor is
 * bound to (their session, or before sign-in their pre-session cookie) and the form's name, with a
 * key of the server's. Every signed-in page signs its sign-out form, so a token is kept once made
 * (the key never changes in a process; a new session or pre-session is a new message).
 */
export class FormTokens {
  private readonly area: string;
  private readonly key: Buffer;
  private readonly made = new Map<string, string>();

  constructor(area: string, key: Buffer) {
    this.area = area;
    this.key = key;
  }

  /** What a visitor's tokens are bound to: the session, else the pre-session, else nothing yet. */
  static binding(v: { session?: { id: number }; pre?: string }): string | undefined {
    return v.session ? `session:${v.session.id}` : v.pre ? `pre:${v.pre}` : undefined;
  }

  token(binding: string, form: string): string {
    const message = `${this.area}:${binding}:${form}`;
    let token = this.made.get(message);
    if (token === undefined) {
      if (this.made.size >= TOKENS_KEPT) this.made.clear();
      token = createHmac('sha256', this.key).update(message).digest('base64url');
      this.made.set(message, token);
    }
    return token;
  }

  /** Whether `given` is the form's token for this binding (none: never). */
  check(binding: string | undefined, form: string, given: unknown): boolean {
    if (!binding) return false;
    const want = Buffer.from(this.token(binding, form));
    const got = Buffer.from(typeof given === 'string' ? given : '');
    return got.length === want.length && timingSafeEqual(got, want);
  }
}
