// What every admin page needs: the cookies (session and pre-session), CSRF tokens bound to them,
// the signed-in admin, and rendering inside the admin layout.
//
// As in the portal: a form's CSRF token is an HMAC of the form's name and the session, or of the
// pre-session cookie before sign-in. The cookies are the admin area's own (names and Path=/admin),
// HttpOnly, SameSite=Strict (nothing links into the admin area from elsewhere that needs a
// session), and Secure when served over https.
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Knex } from 'knex';
import { Eta } from 'eta';
import type { Logger } from '../../log.ts';
import type { Boss } from '../../queue/index.ts';
import { type AdminSession, findAdminSession } from '../../admin/index.ts';
import { appendCookie, parseCookies, FormTokens } from '../forms.ts';
import type { Assets } from './assets.ts';

export const ADMIN_COOKIE = 'inbound_admin';
export const ADMIN_PRE_COOKIE = 'inbound_admin_pre';
const COOKIE_SECRET = /^[A-Za-z0-9_-]{43}$/;

export interface AdminDeps {
  db: Knex;
  boss: Boss;
  log: Logger;
  /** where links point (PUBLIC_URL, or this machine): https there makes cookies Secure */
  publicUrl: string;
}

export interface AdminVisitor {
  /** a live session: signed in, or (pending) waiting for the second factor */
  session?: AdminSession;
  pre?: string;
}

declare module 'fastify' {
  interface FastifyRequest {
    admin: AdminVisitor;
  }
}

const views = path.resolve(import.meta.dirname, '../../../templates/admin');

export class AdminContext {
  readonly eta = new Eta({ views, autoEscape: true, cache: process.env.NODE_ENV === 'production' });
  readonly deps: AdminDeps;
  readonly secure: boolean;
  readonly assets: Assets;
  private readonly tokens: FormTokens;

  constructor(deps: AdminDeps, csrfKey: Buffer, assets: Assets) {
    this.deps = deps;
    this.tokens = new FormTokens('admin', csrfKey);
    this.assets = assets;
    this.secure = deps.publicUrl.startsWith('https:');
  }

  async visitor(request: FastifyRequest): Promise<AdminVisitor> {
    const cookies = parseCookies(request.headers.cookie);
    const visitor: AdminVisitor = {};
    if (COOKIE_SECRET.test(cookies[ADMIN_PRE_COOKIE] ?? '')) visitor.pre = cookies[ADMIN_PRE_COOKIE];
    const secret = cookies[ADMIN_COOKIE];
    if (secret && COOKIE_SECRET.test(secret)) visitor.session = await findAdminSession(this.deps.db, secret);
    return visitor;
  }

  /** The signed-in admin (not pending, role admin); pages behind sign-in only run with one. */
  agent(request: FastifyRequest) {
    const s = request.admin.session;
    if (!s || s.pending || s.agent.role !== 'admin') throw new Error('admin page without an admin');
    return s.agent;
  }

  /** The token of one form for this visitor; makes the pre-session cookie when there is none. */
  csrf(request: FastifyRequest, reply: FastifyReply, form: string): string {
    const v = request.admin;
    if (!v.session && !v.pre) {
      v.pre = randomBytes(32).toString('base64url');
      this.setCookie(reply, ADMIN_PRE_COOKIE, v.pre, 86400);
    }
    return this.tokens.token(FormTokens.binding(v)!, form);
  }

  csrfOk(request: FastifyRequest, form: string, given: unknown): boolean {
    return this.tokens.check(FormTokens.binding(request.admin), form, given);
  }

  setCookie(reply: FastifyReply, name: string, value: string, maxAgeSeconds: number): void {
    const parts = [`${name}=${value}`, 'Path=/admin', 'HttpOnly', 'SameSite=Strict', `Max-Age=${maxAgeSeconds}`];
    if (this.secure) parts.push('Secure');
    reply.header('set-cookie', appendCookie(reply.getHeader('set-cookie'), parts.join('; ')));
  }

  clearCookie(reply: FastifyReply, name: string): void {
    this.setCookie(reply, name, '', 0);
  }

  /** A page in the admin layout. `nav`: which menu entry is current. */
  page(
    request: FastifyRequest,
    reply: FastifyReply,
    view: string,
    data: Record<string, unknown> & { title: string; nav?: string },
    status = 200,
  ): FastifyReply {
    const s = request.admin.session;
    const signedIn = s && !s.pending && s.agent.role === 'admin' ? s.agent : undefined;
    const body = this.eta.render(view, { ...data, assets: this.assets.urls });
    const html = this.eta.render('layout', {
      title: data.title,
      nav: data.nav,
      body,
      agent: signedIn,
      signOutCsrf: s ? this.csrf(request, reply, 'sign-out') : undefined,
      assets: this.assets.urls,
      scripts: (data.scripts as string[] | undefined) ?? [],
    });
    return reply.code(status).type('text/html; charset=utf-8').send(Buffer.from(html));
  }

  message(request: FastifyRequest, reply: FastifyReply, title: string, text: string, status: number): FastifyReply {
    return this.page(request, reply, 'message', { title, text }, status);
  }

  /** A form posted without its token, or with an old one. */
  expired(request: FastifyRequest, reply: FastifyReply): FastifyReply {
    return this.message(
      request,
      reply,
      'Form expired',
      'This form was open too long or came from somewhere else. Go back, reload the page and try again.',
      403,
    );
  }
}
