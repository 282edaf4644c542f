// What every portal page needs: the cookies (session and pre-session), CSRF tokens bound to them,
// the language, the signed-in customer, and rendering inside the branded layout.
//
// CSRF: a form's token is an HMAC of the form's name and the session (signed in) or of the
// pre-session cookie (sign-in, sign-up, forgot: so that nobody can make a visitor's browser sign in
// to the attacker's account). Both cookies are HttpOnly, SameSite=Lax, Path=/portal, and Secure
// when the portal is served over https.
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Knex } from 'knex';
import { hashSecret } from '../../access/index.ts';
import type { SharedPipeline, Statement } from '../../db/index.ts';
import { Eta } from 'eta';
import type { Logger } from '../../log.ts';
import type { Boss } from '../../queue/index.ts';
import type { PortalPermission } from '../../customers/index.ts';
import {
  findSession,
  getPortalSettings,
  pageBranding,
  type PortalAccount,
  type PortalSettings,
  sessionFrom,
  sessionStatement,
} from '../../portal/index.ts';
import type { CustomerViewer } from '../../tickets/index.ts';
import { type Language, type MessageKey, pickLanguage, translate } from './i18n.ts';
import { appendCookie, parseCookies, FormTokens } from '../forms.ts';

export const SESSION_COOKIE = 'inbound_portal';
export const PRE_SESSION_COOKIE = 'inbound_portal_pre';
const COOKIE_SECRET = /^[A-Za-z0-9_-]{43}$/;
/** viewers kept for `along`, before starting afresh */
const VIEWERS_KEPT = 10_000;

export interface PortalDeps {
  db: Knex;
  /** shared pipelined connections: a page's statement goes with the session's, in one round trip */
  reads: SharedPipeline;
  boss: Boss;
  log: Logger;
  /** where links in mail point (PUBLIC_URL, or this machine): https there makes cookies Secure */
  publicUrl: string;
  reopenDays: number;
  ticketLinkDays: number;
}

export interface Visitor {
  lang: Language;
  settings: PortalSettings;
  /** the signed-in customer and their session, when there is one */
  session?: { id: number; account: PortalAccount; permissions: Record<PortalPermission, boolean> };
  /** the pre-session cookie's value (set on the first anonymous page) */
  pre?: string;
  /** the rows of the route's `along` statement, sent with the session's for the viewer guessed */
  along?: { viewer: CustomerViewer; rows: unknown[] };
}

/**
 * A route's statement to send together with the session's, for the viewer the session had last
 * time (config `along`). The route uses its rows only when the session, read fresh in the same
 * round trip, gives that same viewer (sameViewer); else it asks again, as without.
 */
export type Along = (request: FastifyRequest, viewer: CustomerViewer) => Statement | undefined;

declare module 'fastify' {
  interface FastifyContextConfig {
    along?: Along;
  }
}

/** Who the signed-in customer is to the tickets domain's visibility rule. */
export function viewerOf(account: PortalAccount, permissions: Record<PortalPermission, boolean>): CustomerViewer {
  return {
    customerId: account.customerId,
    companyId: account.companyId,
    companyTickets: permissions.view_company_tickets,
  };
}

/** Whether two viewers see the same tickets. */
export function sameViewer(a: CustomerViewer, b: CustomerViewer): boolean {
  return a.customerId === b.customerId && a.companyId === b.companyId && a.companyTickets === b.companyTickets;
}

declare module 'fastify' {
  interface FastifyRequest {
    visitor: Visitor;
  }
}

const views = path.resolve(import.meta.dirname, '../../../templates/portal');

export class PortalContext {
  readonly eta = new Eta({ views, autoEscape: true, cache: process.env.NODE_ENV === 'production' });
  readonly deps: PortalDeps;
  readonly secure: boolean;
  private readonly tokens: FormTokens;
  /** the viewer each session had last time, by session secret's hash: what `along` guesses */
  private readonly viewers = new Map<string, CustomerViewer>();

  constructor(deps: PortalDeps, csrfKey: Buffer) {
    this.deps = deps;
    this.tokens = new FormTokens('portal', csrfKey);
    this.secure = deps.publicUrl.startsWith('https:');
  }

  /**
   * Reads the cookies, the settings and the language; the session, when its cookie is live. With
   * the route's `along` and a viewer known for the session, both statements go in one round trip.
   */
  async visitor(request: FastifyRequest, along?: Along): Promise<Visitor> {
    const cookies = parseCookies(request.headers.cookie);
    const settings = await getPortalSettings(this.deps.db);
    const visitor: Visitor = {
      settings,
      lang: pickLanguage(settings.language, request.headers['accept-language']),
      ...(COOKIE_SECRET.test(cookies[PRE_SESSION_COOKIE] ?? '') && { pre: cookies[PRE_SESSION_COOKIE] }),
    };
    const secret = cookies[SESSION_COOKIE];
    if (secret && COOKIE_SECRET.test(secret)) {
      const statement = sessionStatement(secret);
      const key = hashSecret(secret).toString('base64');
      const guess = along && this.viewers.get(key);
      const extra = guess && along(request, guess);
      let session: Awaited<ReturnType<typeof findSession>>;
      if (guess && extra) {
        const [found, rows] = await this.deps.reads.rows(this.deps.db, [statement, extra]);
        if (found!.status === 'rejected') throw found!.reason;
        session = await sessionFrom(this.deps.db, found!.value);
        // a list that failed is asked again by the route, as without
        if (session && rows!.status === 'fulfilled') visitor.along = { viewer: guess, rows: rows!.value };
      } else session = await findSession(this.deps.db, secret);
      if (session) {
        visitor.session = { id: session.id, account: session.account, permissions: session.permissions };
        if (this.viewers.size >= VIEWERS_KEPT) this.viewers.clear();
        this.viewers.set(key, viewerOf(session.account, session.permissions));
      } else this.viewers.delete(key); // a dead cookie costs the session's lookup alone from now on
    }
    return visitor;
  }

  t(request: FastifyRequest, key: MessageKey, vars?: Record<string, string | number>): string {
    return translate(request.visitor.lang, key, vars);
  }

  /** The token of one form for this visitor; makes the pre-session cookie when there is none. */
  csrf(request: FastifyRequest, reply: FastifyReply, form: string): string {
    const v = request.visitor;
    if (!v.session && !v.pre) {
      v.pre = randomBytes(32).toString('base64url');
      this.setCookie(reply, PRE_SESSION_COOKIE, v.pre, 86400);
    }
    return this.tokens.token(FormTokens.binding(v)!, form);
  }

  csrfOk(request: FastifyRequest, form: string, given: unknown): boolean {
    return this.tokens.check(FormTokens.binding(request.visitor), form, given);
  }

  setCookie(reply: FastifyReply, name: string, value: string, maxAgeSeconds: number): void {
    const parts = [`${name}=${value}`, 'Path=/portal', 'HttpOnly', 'SameSite=Lax', `Max-Age=${maxAgeSeconds}`];
    if (this.secure) parts.push('Secure');
    reply.header('set-cookie', appendCookie(reply.getHeader('set-cookie'), parts.join('; ')));
  }

  clearCookie(reply: FastifyReply, name: string): void {
    this.setCookie(reply, name, '', 0);
  }

  /** A page in the branded layout, in the visitor's language. */
  page(
    request: FastifyRequest,
    reply: FastifyReply,
    view: string,
    data: Record<string, unknown>,
    status = 200,
  ): FastifyReply {
    const v = request.visitor;
    const t = (key: MessageKey, vars?: Record<string, string | number>) => translate(v.lang, key, vars);
    const body = this.eta.render(view, { ...data, t, visitor: v });
    const html = this.eta.render('layout', {
      title: data.title ?? t('portal.title'),
      body,
      t,
      lang: v.lang,
      branding: brandingView(v.settings),
      account: v.session?.account,
      canCreate: v.session?.permissions.create_tickets ?? false,
      signOutCsrf: v.session ? this.csrf(request, reply, 'sign-out') : undefined,
      // a closed portal's page (its one page) links nowhere
      helpDocs: v.settings.enabled && v.settings.help_docs,
    });
    // one Buffer: eta's output is a string built of many pieces, which a socket write would flatten
    // and encode in pieces (a profile of the list page put that first)
    return reply.code(status).type('text/html; charset=utf-8').send(Buffer.from(html));
  }

  notFound(request: FastifyRequest, reply: FastifyReply): FastifyReply {
    return this.page(
      request,
      reply,
      'message',
      { title: this.t(request, 'error.notFound'), text: this.t(request, 'error.notFoundText') },
      404,
    );
  }
}

/** What the layout shows of the branding (portal/settings.ts pageBranding: the one sanitizing rule), and the logo. */
function brandingView(settings: PortalSettings) {
  return {
    ...pageBranding(settings.branding),
    /** the uploaded logo, by a URL that changes with it (cached long); a closed portal serves none */
    logo: settings.logo && settings.enabled ? `/portal/logo?v=${settings.logo.version}` : undefined,
  };
}
