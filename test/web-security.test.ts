// The web role under attack, route by route: every route the server has is listed in ROUTES with
// what it is (a page, a form, a file, the API) and who opens it, and a route the table does not
// know fails the suite, so a new route gets its checks before it ships. Against a real web process,
// database, SMTP ingest and worker, and Debian's chromium:
//
// - CSRF: every form of every page (found by reading the pages as each kind of visitor sees them)
//   is refused without its token and with another session's, and nothing changes; with its own
//   token it is not refused.
// - stored XSS: hostile mail (From name, subject, text, HTML, file names, Cc names, headers) comes
//   in over SMTP; every page that shows it (ticket page, portal, admin) is inert, read as markup and
//   run in chromium with the CSP switched off, so that escaping alone is what holds.
// - clickjacking: every HTML answer forbids framing; the admin's portal preview may be framed by
//   the admin area only (headers, and chromium framing the pages from another site).
// - brute force: sign-in (portal, admin), password links, ticket links, sessions, API tokens.
// - session fixation, open redirects, path traversal on downloads, injection on every list filter.
import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Parser } from 'htmlparser2';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { createTestDatabase, type TestDatabase } from './helpers/db.ts';
import { eventually, startBossFor, startTestIngest, startTestWorker, testLog } from './helpers/app.ts';
import { sendRaw } from './helpers/smtp-client.ts';
import { startBrowser } from './helpers/browser.ts';
import { follow, makeTicket } from './helpers/tickets.ts';
import { totp } from './helpers/totp.ts';
import { hit, issueToken } from '../src/access/index.ts';
import { createAgent, createApiToken } from '../src/agents/index.ts';
import { createDb, type Knex } from '../src/db/index.ts';
import { createInboxStore } from '../src/inboxes/index.ts';
import { createArticle, setLogo, setPassword, updatePortalSettings } from '../src/portal/index.ts';
import type { Boss } from '../src/queue/index.ts';
import { buildWeb, listenWeb } from '../src/web/index.ts';

const PUBLIC = 'http://help.inbound.test';
const PASSWORD = 'correct horse battery staple';
const ADMIN_PASSWORD = 'admin password 12345';
/** what a refused form says: expired (pages), out of date (the live check's JSON) */
const EXPIRED = /expired|out of date/i;

// ---- the route table ----

type Who = 'portal-anon' | 'customer' | 'link' | 'admin-anon' | 'admin' | 'pending';
type Filter = 'text' | 'email' | 'search' | 'number' | 'enum' | 'cursor';
type Treatment =
  /** health and the front door: no HTML, no cookies */
  | { kind: 'health' }
  /** the JSON API: bearer tokens; list filters by type */
  | { kind: 'api'; public?: true; filters?: Record<string, Filter> }
  /** an HTML page; `query`: the parameters it reads */
  | { kind: 'page'; as: Who; query?: string[]; framedBySelf?: true }
  /** a download (attachment, logo, asset, CSV) */
  | { kind: 'file'; as: Who }
  /** a redirect only */
  | { kind: 'redirect'; as: Who }
  /** a form post carrying a `csrf` field */
  | { kind: 'form' }
  /** a JSON post carrying an X-CSRF-Token header */
  | { kind: 'json' };

const PAGE = (as: Who, query?: string[]): Treatment => ({ kind: 'page', as, ...(query && { query }) });
const API = (filters?: Record<string, Filter>): Treatment => ({ kind: 'api', ...(filters && { filters }) });
const PAGED = { limit: 'number', cursor: 'cursor' } as const;

const ROUTES: Record<string, Treatment> = {
  'GET /': { kind: 'health' },
  'GET /healthz': { kind: 'health' },
  'GET /readyz': { kind: 'health' },
  'GET /metrics': { kind: 'health' },

  'GET /api/v1/openapi.json': { kind: 'api', public: true },
  'GET /api/v1/tickets': API({
    ...PAGED,
    status: 'enum',
    inbox_id: 'number',
    customer_id: 'number',
    company_id: 'number',
  }),
  'GET /api/v1/tickets/:id': API(),
  'PATCH /api/v1/tickets/:id': API(),
  'POST /api/v1/tickets/:id/followers': API(),
  'DELETE /api/v1/tickets/:id/followers/:customer_id': API(),
  'POST /api/v1/tickets/:id/replies': API(),
  'POST /api/v1/tickets/:id/revoke-links': API(),
  'GET /api/v1/customers': API({ ...PAGED, company_id: 'number', email: 'email', q: 'text' }),
  'POST /api/v1/customers': API(),
  'POST /api/v1/customers/import': API(),
  'GET /api/v1/customers/:id': API(),
  'PATCH /api/v1/customers/:id': API(),
  'DELETE /api/v1/customers/:id': API(),
  'POST /api/v1/customers/:id/emails': API(),
  'DELETE /api/v1/customers/:id/emails/:email': API(),
  'POST /api/v1/customers/:id/merge': API(),
  'GET /api/v1/customers/:id/tickets': API(PAGED),
  'GET /api/v1/companies': API({ ...PAGED, name: 'text' }),
  'POST /api/v1/companies': API(),
  'GET /api/v1/companies/:id': API(),
  'PATCH /api/v1/companies/:id': API(),
  'DELETE /api/v1/companies/:id': API(),
  'GET /api/v1/companies/:id/customers': API(PAGED),
  'GET /api/v1/companies/:id/tickets': API(PAGED),
  'GET /api/v1/outbound': API({ ...PAGED, status: 'enum' }),
  'GET /api/v1/portal-users': API({ ...PAGED, status: 'enum', q: 'text' }),
  'POST /api/v1/portal-users': API(),
  'GET /api/v1/portal-users/export': API(),
  'GET /api/v1/portal-users/:id': API(),
  'POST /api/v1/portal-users/:id/invite': API(),
  'POST /api/v1/portal-users/:id/activate': API(),
  'POST /api/v1/portal-users/:id/deactivate': API(),
  'GET /api/v1/portal-settings': API(),
  'PATCH /api/v1/portal-settings': API(),
  'PUT /api/v1/portal-settings/logo': API(),
  'DELETE /api/v1/portal-settings/logo': API(),
  'GET /api/v1/help-articles': API({ limit: 'number', locale: 'enum', published: 'enum', q: 'search' }),
  'POST /api/v1/help-articles': API(),
  'GET /api/v1/help-articles/:id': API(),
  'PATCH /api/v1/help-articles/:id': API(),
  'DELETE /api/v1/help-articles/:id': API(),

  'GET /t/:secret': PAGE('link', ['done']),
  'GET /t/:secret/attachments/:sha': { kind: 'file', as: 'link' },
  'POST /t/:secret/reply': { kind: 'form' },
  'POST /t/:secret/close': { kind: 'form' },
  'POST /t/:secret/resend': { kind: 'form' },

  'GET /portal': { kind: 'redirect', as: 'portal-anon' },
  'GET /portal/sign-in': PAGE('portal-anon', ['done']),
  'POST /portal/sign-in': { kind: 'form' },
  'POST /portal/sign-out': { kind: 'form' },
  'GET /portal/forgot': PAGE('portal-anon', ['email']),
  'POST /portal/forgot': { kind: 'form' },
  'GET /portal/sign-in/mail': PAGE('portal-anon', ['email']),
  'POST /portal/sign-in/mail': { kind: 'form' },
  'GET /portal/sign-up': PAGE('portal-anon', ['email']),
  'POST /portal/sign-up': { kind: 'form' },
  'GET /portal/password/:secret': PAGE('portal-anon'),
  'POST /portal/password/:secret': { kind: 'form' },
  'GET /portal/sign-up/:secret': PAGE('portal-anon'),
  'POST /portal/sign-up/:secret': { kind: 'form' },
  'GET /portal/sign-in/link/:secret': PAGE('portal-anon'),
  'POST /portal/sign-in/link/:secret': { kind: 'form' },
  'GET /portal/help': PAGE('portal-anon', ['q']),
  'GET /portal/help/:id': PAGE('portal-anon'),
  'GET /portal/logo': { kind: 'file', as: 'portal-anon' },
  'GET /portal/tickets': PAGE('customer', ['q', 'status', 'scope', 'after']),
  'GET /portal/tickets/new': PAGE('customer', ['subject', 'inbox']),
  'POST /portal/tickets/new': { kind: 'form' },
  'GET /portal/tickets/:id': PAGE('customer', ['done']),
  'GET /portal/tickets/:id/attachments/:sha': { kind: 'file', as: 'customer' },
  'POST /portal/tickets/:id/reply': { kind: 'form' },
  'POST /portal/tickets/:id/close': { kind: 'form' },
  'POST /portal/tickets/:id/reopen': { kind: 'form' },
  'POST /portal/tickets/:id/fields': { kind: 'form' },

  'GET /admin/sign-in': PAGE('admin-anon', ['done']),
  'POST /admin/sign-in': { kind: 'form' },
  'GET /admin/sign-in/code': PAGE('pending'),
  'POST /admin/sign-in/code': { kind: 'form' },
  'POST /admin/sign-out': { kind: 'form' },
  'GET /admin/password/:secret': PAGE('admin-anon'),
  'POST /admin/password/:secret': { kind: 'form' },
  'GET /admin/assets/:hash/admin.css': { kind: 'file', as: 'admin-anon' },
  'GET /admin/assets/:hash/editor.js': { kind: 'file', as: 'admin-anon' },
  'GET /admin': PAGE('admin'),
  'GET /admin/events': PAGE('admin', ['before']),
  'GET /admin/account': PAGE('admin'),
  'POST /admin/account/totp/begin': { kind: 'form' },
  'POST /admin/account/totp/confirm': { kind: 'form' },
  'POST /admin/account/totp/disable': { kind: 'form' },
  'POST /admin/account/totp/codes': { kind: 'form' },
  'GET /admin/templates': PAGE('admin'),
  'POST /admin/templates/locale': { kind: 'form' },
  'GET /admin/templates/:name/:locale': PAGE('admin', ['done', 'ticket', 'no_name', 'no_attachments', 'long_subject']),
  'POST /admin/templates/:name/:locale/draft': { kind: 'form' },
  'POST /admin/templates/:name/:locale/publish': { kind: 'form' },
  'POST /admin/templates/:name/:locale/discard': { kind: 'form' },
  'POST /admin/templates/:name/:locale/test': { kind: 'form' },
  'POST /admin/templates/:name/:locale/live': { kind: 'json' },
  'GET /admin/templates/:name/:locale/versions': PAGE('admin', ['done']),
  'GET /admin/templates/:name/:locale/diff': PAGE('admin', ['a', 'b']),
  'POST /admin/templates/:name/:locale/rollback': { kind: 'form' },
  'POST /admin/templates/:name/:locale/default': { kind: 'form' },
  'GET /admin/portal': PAGE('admin', ['done']),
  'POST /admin/portal': { kind: 'form' },
  'GET /admin/portal/preview': { kind: 'page', as: 'admin', framedBySelf: true },
  'POST /admin/portal/preview': { kind: 'form' },
  'GET /admin/portal/logo': { kind: 'file', as: 'admin' },
  'POST /admin/portal/logo': { kind: 'form' },
  'POST /admin/portal/logo/remove': { kind: 'form' },
  'GET /admin/portal-users': PAGE('admin', ['q', 'status', 'after', 'done', 'who']),
  'POST /admin/portal-users': { kind: 'form' },
  'GET /admin/portal-users/export': { kind: 'file', as: 'admin' },
  'POST /admin/portal-users/:id/:action': { kind: 'form' },
  'GET /admin/help': PAGE('admin', ['locale', 'state', 'done']),
  'GET /admin/help/new': PAGE('admin'),
  'POST /admin/help': { kind: 'form' },
  'GET /admin/help/:id': PAGE('admin', ['done']),
  'POST /admin/help/:id': { kind: 'form' },
  'POST /admin/help/:id/publish': { kind: 'form' },
  'GET /admin/help/:id/delete': PAGE('admin'),
  'POST /admin/help/:id/delete': { kind: 'form' },
  'GET /admin/inboxes': PAGE('admin', ['done']),
  'POST /admin/inboxes': { kind: 'form' },
  'GET /admin/inboxes/:id': PAGE('admin', ['done']),
  'POST /admin/inboxes/:id': { kind: 'form' },
};

const entries = <K extends Treatment['kind']>(kind: K) =>
  Object.entries(ROUTES).filter((e): e is [string, Extract<Treatment, { kind: K }>] => e[1].kind === kind);

/** The hash in each admin asset's URL, by file name. */
const assetHashes = new Map<string, string>();

/** The routes of the server, read from Fastify's own printout of its router (every route, HEAD too). */
function routesOf(tree: string): string[] {
  const out: string[] = [];
  const path: string[] = [];
  for (const line of tree.split('\n')) {
    const m = /^((?:[│ ] {3})*)[├└]── (.+?)(?: \(([A-Z, ]+)\))?$/.exec(line);
    if (!m) continue;
    const depth = m[1]!.length / 4;
    path[depth] = (depth > 0 ? path[depth - 1]! : '') + m[2]!;
    path.length = depth + 1;
    for (const method of m[3]?.split(', ') ?? []) out.push(`${method} ${path[depth]}`);
  }
  // the assets' URLs carry their content's hash
  return out.map((r) => {
    const asset = /^\w+ \/admin\/assets\/([^/]+)\/(.+)$/.exec(r);
    if (asset) assetHashes.set(asset[2]!, asset[1]!);
    return r.replace(/^(\w+ \/admin\/assets\/)[^/]+\//, '$1:hash/');
  });
}

// ---- a visitor without script: cookies of its own, a client address of its own ----

interface Res {
  status: number;
  html: string;
  location: string | null;
  headers: Headers;
}

/** Every Location the server answered during the suite, with the request that got it. */
const redirects: { request: string; location: string }[] = [];
let clients = 0;

class Visitor {
  readonly ip: string;
  readonly cookies = new Map<string, string>();

  constructor() {
    clients++;
    this.ip = `10.99.${Math.floor(clients / 250)}.${(clients % 250) + 1}`;
  }

  async send(
    method: string,
    path: string,
    o: { form?: Record<string, string> | [string, string][]; multipart?: FormData; json?: unknown } & {
      headers?: Record<string, string>;
    } = {},
  ): Promise<Res> {
    const headers: Record<string, string> = { 'x-forwarded-for': this.ip, cookie: this.cookieHeader() };
    let body: string | FormData | undefined;
    if (o.form) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      body = new URLSearchParams(o.form).toString();
    } else if (o.multipart) body = o.multipart;
    else if (o.json !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(o.json);
    }
    const r = await fetch(web + path, { method, headers: { ...headers, ...o.headers }, body, redirect: 'manual' });
    for (const c of r.headers.getSetCookie()) {
      const [pair = ''] = c.split(';');
      const eq = pair.indexOf('=');
      const [name, value] = [pair.slice(0, eq), pair.slice(eq + 1)];
      if (/max-age=0/i.test(c) || value === '') this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    const location = r.headers.get('location');
    if (location !== null) redirects.push({ request: `${method} ${path}`, location });
    return { status: r.status, html: method === 'HEAD' ? '' : await r.text(), location, headers: r.headers };
  }

  get(path: string, headers: Record<string, string> = {}): Promise<Res> {
    return this.send('GET', path, { headers });
  }

  post(path: string, form: Record<string, string> | [string, string][]): Promise<Res> {
    return this.send('POST', path, { form });
  }

  /** The fields of the form posting to `action` on the page at `path`, as a browser would send them. */
  async form(path: string, action: string): Promise<Record<string, string>> {
    const page = await this.get(path);
    const f = formsOf(page.html).find((x) => x.action === action);
    if (!f) throw new Error(`no form for ${action} on ${path} (${page.status})`);
    return Object.fromEntries(f.fields);
  }

  async submit(path: string, action: string, fields: Record<string, string> = {}): Promise<Res> {
    return this.post(action, { ...(await this.form(path, action)), ...fields });
  }

  cookieHeader(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }
}

/** A request exactly as written (fetch would normalise dot segments and some escapes). */
function raw(target: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: target, method: 'GET', headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const location = res.headers.location;
        if (location) redirects.push({ request: `GET ${target}`, location });
        resolve({ status: res.statusCode!, body: Buffer.concat(chunks).toString('latin1') });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

// ---- reading pages: their forms, and whether anything in them could run ----

interface FoundForm {
  action: string;
  multipart: boolean;
  fields: [string, string][];
  /** the names of its file inputs (sent empty, as a browser sends one left empty) */
  files?: string[];
}

/** The POST forms of a page with the fields a browser would send (hidden, defaults, checked boxes). */
function formsOf(html: string): FoundForm[] {
  const forms: FoundForm[] = [];
  const byId = new Map<string, FoundForm>();
  let current: FoundForm | undefined;
  let textarea: { name: string; text: string } | undefined;
  let select: { name: string; value?: string; first?: string } | undefined;
  const formaction: { action: string; of: FoundForm }[] = [];
  const owner = (a: Record<string, string>) => (a.form ? byId.get(a.form) : current);
  const parser = new Parser(
    {
      onopentag(name, a) {
        if (name === 'form') {
          if ((a.method ?? 'get').toLowerCase() !== 'post') return;
          current = { action: a.action ?? '', multipart: a.enctype === 'multipart/form-data', fields: [] };
          forms.push(current);
          if (a.id) byId.set(a.id, current);
        } else if (name === 'input' && a.name) {
          const f = owner(a);
          const type = (a.type ?? 'text').toLowerCase();
          if (f && type === 'file') f.files = [...(f.files ?? []), a.name];
          if (!f || ['submit', 'button', 'file', 'image', 'reset'].includes(type)) return;
          if ((type === 'checkbox' || type === 'radio') && a.checked === undefined) return;
          f.fields.push([a.name, a.value ?? (type === 'checkbox' ? 'on' : '')]);
        } else if (name === 'textarea' && a.name && owner(a)) textarea = { name: a.name, text: '' };
        else if (name === 'select' && a.name && owner(a)) select = { name: a.name };
        else if (name === 'option' && select) {
          select.first ??= a.value ?? '';
          if (a.selected !== undefined) select.value = a.value ?? '';
        } else if (name === 'button' && a.formaction) {
          const f = owner(a);
          if (f) formaction.push({ action: a.formaction, of: f });
        }
      },
      ontext(text) {
        if (textarea) textarea.text += text;
      },
      onclosetag(name) {
        if (name === 'form') current = undefined;
        if (name === 'textarea' && textarea) {
          current?.fields.push([textarea.name, textarea.text]);
          textarea = undefined;
        }
        if (name === 'select' && select) {
          current?.fields.push([select.name, select.value ?? select.first ?? '']);
          select = undefined;
        }
      },
    },
    { decodeEntities: true },
  );
  parser.end(html);
  for (const { action, of } of formaction) forms.push({ ...of, action });
  return forms;
}

const RUNNABLE_URL = /^(?:javascript|vbscript|data:(?!image\/(?:png|jpeg|gif|webp)[;,]))/i;
const URL_ATTRIBUTES = new Set([
  'href',
  'src',
  'action',
  'formaction',
  'xlink:href',
  'data',
  'poster',
  'background',
  'ping',
  'srcset',
  'lowsrc',
  'dynsrc',
  'cite',
  'longdesc',
]);

/**
 * What in a page could run script or take the page elsewhere: script other than the admin area's
 * own files, event handlers, script URLs, frames not sandboxed from script, plugins, base and
 * refresh. A sandboxed frame's srcdoc is read the same way.
 */
function hazards(html: string, where = ''): string[] {
  const found: string[] = [];
  let inScript = false;
  const parser = new Parser(
    {
      onopentag(name, a) {
        const tag = `<${name}> in ${where}`;
        if (name === 'script') {
          inScript = true;
          if (!/^\/admin\/assets\/[\w-]+\/[\w.-]+\.js$/.test(a.src ?? ''))
            found.push(`script ${a.src ?? 'inline'} ${tag}`);
        }
        if (['object', 'embed', 'applet', 'frame', 'frameset', 'base', 'portal'].includes(name)) found.push(tag);
        if (name === 'meta' && /^(refresh|set-cookie)$/i.test(a['http-equiv'] ?? ''))
          found.push(`meta http-equiv=${a['http-equiv']} ${tag}`);
        if (name === 'iframe') {
          const sandbox = a.sandbox?.split(/\s+/) ?? [];
          if (a.sandbox === undefined || sandbox.includes('allow-scripts')) found.push(`unsandboxed ${tag}`);
          if (a.src && !a.src.startsWith('/')) found.push(`iframe src=${a.src} ${tag}`);
          if (a.srcdoc) found.push(...hazards(a.srcdoc, `srcdoc of ${where}`));
        }
        if (name === 'form' && a.action !== undefined && !/^\/(?![/\\])/.test(a.action))
          found.push(`form action=${a.action} ${tag}`);
        for (const [k, v] of Object.entries(a)) {
          if (/^on/i.test(k)) found.push(`${k}= ${tag}`);
          // what a browser ignores before the scheme: whitespace and control characters
          const value = v.replace(/[\u0000-\u0020\u007f-\u00a0]/g, '');
          if (URL_ATTRIBUTES.has(k.toLowerCase()) && RUNNABLE_URL.test(value))
            found.push(`${k}=${v.slice(0, 60)} ${tag}`);
          if (k.toLowerCase() === 'style' && /expression\s*\(|javascript:|behavior\s*:/i.test(v))
            found.push(`style=${v.slice(0, 60)} ${tag}`);
        }
      },
      ontext(text) {
        if (inScript && text.trim()) found.push(`inline script text in ${where}`);
      },
      onclosetag(name) {
        if (name === 'script') inScript = false;
      },
    },
    { decodeEntities: true, lowerCaseAttributeNames: true },
  );
  parser.end(html);
  return found;
}

// ---- the system, and what it holds ----

let t: TestDatabase;
let db: Knex;
let boss: Boss;
let web: string;
let port: number;
let smtpPort: number;
let served: string[] = [];
let apiAdmin: string;
let apiAgent: string;

/** What the pages and routes are filled with. */
const fx = {
  inboxId: 0,
  acme: 0,
  anna: 0,
  ben: 0,
  zed: 0,
  annaTicket: 0,
  annaTicketNumber: 0,
  resolvedTicket: 0,
  zedTicket: 0,
  articleId: 0,
  sha: '',
  svgSha: '',
  htmlSha: '',
  fakePngSha: '',
  fileName: '',
  annaLink: '',
  benLink: '',
  portalPassword: '',
  portalSignIn: '',
  portalSignUp: '',
  adminPassword: '',
  adminAId: 0,
  totpKey: '',
};

/** Marks that only one customer's data carries. */
const ACME_MARK = 'ACME-PAYROLL-7731';
const ZED_MARK = 'ZED-SECRET-4409';

/** Script in every place mail can put it; each calls __xss(n) if it ever runs. */
const XSS = {
  name: `Anna <img src=x onerror=__xss(1)> "'><svg onload=__xss(2)>`,
  subject: `${ACME_MARK} </title><script>__xss(3)</script><img src=x onerror=__xss(4)> {{7*7}} <%= it %> \${7*7}`,
  text: `Hello <script>__xss(5)</script> javascript:__xss(6) <a href="javascript:__xss(7)">x</a> ]]> --> </textarea></style><img src=x onerror=__xss(8)>`,
  html: [
    '<p>hi</p><script>__xss(9)</script><img src=x onerror="__xss(10)">',
    '<a href="javascript:__xss(11)">a</a><a href="&#106;avascript:__xss(12)">b</a><a href=" &#x0A;javascript:__xss(13)">c</a>',
    '<svg><script>__xss(14)</script><animate onbegin=__xss(15) attributeName=x dur=1s></svg>',
    '<iframe src="javascript:__xss(16)"></iframe><iframe srcdoc="<script>parent.__xss(17)</script>"></iframe>',
    '<math><mtext><table><mglyph><style><img src=x onerror=__xss(18)></style></mglyph></table></mtext></math>',
    '<form action="https://evil.example/"><button formaction="javascript:__xss(19)">go</button></form>',
    '<meta http-equiv="refresh" content="0;url=https://evil.example/"><base href="https://evil.example/">',
    '<object data="javascript:__xss(20)"></object><embed src="javascript:__xss(21)">',
    '<div style="background:url(\'javascript:__xss(22)\')">s</div><noscript><p title="</noscript><img src=x onerror=__xss(23)>"></noscript>',
    '<img src="x" srcset="javascript:__xss(24)"><details open ontoggle=__xss(25)><summary>d</summary></details>',
    '<!--><img src=x onerror=__xss(26)>--><xmp><img src=x onerror=__xss(27)></xmp>',
  ].join('\n'),
  file: `"><img src=x onerror=__xss(28)>.txt`,
  cc: `Carl <svg/onload=__xss(29)>`,
  header: `<script>__xss(30)</script>`,
};

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
const word = (s: string) => `=?utf-8?B?${b64(s)}?=`;

/** The hostile mail, as anna sends it. */
function hostileMail(): string {
  const part = (headers: string[], body: string) => `--x\r\n${headers.join('\r\n')}\r\n\r\n${body}\r\n`;
  return [
    `From: ${word(XSS.name)} <anna@acme.test>`,
    'To: support@localhost',
    `Cc: ${word(XSS.cc)} <carl@acme.test>`,
    `Reply-To: ${word(XSS.name)} <anna@acme.test>`,
    `Subject: ${word(XSS.subject)}`,
    `X-Mailer: ${XSS.header}`,
    `Message-ID: <hostile-${Date.now()}@acme.test>`,
    'MIME-Version: 1.0',
    'Content-Type: multipart/mixed; boundary="x"',
    '',
    part(
      ['Content-Type: multipart/alternative; boundary="y"'],
      [
        '--y',
        'Content-Type: text/plain; charset=utf-8',
        'Content-Transfer-Encoding: base64',
        '',
        b64(XSS.text),
        '--y',
        'Content-Type: text/html; charset=utf-8',
        'Content-Transfer-Encoding: base64',
        '',
        b64(XSS.html),
        '--y--',
      ].join('\r\n'),
    ),
    part(['Content-Type: text/plain', `Content-Disposition: attachment; filename="${word(XSS.file)}"`], 'salaries'),
    part(
      ['Content-Type: image/svg+xml', 'Content-Disposition: attachment; filename="evil.svg"'],
      '<svg xmlns="http://www.w3.org/2000/svg" onload="__xss(31)"><script>__xss(32)</script></svg>',
    ),
    part(
      ['Content-Type: text/html', 'Content-Disposition: attachment; filename="page.html"'],
      '<script>__xss(33)</script>',
    ),
    part(
      ['Content-Type: image/png', 'Content-Disposition: attachment; filename="fake.png"'],
      '<html><script>__xss(34)</script></html>',
    ),
    '--x--',
    '',
  ].join('\r\n');
}

const sha = (s: string) => createHash('sha256').update(s, 'utf8').digest();

/** An admin (password set), signed in by a visitor of its own. */
async function adminSignedIn(email: string, v = new Visitor()): Promise<Visitor> {
  const r = await v.submit('/admin/sign-in', '/admin/sign-in', { email, password: ADMIN_PASSWORD });
  expect(r.status, `admin sign-in of ${email}`).toBe(303);
  if (r.location === '/admin/sign-in/code') return v;
  expect(r.location).toBe('/admin');
  return v;
}

/** A code the server takes now: the step used last is forgotten, as time passing would do. */
async function freshCode(email: string): Promise<string> {
  await db('agents').where({ email }).update({ totp_last_step: null });
  return totp(fx.totpKey);
}

async function customerSignedIn(email: string, v = new Visitor()): Promise<Visitor> {
  const r = await v.submit('/portal/sign-in', '/portal/sign-in', { email, password: PASSWORD });
  expect(r, `portal sign-in of ${email}`).toMatchObject({ status: 303, location: '/portal/tickets' });
  return v;
}

/** The visitors of each kind: two of each, to post with each other's tokens. */
const who: Record<Who, [Visitor, Visitor]> = {} as Record<Who, [Visitor, Visitor]>;
const linkOf = new Map<Visitor, string>();

/** A route's URL pattern filled in for a visitor. */
function fill(url: string, v?: Visitor): string {
  const id = url.startsWith('/admin/help')
    ? fx.articleId
    : url.startsWith('/admin/inboxes')
      ? fx.inboxId
      : url.startsWith('/portal/help')
        ? fx.articleId
        : fx.annaTicket;
  const secret = url.startsWith('/t/')
    ? (v && linkOf.get(v)) || fx.annaLink
    : url.startsWith('/portal/password')
      ? fx.portalPassword
      : url.startsWith('/portal/sign-up')
        ? fx.portalSignUp
        : url.startsWith('/portal/sign-in/link')
          ? fx.portalSignIn
          : fx.adminPassword;
  return url
    .replace(':name', 'ack')
    .replace(':locale', 'en')
    .replace(':id', String(id))
    .replace(':sha', fx.sha)
    .replace(':secret', secret)
    .replace(':action', 'deactivate')
    .replace(/:hash\/(.+)$/, (_, file: string) => `${assetHashes.get(file)}/${file}`);
}

beforeAll(async () => {
  t = await createTestDatabase();
  boss = await startBossFor(t.url, true);
  db = createDb(t.url, { poolMax: 8, log: testLog });
  const app = buildWeb({ db, boss, log: testLog, trustProxy: ['127.0.0.1'], publicUrl: PUBLIC });
  ({ port } = await listenWeb(app, '127.0.0.1', 0));
  web = `http://127.0.0.1:${port}`;
  served = routesOf(app.printRoutes({ commonPrefix: false }));
  afterAll(async () => {
    await app.close();
    await db.destroy();
  });
  fx.inboxId = Number((await createInboxStore(t.db).add('support@localhost', 'Acme Support')).id);
  smtpPort = (await startTestIngest(t.url, { inboxes: ['support@localhost'], boss })).port;
  await startTestWorker(t.url, boss, 1);
  await updatePortalSettings(t.db, { enabled: true, self_signup: true, help_docs: true, inbox_ids: [fx.inboxId] });

  const adminA = await createAgent(t.db, {
    email: 'a@admin.test',
    name: 'Ada',
    role: 'admin',
    password: ADMIN_PASSWORD,
  });
  fx.adminAId = adminA.id;
  for (const email of ['b@admin.test', 'totp@admin.test', 'setup@admin.test', 'limits@admin.test'])
    await createAgent(t.db, { email, name: email, role: 'admin', password: ADMIN_PASSWORD });
  const agent = await createAgent(t.db, { email: 'agent@admin.test', name: 'Alan', role: 'agent' });
  apiAdmin = (await createApiToken(t.db, adminA.id)).token;
  apiAgent = (await createApiToken(t.db, agent.id)).token;

  const call = async (method: string, path: string, body?: unknown) => {
    const r = await fetch(`${web}/api/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${apiAdmin}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    expect(r.status, `${method} ${path}`).toBeLessThan(300);
    return (await r.json()) as { id: number };
  };
  fx.acme = (
    await call('POST', '/companies', {
      name: 'Acme',
      domains: ['acme.test'],
      portal_permissions: { view_priority: true, edit_priority: true, edit_type: true },
    })
  ).id;
  const other = (await call('POST', '/companies', { name: 'Other', domains: ['other.test'] })).id;
  fx.ben = (await call('POST', '/customers', { name: 'Ben', email: 'ben@acme.test' })).id;
  fx.zed = (await call('POST', '/customers', { name: 'Zed', email: 'zed@other.test' })).id;

  // anna comes in by mail, hostile from her name to her files
  const reply = await sendRaw(smtpPort, 'anna@acme.test', ['support@localhost'], hostileMail());
  expect(reply.code).toBe(250);
  const rawId = Number(/queued as (\d+)/.exec(reply.text)![1]);
  const row = await eventually(() => t.db('raw_messages').where({ id: rawId, status: 'processed' }).first(), 60_000);
  expect(row.outcome).toBe('ticket_created');
  fx.anna = Number(
    (await t.db('customer_emails').where({ address: 'anna@acme.test' }).first('customer_id')).customer_id,
  );
  const ticket = await t.db('tickets').where({ requester_id: fx.anna }).first('id', 'number');
  fx.annaTicket = Number(ticket.id);
  fx.annaTicketNumber = Number(ticket.number);
  await follow(t.db, fx.annaTicket, [fx.ben]);
  for (const id of [fx.anna, fx.ben, fx.zed]) await setPassword(t.db, id, PASSWORD);

  const resolved = await makeTicket(t.db, {
    inboxId: fx.inboxId,
    requesterId: fx.anna,
    companyId: fx.acme,
    subject: 'Done',
  });
  fx.resolvedTicket = resolved.id;
  await follow(t.db, resolved.id, [fx.ben]);
  await call('PATCH', `/tickets/${resolved.id}`, { status: 'resolved' });
  fx.zedTicket = (
    await makeTicket(t.db, { inboxId: fx.inboxId, requesterId: fx.zed, companyId: other, subject: `Zed ${ZED_MARK}` })
  ).id;

  const files = await t
    .db('message_attachments as ma')
    .join('messages as m', 'm.id', 'ma.message_id')
    .where('m.ticket_id', fx.annaTicket)
    .select('ma.sha256', 'ma.filename', 'ma.display_name', 'ma.content_type');
  const shaOf = (name: string) =>
    (files.find((f) => f.filename === name)?.sha256 as Buffer | undefined)?.toString('hex') ?? '';
  fx.fileName = XSS.file;
  fx.sha = shaOf(XSS.file);
  fx.svgSha = shaOf('evil.svg');
  fx.htmlSha = shaOf('page.html');
  fx.fakePngSha = shaOf('fake.png');
  expect(
    [fx.sha, fx.svgSha, fx.htmlSha, fx.fakePngSha].every((s) => /^[0-9a-f]{64}$/.test(s)),
    JSON.stringify(files),
  ).toBe(true);

  fx.annaLink = (await issueToken(t.db, 'ticket_link', { ticketId: fx.annaTicket, customerId: fx.anna }, 86400)).secret;
  fx.benLink = (await issueToken(t.db, 'ticket_link', { ticketId: fx.annaTicket, customerId: fx.ben }, 86400)).secret;
  fx.portalPassword = (await issueToken(t.db, 'password_set', { customerId: fx.zed }, 86400)).secret;
  fx.portalSignIn = (await issueToken(t.db, 'sign_in', { customerId: fx.zed }, 900)).secret;
  fx.portalSignUp = (await issueToken(t.db, 'signup', { address: 'newcomer@acme.test' }, 86400)).secret;
  fx.adminPassword = (await issueToken(t.db, 'password_set', { agentId: agent.id }, 86400)).secret;
  fx.articleId = Number(
    (
      await createArticle(t.db, {
        title: `Printer ${XSS.header}`,
        locale: 'en',
        body: 'Turn it off and on.',
        published: true,
      })
    ).id,
  );
  // a 1x1 PNG as the logo, so that its forms and downloads exist
  await setLogo(
    t.db,
    Buffer.from(
      '89504e470d0a1a0a0000000d4948445200000001000000010806000000' +
        '1f15c4890000000d4944415478da63f8cfc0f01f0005000201' +
        'a3c8d7a40000000049454e44ae426082',
      'hex',
    ),
  );
  await updatePortalSettings(t.db, {});

  // the visitors of each kind
  who['portal-anon'] = [new Visitor(), new Visitor()];
  who['admin-anon'] = [new Visitor(), new Visitor()];
  who.customer = [await customerSignedIn('anna@acme.test'), await customerSignedIn('ben@acme.test')];
  who.link = [new Visitor(), new Visitor()];
  linkOf.set(who.link[0], fx.annaLink);
  linkOf.set(who.link[1], fx.benLink);
  who.admin = [await adminSignedIn('a@admin.test'), await adminSignedIn('b@admin.test')];
  // a template with two published versions and a draft, so that every form of the editor shows
  const editor = '/admin/templates/ack/en';
  const a = who.admin[0];
  for (const subject of ['Version one', 'Version two', 'A draft']) {
    const mjml =
      '<mjml><mj-body><mj-section><mj-column><mj-text>Hi <%= it.customer.name %></mj-text></mj-column></mj-section></mj-body></mjml>';
    expect((await a.submit(editor, `${editor}/draft`, { subject, mjml, text: 'Hi' })).status).toBe(303);
    if (subject !== 'A draft') {
      await a.get(editor); // publishing asks for the draft to have been previewed
      expect((await a.submit(editor, `${editor}/publish`)).status).toBe(303);
    }
  }
  // the second factor on for one admin: its pending sessions, and its signed-in ones
  const totpAdmin = await adminSignedIn('totp@admin.test');
  await totpAdmin.submit('/admin/account', '/admin/account/totp/begin');
  fx.totpKey = /data-testid="totp-secret">([A-Z2-7]+)</.exec((await totpAdmin.get('/admin/account')).html)![1]!;
  expect(
    (await totpAdmin.submit('/admin/account', '/admin/account/totp/confirm', { code: totp(fx.totpKey) })).status,
  ).toBe(200);
  await freshPending();
}, 180_000);

beforeEach(async () => {
  // every limit starts unspent (they are counted per client, address, agent and customer)
  await t.db('rate_limits').delete();
});

/** New pending sessions (a pending session lives five minutes). */
async function freshPending(): Promise<void> {
  who.pending = [await adminSignedIn('totp@admin.test'), await adminSignedIn('totp@admin.test')];
}

describe('the route table', () => {
  it('lists every route the server has, and no route it does not have', () => {
    const known = new Set(Object.keys(ROUTES));
    const withoutHead = served.filter((r) => !r.startsWith('HEAD '));
    expect(withoutHead.length).toBeGreaterThan(120);
    const untested = withoutHead.filter((r) => !known.has(r));
    expect(untested, 'routes without a row in ROUTES (add one, and its checks follow)').toEqual([]);
    const gone = [...known].filter((r) => !withoutHead.includes(r));
    expect(gone, 'rows of ROUTES the server no longer has').toEqual([]);
    // HEAD answers as GET does: every HEAD route has its GET
    for (const head of served.filter((r) => r.startsWith('HEAD ')))
      expect(served).toContain(head.replace('HEAD', 'GET'));
  });
});

describe('the checks themselves', () => {
  it('hazards() finds each way markup can run script or leave the page, and nothing in escaped text', () => {
    const bad = [
      '<script>alert(1)</script>',
      '<script src="https://evil.example/x.js"></script>',
      '<img src=x onerror=alert(1)>',
      '<svg><animate onbegin=alert(1)></svg>',
      '<a href="javascript:alert(1)">x</a>',
      '<a href=" &#x0A;java&#x09;script:alert(1)">x</a>',
      '<a href="data:text/html,<script>alert(1)</script>">x</a>',
      '<iframe src="https://evil.example/"></iframe>',
      '<iframe sandbox="allow-scripts" srcdoc="x"></iframe>',
      '<iframe sandbox srcdoc="<img src=x onerror=alert(1)>"></iframe>',
      '<form action="https://evil.example/"></form>',
      '<form action="//evil.example/"></form>',
      '<button formaction="javascript:alert(1)">x</button>',
      '<object data="x"></object>',
      '<embed src="x">',
      '<base href="https://evil.example/">',
      '<meta http-equiv="refresh" content="0;url=https://evil.example/">',
      '<div style="background:url(javascript:alert(1))">x</div>',
    ];
    for (const html of bad) expect(hazards(html, 'a sample'), html).not.toEqual([]);
    const fine = [
      '<p>&lt;script&gt;alert(1)&lt;/script&gt; &lt;img src=x onerror=alert(1)&gt;</p>',
      '<a href="/portal/tickets">tickets</a><img src="data:image/png;base64,AAAA">',
      '<input name="q" value="&quot;&gt;&lt;svg onload=alert(1)&gt;">',
      '<iframe sandbox srcdoc="&lt;p&gt;hi&lt;/p&gt;"></iframe>',
      '<script src="/admin/assets/abc_DEF-1/editor.js"></script>',
    ];
    for (const html of fine) expect(hazards(html, 'a sample'), html).toEqual([]);
  });

  it('formsOf() reads a form as a browser sends it', () => {
    const [f, g] = formsOf(
      '<form method="post" action="/a" enctype="multipart/form-data" id="one"><input type="hidden" name="csrf" value="t&amp;1">' +
        '<input name="q" value="x"><input type="checkbox" name="on"><input type="checkbox" name="yes" checked>' +
        '<textarea name="body">hi &lt;b&gt;</textarea><select name="s"><option value="1">1</option><option value="2" selected>2</option></select>' +
        '<input type="file" name="files"><button formaction="/b">b</button></form><form method="get" action="/c"></form>' +
        '<button form="one">outside</button>',
    );
    expect(f).toEqual({
      action: '/a',
      multipart: true,
      fields: [
        ['csrf', 't&1'],
        ['q', 'x'],
        ['yes', 'on'],
        ['body', 'hi <b>'],
        ['s', '2'],
      ],
      files: ['files'],
    });
    expect(g?.action).toBe('/b');
  });
});

describe('framing (clickjacking)', () => {
  const framing = (r: Res, what: string, self = false) => {
    const csp = r.headers.get('content-security-policy') ?? '';
    expect(csp, `CSP of ${what}`).toContain(self ? "frame-ancestors 'self'" : "frame-ancestors 'none'");
    expect(r.headers.get('x-frame-options'), `X-Frame-Options of ${what}`).toBe(self ? 'SAMEORIGIN' : 'DENY');
    expect(r.headers.get('x-content-type-options'), `nosniff on ${what}`).toBe('nosniff');
  };

  it('every HTML page, for every kind of visitor, and its errors and redirects, may not be framed', async () => {
    let pages = 0;
    for (const [route, treatment] of entries('page')) {
      const url = fill(route.slice(4), who[treatment.as][0]);
      for (const kind of Object.keys(who) as Who[]) {
        const r = await who[kind][0].get(url);
        if (!(r.headers.get('content-type') ?? '').startsWith('text/html')) continue;
        framing(r, `${url} as ${kind} (${r.status})`, treatment.framedBySelf && kind === 'admin');
        pages++;
      }
    }
    // errors and redirects of each area
    for (const url of [
      '/portal/tickets/999999',
      '/portal/help/999999',
      '/admin/help/999999',
      '/t/x',
      '/admin/inboxes/0',
    ]) {
      const r = await who.customer[0].get(url);
      framing(r, url);
      framing(await who.admin[0].get(url), url);
    }
    for (const url of ['/portal', '/portal/tickets', '/admin', '/admin/portal'])
      framing(await new Visitor().get(url), url);
    expect(pages).toBeGreaterThan(60);
  }, 180_000);

  it('files are not sniffed into pages; attachments are sandboxed', async () => {
    for (const [route, treatment] of entries('file')) {
      const url = fill(route.slice(4), who[treatment.as][0]);
      const r = await who[treatment.as][0].get(url);
      expect(r.status, url).toBe(200);
      expect(r.headers.get('x-content-type-options'), url).toBe('nosniff');
      expect(r.headers.get('content-type') ?? '', url).not.toMatch(/html|xml/);
      if (url.includes('/attachments/')) expect(r.headers.get('content-security-policy'), url).toContain('sandbox');
    }
  });

  it('in chromium, no page can be framed from another site; the portal preview only by the admin area', async () => {
    const browser: Browser = await startBrowser();
    // the other site: localhost on a port of its own is another origin, and another site
    const evil = http.createServer((req, res) => {
      const target = decodeURIComponent(req.url!.slice(1));
      res.setHeader('content-type', 'text/html');
      res.end(`<!doctype html><iframe id="f" src="${web}${target}" width="600" height="400"></iframe>`);
    });
    await new Promise<void>((r) => evil.listen(0, 'localhost', r));
    const evilPort = (evil.address() as AddressInfo).port;
    try {
      const context = await browser.newContext();
      await context.addCookies(cookiesFor(who.admin[0], '/admin').concat(cookiesFor(who.customer[0], '/portal')));
      const page = await context.newPage();
      const framed = async (url: string) => {
        await page.goto(`http://localhost:${evilPort}/${encodeURIComponent(url)}`);
        await page.waitForTimeout(300);
        const frame = page.frames().find((f) => f !== page.mainFrame());
        const body = frame
          ? await frame.evaluate<string>('document.body ? document.body.innerText : ""').catch(() => '')
          : '';
        return { url: frame?.url() ?? '', body };
      };
      for (const url of [
        '/portal/sign-in',
        `/portal/tickets/${fx.annaTicket}`,
        `/t/${fx.annaLink}`,
        '/admin/sign-in',
        '/admin/portal',
        '/admin/portal/preview',
      ]) {
        const f = await framed(url);
        expect(f.url, `${url} framed from another site`).toBe('chrome-error://chromewebdata/');
        expect(f.body).not.toMatch(/sign in|preview|ticket/i);
      }
      // the admin's own settings page frames its preview
      await page.goto(`${web}/admin/portal`);
      const preview = page.frames().find((f) => f.url().endsWith('/admin/portal/preview'));
      expect(preview, 'the preview frame').toBeDefined();
      await expect.poll(() => preview!.evaluate<string>('document.title')).toMatch(/^Preview/);
      await context.close();
    } finally {
      await new Promise((r) => evil.close(r));
    }
  }, 180_000);
});

function cookiesFor(v: Visitor, path: string) {
  return [...v.cookies].map(([name, value]) => ({ name, value, domain: '127.0.0.1', path }));
}

describe('stored XSS from mail', () => {
  /** The pages that show what the hostile mail brought, and who opens them. */
  const shown = (): [Who, string][] => [
    ['link', `/t/${fx.annaLink}`],
    ['link', `/t/${fx.annaLink}?done=reply`],
    ['customer', '/portal/tickets'],
    ['customer', `/portal/tickets/${fx.annaTicket}`],
    ['customer', `/portal/tickets?q=${encodeURIComponent(ACME_MARK)}`],
    ['customer', '/portal/help'],
    ['admin', '/admin'],
    ['admin', '/admin/portal-users'],
    ['admin', `/admin/portal-users?q=${encodeURIComponent('anna')}`],
    ['admin', `/admin/templates/ack/en?ticket=${fx.annaTicketNumber}`],
    ['admin', '/admin/help'],
    ['admin', `/admin/help/${fx.articleId}`],
  ];

  it('the mail came in whole: its name, subject, text, files and Cc are stored as sent', async () => {
    const anna = await t.db('customers').where({ id: fx.anna }).first('name');
    expect(anna.name).toContain('onerror=__xss(1)');
    const ticket = await t.db('tickets').where({ id: fx.annaTicket }).first('subject');
    expect(ticket.subject).toContain('<script>__xss(3)</script>');
    expect(fx.fileName).toContain('onerror=__xss(28)');
    const carl = await t
      .db('customer_emails as e')
      .join('customers as c', 'c.id', 'e.customer_id')
      .where('e.address', 'carl@acme.test')
      .first('c.name');
    expect(carl?.name).toContain('onload=__xss(29)');
  });

  it('every page that shows it, read as markup, holds nothing that runs', async () => {
    for (const [kind, url] of shown()) {
      const r = await who[kind][0].get(url);
      expect(r.status, url).toBe(200);
      expect(hazards(r.html, url), url).toEqual([]);
    }
    // and they do show it, escaped: the check above looked at the hostile text itself
    const page = (await who.link[0].get(`/t/${fx.annaLink}`)).html;
    expect(page).toContain('&lt;script&gt;__xss(3)&lt;/script&gt;');
    expect(page).toContain('onerror=__xss(28)');
    expect(page).toMatch(/Anna &lt;img src=x onerror=__xss\(1\)&gt;/);
    const portal = (await who.customer[0].get(`/portal/tickets/${fx.annaTicket}`)).html;
    expect(portal).toContain(ACME_MARK);
    expect(portal).toContain('__xss(5)');
    expect((await who.admin[0].get('/admin/portal-users')).html).toContain('onerror=__xss(1)&gt;');
  });

  it('every page any visitor opens holds nothing that runs', async () => {
    let checked = 0;
    for (const [route] of entries('page')) {
      for (const kind of Object.keys(who) as Who[]) {
        const url = fill(route.slice(4), who[kind][0]);
        const r = await who[kind][0].get(url);
        if (!(r.headers.get('content-type') ?? '').startsWith('text/html')) continue;
        expect(hazards(r.html, `${url} as ${kind}`)).toEqual([]);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(60);
  }, 180_000);

  it('in chromium with the CSP switched off, no script of the mail runs on any of those pages', async () => {
    const browser = await startBrowser();
    const context = await browser.newContext({ bypassCSP: true });
    const ran: string[] = [];
    await context.exposeBinding('__xss', (source, n: number) => void ran.push(`${n} on ${source.frame.url()}`));
    await context.addCookies(
      cookiesFor(who.admin[0], '/admin')
        .concat(cookiesFor(who.customer[0], '/portal'))
        .filter((c) => c.name === 'inbound_admin' || c.name === 'inbound_portal'),
    );
    const page = await context.newPage();
    page.on('dialog', (d) => {
      ran.push(`dialog ${d.message()}`);
      void d.dismiss();
    });
    for (const [, url] of shown()) {
      const r = await page.goto(web + url);
      expect(r?.status(), url).toBe(200);
      // hover and focus what there is, as a reader would
      for (const el of (await page.$$('article a, article img, article svg, article details, main a')).slice(0, 40))
        await el.hover({ timeout: 100 }).catch(() => {});
      await page.waitForTimeout(200);
    }
    // the files themselves, opened in the browser
    for (const s of [fx.svgSha, fx.htmlSha, fx.fakePngSha]) {
      await page.goto(`${web}/portal/tickets/${fx.annaTicket}/attachments/${s}`).catch(() => undefined);
      await page.waitForTimeout(200);
    }
    expect(ran).toEqual([]);
    await context.close();
  }, 180_000);

  it('files from mail download as files: never a page, sandboxed, by their stored name', async () => {
    for (const s of [fx.svgSha, fx.htmlSha, fx.fakePngSha, fx.sha]) {
      const r = await who.link[0].get(`/t/${fx.annaLink}/attachments/${s}`);
      expect(r.status).toBe(200);
      const type = r.headers.get('content-type')!;
      expect(type).toMatch(/^(application\/octet-stream|image\/png)$/);
      expect(r.headers.get('content-security-policy')).toContain('sandbox');
      expect(r.headers.get('x-content-type-options')).toBe('nosniff');
      if (type === 'application/octet-stream') expect(r.headers.get('content-disposition')).toMatch(/^attachment;/);
      expect(r.headers.get('content-disposition')).not.toMatch(/[\r\n]/);
    }
  });

  it('the CSV export writes names from mail so that no spreadsheet reads a formula', async () => {
    await db('customers').where({ id: fx.ben }).update({ name: '=HYPERLINK("https://evil.example","x")' });
    const csv = (await who.admin[0].get('/admin/portal-users/export')).html;
    expect(csv).toContain('onerror=__xss(1)');
    expect(csv).not.toMatch(/(^|[,\n])"?=HYPERLINK/);
    await db('customers').where({ id: fx.ben }).update({ name: 'Ben' });
  });
});

describe('brute force', () => {
  /** Runs the attempts four at a time (password checks are slow on purpose), in order of their results. */
  async function attempts<T>(n: number, one: (i: number) => Promise<T>): Promise<T[]> {
    const out: T[] = [];
    for (let i = 0; i < n; i += 4)
      out.push(...(await Promise.all(Array.from({ length: Math.min(4, n - i) }, (_, k) => one(i + k)))));
    return out;
  }

  it('portal sign-in: ten failures for an address from one client, then 429 even for the right password; the owner elsewhere gets in', async () => {
    const guesser = new Visitor();
    const form = await guesser.form('/portal/sign-in', '/portal/sign-in');
    const failed = await attempts(10, (i) =>
      guesser.post('/portal/sign-in', { ...form, email: 'anna@acme.test', password: `guess ${i}` }),
    );
    expect(failed.map((r) => r.status)).toEqual(Array(10).fill(401));
    const right = await guesser.post('/portal/sign-in', { ...form, email: 'anna@acme.test', password: PASSWORD });
    expect(right.status).toBe(429);
    expect(guesser.cookies.has('inbound_portal')).toBe(false);
    await customerSignedIn('anna@acme.test');
  }, 120_000);

  it('portal sign-in: thirty attempts from one client over any addresses, then 429', async () => {
    const sprayer = new Visitor();
    const form = await sprayer.form('/portal/sign-in', '/portal/sign-in');
    // 26 of the 30 counted directly (each real attempt costs a password hash's time), 4 sent
    for (let i = 0; i < 26; i++) await hit(t.db, `portal-sign-in:ip:${sprayer.ip}`, { max: 30, windowSeconds: 900 });
    const failed = await attempts(4, (i) =>
      sprayer.post('/portal/sign-in', { ...form, email: `user${i}@acme.test`, password: 'wrong password' }),
    );
    expect(failed.map((r) => r.status)).toEqual(Array(4).fill(401));
    const r = await sprayer.post('/portal/sign-in', { ...form, email: 'zed@other.test', password: PASSWORD });
    expect(r.status).toBe(429);
  }, 120_000);

  it('admin sign-in: the same limits, per address and client, and per client', async () => {
    const guesser = new Visitor();
    const form = await guesser.form('/admin/sign-in', '/admin/sign-in');
    const failed = await attempts(10, (i) =>
      guesser.post('/admin/sign-in', { ...form, email: 'limits@admin.test', password: `guess ${i}` }),
    );
    expect(failed.map((r) => r.status)).toEqual(Array(10).fill(401));
    const right = await guesser.post('/admin/sign-in', {
      ...form,
      email: 'limits@admin.test',
      password: ADMIN_PASSWORD,
    });
    expect(right.status).toBe(429);
    expect(guesser.cookies.has('inbound_admin')).toBe(false);
    await adminSignedIn('limits@admin.test');
    const sprayer = new Visitor();
    const spray = await sprayer.form('/admin/sign-in', '/admin/sign-in');
    for (let i = 0; i < 26; i++) await hit(t.db, `admin-sign-in:ip:${sprayer.ip}`, { max: 30, windowSeconds: 900 });
    const sprayed = await attempts(4, (i) =>
      sprayer.post('/admin/sign-in', { ...spray, email: `x${i}@admin.test`, password: 'wrong password' }),
    );
    expect(sprayed.map((r) => r.status)).toEqual(Array(4).fill(401));
    const r = await sprayer.post('/admin/sign-in', { ...spray, email: 'limits@admin.test', password: ADMIN_PASSWORD });
    expect(r.status).toBe(429);
  }, 180_000);

  it('the second factor: twenty codes per agent across sessions, then even the right one is refused', async () => {
    const sessions = await attempts(5, () => adminSignedIn('totp@admin.test'));
    // four wrong codes per session (the fifth would end it): twenty in all
    for (const p of sessions.slice(0, 5)) {
      const form = await p.form('/admin/sign-in/code', '/admin/sign-in/code');
      for (let i = 0; i < 4; i++) {
        const r = await p.post('/admin/sign-in/code', { ...form, code: String(100_000 + i) });
        expect(r.status).toBe(401);
      }
    }
    const last = await adminSignedIn('totp@admin.test');
    const r = await last.submit('/admin/sign-in/code', '/admin/sign-in/code', {
      code: await freshCode('totp@admin.test'),
    });
    expect(r.status).toBe(429);
    expect(last.cookies.get('inbound_admin')).toBeDefined();
    expect(await last.get('/admin')).toMatchObject({ status: 303, location: '/admin/sign-in/code' });
  }, 120_000);

  it('admin password links: twenty guesses a client, then 429', async () => {
    const v = new Visitor();
    for (let i = 0; i < 20; i++) expect((await v.get(`/admin/password/${'G'.repeat(42)}${i % 10}`)).status).toBe(404);
    expect((await v.get(`/admin/password/${fx.adminPassword}`)).status).toBe(429);
    expect((await new Visitor().get(`/admin/password/${fx.adminPassword}`)).status).toBe(200);
  });

  it('ticket links and portal links: guesses of the right shape all get the same answer, and the link still works', async () => {
    const v = new Visitor();
    const answers = new Set<string>();
    for (let i = 0; i < 40; i++) {
      const guess = `${fx.annaLink.slice(0, 40)}${String(i).padStart(3, '0')}`;
      const r = await v.get(`/t/${guess}`);
      expect(r.status).toBe(410);
      answers.add(r.html.replaceAll(guess, 'SECRET').replace(/value="[^"]+"/g, ''));
    }
    expect(answers.size).toBe(1);
    for (const path of ['/portal/password/', '/portal/sign-in/link/', '/portal/sign-up/'])
      for (let i = 0; i < 10; i++) expect((await v.get(`${path}${'Q'.repeat(40)}${i}00`)).status, path).toBe(410);
    expect((await v.get(`/t/${fx.annaLink}`)).status).toBe(200);
    // asking for a fresh ticket link is limited: three an hour per client
    const dead = `/t/${'Z'.repeat(43)}`;
    for (let i = 0; i < 3; i++)
      expect((await v.submit(dead, `${dead}/resend`, { email: 'x@x.test' })).status).toBe(200);
    expect((await v.submit(dead, `${dead}/resend`, { email: 'x@x.test' })).status).toBe(429);
  });

  it('session cookies: guessed ones open nothing, in the portal or the admin area', async () => {
    for (let i = 0; i < 30; i++) {
      const v = new Visitor();
      const guess = createHash('sha256').update(String(i)).digest('base64url').slice(0, 43);
      v.cookies.set('inbound_portal', guess);
      v.cookies.set('inbound_admin', guess);
      expect(await v.get('/portal/tickets')).toMatchObject({ status: 303, location: '/portal/sign-in' });
      expect(await v.get('/admin')).toMatchObject({ status: 303, location: '/admin/sign-in' });
    }
  });

  it('API tokens: wrong ones all get one 401; a right one still works', async () => {
    const bodies = new Set<string>();
    for (const token of [
      ...Array.from(
        { length: 30 },
        (_, i) => `inb_${createHash('sha256').update(`t${i}`).digest('base64url').slice(0, 43)}`,
      ),
      `${apiAdmin.slice(0, -1)}${apiAdmin.endsWith('x') ? 'y' : 'x'}`,
      apiAdmin.toUpperCase(),
      apiAdmin.slice(4),
      'inb_',
      `inb_${'A'.repeat(500)}`,
    ]) {
      const r = await fetch(`${web}/api/v1/tickets`, { headers: { authorization: `Bearer ${token}` } });
      expect(r.status, token).toBe(401);
      bodies.add(await r.text());
    }
    expect(bodies.size).toBe(1);
    expect((await fetch(`${web}/api/v1/tickets`, { headers: { authorization: `Bearer ${apiAdmin}` } })).status).toBe(
      200,
    );
  });
});

describe('the API takes bearer tokens only', () => {
  it('every route: 401 without one, also with the portal’s and the admin area’s cookies; 403 for an agent where admins only may', async () => {
    const doc = (await (await fetch(`${web}/api/v1/openapi.json`)).json()) as {
      paths: Record<string, Record<string, { summary: string }>>;
    };
    const cookies = `${who.customer[0].cookieHeader()}; ${who.admin[0].cookieHeader()}`;
    let adminOnly = 0;
    for (const [route, treatment] of entries('api')) {
      if (treatment.public) continue;
      const [method, url] = route.split(' ') as [string, string];
      const path = url.replace(/:\w+/g, '1');
      const send = (headers: Record<string, string>) =>
        fetch(`${web}${path}`, {
          method,
          headers: {
            ...(method !== 'GET' && method !== 'DELETE' && { 'content-type': 'application/json' }),
            ...headers,
          },
          body: method === 'GET' || method === 'DELETE' ? undefined : '{}',
        });
      expect((await send({})).status, `${route} without a token`).toBe(401);
      expect((await send({ cookie: cookies })).status, `${route} with cookies only`).toBe(401);
      expect((await send({ cookie: cookies, authorization: 'Basic YTpi' })).status, `${route} with Basic`).toBe(401);
      const spec = doc.paths[url.replace(/^\/api\/v1/, '').replace(/:(\w+)/g, '{$1}')]?.[method.toLowerCase()];
      expect(spec, `${route} in the OpenAPI document`).toBeDefined();
      if (spec!.summary.includes('(admins only)')) {
        adminOnly++;
        expect((await send({ authorization: `Bearer ${apiAgent}` })).status, `${route} as an agent`).toBe(403);
      }
    }
    expect(adminOnly).toBeGreaterThan(5);
  }, 180_000);
});

describe('session fixation', () => {
  it('portal: a cookie set before sign-in is never the session after; a planted live session ends', async () => {
    const v = new Visitor();
    await v.get('/portal/sign-in');
    const pre = v.cookies.get('inbound_portal_pre')!;
    expect(pre).toMatch(/^[A-Za-z0-9_-]{43}$/);
    v.cookies.set('inbound_portal', 'F'.repeat(43));
    await customerSignedIn('zed@other.test', v);
    const session = v.cookies.get('inbound_portal')!;
    expect(session).not.toBe('F'.repeat(43));
    expect(session).not.toBe(pre);
    expect(v.cookies.has('inbound_portal_pre')).toBe(false);
    expect(
      await db('portal_sessions')
        .where({ token_hash: sha('F'.repeat(43)) })
        .first(),
    ).toBeUndefined();
    // the links sign in with a new session too
    const link = (await issueToken(t.db, 'sign_in', { customerId: fx.zed }, 900)).secret;
    const byLink = new Visitor();
    byLink.cookies.set('inbound_portal', 'L'.repeat(43));
    const r = await byLink.submit(`/portal/sign-in/link/${link}`, `/portal/sign-in/link/${link}`);
    expect(r).toMatchObject({ status: 303, location: '/portal/tickets' });
    expect(byLink.cookies.get('inbound_portal')).not.toBe('L'.repeat(43));
    // the attacker's own live session, planted in the victim's browser, ends when the victim signs in
    const attacker = await customerSignedIn('ben@acme.test');
    const planted = attacker.cookies.get('inbound_portal')!;
    const victim = new Visitor();
    victim.cookies.set('inbound_portal', planted);
    const own = (await issueToken(t.db, 'sign_in', { customerId: fx.zed }, 900)).secret;
    const done = await victim.submit(`/portal/sign-in/link/${own}`, `/portal/sign-in/link/${own}`);
    expect(done).toMatchObject({ status: 303, location: '/portal/tickets' });
    expect(victim.cookies.get('inbound_portal')).not.toBe(planted);
    expect(await attacker.get('/portal/tickets')).toMatchObject({ status: 303, location: '/portal/sign-in' });
    expect((await victim.get('/portal/tickets')).html).toContain(ZED_MARK);
  });

  it('admin: a cookie set before sign-in is never the session after; the second factor makes another', async () => {
    const v = new Visitor();
    await v.get('/admin/sign-in');
    const pre = v.cookies.get('inbound_admin_pre')!;
    v.cookies.set('inbound_admin', 'F'.repeat(43));
    await adminSignedIn('b@admin.test', v);
    const session = v.cookies.get('inbound_admin')!;
    expect([pre, 'F'.repeat(43)]).not.toContain(session);
    expect(
      await db('admin_sessions')
        .where({ token_hash: sha('F'.repeat(43)) })
        .first(),
    ).toBeUndefined();
    const p = await adminSignedIn('totp@admin.test');
    const pending = p.cookies.get('inbound_admin')!;
    const r = await p.submit('/admin/sign-in/code', '/admin/sign-in/code', {
      code: await freshCode('totp@admin.test'),
    });
    expect(r).toMatchObject({ status: 303, location: '/admin' });
    expect(p.cookies.get('inbound_admin')).not.toBe(pending);
    const old = new Visitor();
    old.cookies.set('inbound_admin', pending);
    expect(await old.get('/admin')).toMatchObject({ status: 303, location: '/admin/sign-in' });
  });
});

describe('open redirects', () => {
  const EVIL = [
    '//evil.example',
    'https://evil.example/',
    '/\\evil.example',
    '\\\\evil.example',
    '/%2F%2Fevil.example',
    'javascript:alert(1)',
  ];

  it('no parameter of any page or form names where to go', async () => {
    const query = (bad: string) =>
      new URLSearchParams({ next: bad, return_to: bad, redirect: bad, url: bad, back: bad, continue: bad });
    for (const bad of EVIL) {
      const q = query(bad);
      const v = new Visitor();
      for (const path of ['/', '/portal', '/portal/sign-in', '/portal/tickets', '/admin', '/admin/portal', '/t/x'])
        await v.get(`${path}?${q}`);
      await who.admin[0].submit('/admin/help', `/admin/help/${fx.articleId}/publish`, { published: 'true', back: bad });
    }
    // signing in and out, with every spelling at once in the query and the form
    const all = EVIL.flatMap((bad) => [...query(bad)]);
    const portal = new Visitor();
    const signedIn = await portal.send('POST', `/portal/sign-in?${new URLSearchParams(all)}`, {
      form: [
        ...Object.entries(await portal.form('/portal/sign-in', '/portal/sign-in')),
        ...all,
        ['email', 'zed@other.test'],
        ['password', PASSWORD],
      ],
    });
    expect(signedIn).toMatchObject({ status: 303, location: '/portal/tickets' });
    const out = await portal.send('POST', `/portal/sign-out?${new URLSearchParams(all)}`, {
      form: [...Object.entries(await portal.form('/portal/tickets', '/portal/sign-out')), ...all],
    });
    expect(out).toMatchObject({ status: 303, location: '/portal/sign-in?done=signed-out' });
    const admin = new Visitor();
    const adminIn = await admin.send('POST', `/admin/sign-in?${new URLSearchParams(all)}`, {
      form: [
        ...Object.entries(await admin.form('/admin/sign-in', '/admin/sign-in')),
        ...all,
        ['email', 'b@admin.test'],
        ['password', ADMIN_PASSWORD],
      ],
    });
    expect(adminIn).toMatchObject({ status: 303, location: '/admin' });
    const adminOut = await admin.send('POST', `/admin/sign-out?${new URLSearchParams(all)}`, {
      form: [...Object.entries(await admin.form('/admin', '/admin/sign-out')), ...all],
    });
    expect(adminOut).toMatchObject({ status: 303, location: '/admin/sign-in?done=signed-out' });
    expect(redirects.length).toBeGreaterThan(30);
    for (const r of redirects) local(r);
  }, 180_000);

  it('paths that look like other sites are not redirected to them', async () => {
    for (const target of [
      '//evil.example/',
      '//evil.example/%2e%2e',
      '/\\evil.example',
      '/%5Cevil.example',
      '/portal//evil.example',
      '/portal/tickets/..%2F..%2F%2Fevil.example',
      '/admin/..%2F%2Fevil.example',
      '/%2F%2Fevil.example',
      `/t/${fx.annaLink}/..%2F..%2F%2Fevil.example`,
    ]) {
      const r = await raw(target, { 'x-forwarded-for': new Visitor().ip });
      expect(r.status, target).toBeLessThan(500);
    }
    for (const r of redirects) local(r);
  });
});

/** A redirect that stays on our origin: a path (never //host or /\host), or our own URL. */
function local(r: { request: string; location: string }) {
  const l = r.location;
  expect(l, r.request).not.toMatch(/[\r\n]/);
  if (/^https?:/i.test(l)) expect(new URL(l).origin, r.request).toBe(web);
  else expect(l, r.request).toMatch(/^\/(?![/\\])/);
  expect(new URL(l, web).origin, r.request).toBe(web);
}

describe('path traversal on downloads', () => {
  const TRAVERSALS = [
    '..%2f..%2f..%2fetc%2fpasswd',
    '..%2F..%2F..%2Fpackage.json',
    '%2e%2e%2f%2e%2e%2f%2e%2e%2fpackage.json',
    '%252e%252e%252f%252e%252e%252fpackage.json',
    '..%5c..%5c..%5cpackage.json',
    '..%00',
    '%00',
    '%c0%ae%c0%ae%2fpackage.json',
    '....%2f%2f....%2f%2fetc%2fpasswd',
    'x'.repeat(3000),
  ];
  const leaked = (body: string) => /root:x:0:0|"name":\s*"inbound"|"dependencies"/.test(body);

  it('attachments (ticket page and portal), logos and assets answer 4xx to every spelling; nothing leaks', async () => {
    const anna = who.customer[0].cookieHeader();
    const admin = who.admin[0].cookieHeader();
    const targets: [string, string][] = [];
    for (const bad of TRAVERSALS) {
      targets.push(
        [`/t/${fx.annaLink}/attachments/${bad}`, ''],
        [`/t/${fx.annaLink}/attachments/${fx.sha}${bad}`, ''],
        [`/t/${fx.annaLink}/attachments/${fx.sha}?name=${bad}`, ''],
        [`/t/${fx.annaLink}/attachments/${fx.sha}/${bad}`, ''],
        [`/portal/tickets/${fx.annaTicket}/attachments/${bad}`, anna],
        [`/portal/tickets/${fx.annaTicket}/attachments/${fx.sha}?name=${bad}`, anna],
        [`/portal/tickets/${bad}/attachments/${fx.sha}`, anna],
        [`/portal/logo?v=${bad}`, ''],
        [`/portal/logo/${bad}`, ''],
        [`/admin/portal/logo?v=${bad}`, admin],
        [`/admin/assets/${bad}`, ''],
        [`/admin/assets/x/${bad}`, ''],
        [`/portal/help/${bad}`, ''],
      );
    }
    targets.push(
      ['/admin/assets/../../package.json', ''],
      ['/portal/../package.json', ''],
      ['/t/../../etc/passwd', ''],
    );
    for (const [target, cookie] of targets) {
      const r = await raw(target, { cookie, 'x-forwarded-for': '10.98.0.1' });
      expect(r.status, target).toBeLessThan(500);
      expect(leaked(r.body), target).toBe(false);
      // a name that is not stored picks nothing else: the file as it is, under a stored name
      if (r.status === 200 && target.includes('/attachments/')) expect(r.body.trim()).toBe('salaries');
    }
  }, 180_000);

  it('a file of another ticket is not served through this one', async () => {
    const other = await makeTicket(t.db, {
      inboxId: fx.inboxId,
      requesterId: fx.zed,
      companyId: null,
      subject: 'Other',
    });
    const link = (await issueToken(t.db, 'ticket_link', { ticketId: other.id, customerId: fx.zed }, 3600)).secret;
    expect((await new Visitor().get(`/t/${link}/attachments/${fx.sha}`)).status).toBe(404);
    const zed = await customerSignedIn('zed@other.test');
    expect((await zed.get(`/portal/tickets/${other.id}/attachments/${fx.sha}`)).status).toBe(404);
    expect((await zed.get(`/portal/tickets/${fx.annaTicket}/attachments/${fx.sha}`)).status).toBe(404);
  });
});

describe('injection on every list filter', () => {
  const INJECTIONS = [
    "'",
    "';--",
    "' OR '1'='1",
    '1 OR 1=1',
    '1; DROP TABLE customers;--',
    "' UNION SELECT password_hash, null FROM agents--",
    '"',
    '\\',
    '%',
    '_',
    '%_%',
    '\u02bc OR \u02bc1\u02bc=\u02bc1',
    '\u2019 OR \u20191\u2019=\u20191',
    '\uff07 OR 1=1--',
    '\u0000',
    'a\u0000b',
    '$1',
    '?',
    '\ud800',
    `${'x'.repeat(4000)}'`,
    '-1',
    '0',
    '99999999999999999999',
    '1e3',
    'NaN',
    '[object Object]',
    '__proto__',
  ];
  /** A value as a query string carries it; a lone surrogate as the bytes a client would send. */
  const enc = (p: string) => (p === '\ud800' ? '%ED%A0%80' : encodeURIComponent(p));
  const ARRAYS = ['&{p}=a&{p}=b', '&{p}[]=a', '&{p}[0]=a&{p}[1]=b', '&{p}[$ne]=x'];

  /** Every string in a JSON value, lowercased. */
  const strings = (v: unknown): string[] =>
    typeof v === 'string'
      ? [v.toLowerCase()]
      : Array.isArray(v)
        ? v.flatMap(strings)
        : v && typeof v === 'object'
          ? Object.values(v).flatMap(strings)
          : [];

  it('the API: every filter of every list answers 200 or 4xx, and text filters match only literally', async () => {
    let calls = 0;
    for (const [route, treatment] of entries('api')) {
      if (!treatment.filters) continue;
      const path = fill(route.slice(4)).replace(/^\/api\/v1/, '');
      for (const [param, type] of Object.entries(treatment.filters)) {
        const queries = [
          ...INJECTIONS.map((p) => `${param}=${enc(p)}`),
          ...ARRAYS.map((a) => a.replaceAll('{p}', param).slice(1)),
          `${param}=${'y'.repeat(100_000)}`,
        ];
        for (const q of queries) {
          const r = await fetch(`${web}/api/v1${path}?${q}`, { headers: { authorization: `Bearer ${apiAdmin}` } });
          calls++;
          expect(r.status, `${route}?${q.slice(0, 80)}`).toBeLessThan(500);
          if (r.status !== 200) {
            expect(r.status, `${route}?${q.slice(0, 80)}`).toBeGreaterThanOrEqual(400);
            continue;
          }
          const body = (await r.json()) as { data?: unknown };
          const given = new URLSearchParams(q).get(param) ?? '';
          if ((type === 'text' || type === 'email') && Array.isArray(body.data) && given && !q.includes('[')) {
            for (const row of body.data)
              expect(
                strings(row).some((s) => s.includes(given.toLowerCase())),
                `${route}?${param}=${given.slice(0, 40)} matched ${JSON.stringify(row).slice(0, 200)}`,
              ).toBe(true);
          }
        }
      }
    }
    expect(calls).toBeGreaterThan(300);
  }, 180_000);

  it('the API: path parameters that are no id are a 4xx', async () => {
    for (const [route] of entries('api')) {
      if (!route.includes(':')) continue;
      const [method, url] = route.split(' ') as [string, string];
      for (const bad of [
        "1'",
        '1;--',
        '1 OR 1=1',
        '-1',
        '0',
        '1.5',
        '%00',
        '99999999999999999999',
        '__proto__',
        '%E0%A4%A',
      ]) {
        const path = url.replace(/:\w+/g, bad).replace(/^\/api\/v1/, '');
        const r = await fetch(`${web}/api/v1${path}`, {
          method,
          headers: { authorization: `Bearer ${apiAdmin}`, 'content-type': 'application/json' },
          body: method === 'GET' || method === 'DELETE' ? undefined : '{}',
        });
        expect(r.status, `${method} ${path}`).toBeGreaterThanOrEqual(400);
        expect(r.status, `${method} ${path}`).toBeLessThan(500);
      }
    }
  }, 180_000);

  it('the portal: every filter answers, never with another customer’s tickets', async () => {
    const [anna] = who.customer;
    const zed = await customerSignedIn('zed@other.test');
    for (const [route, treatment] of entries('page')) {
      if (!route.startsWith('GET /portal') || !treatment.query) continue;
      const url = fill(route.slice(4));
      for (const param of treatment.query)
        for (const q of [
          ...INJECTIONS.map((p) => `${param}=${enc(p)}`),
          ...ARRAYS.map((a) => a.replaceAll('{p}', param).slice(1)),
          `${param}=company&scope=company`,
        ]) {
          const asZed = await zed.get(`${url}?${q}`);
          expect(asZed.status, `${url}?${q.slice(0, 60)} as zed`).toBeLessThan(500);
          expect(asZed.html).not.toContain(ACME_MARK);
          expect(asZed.html).not.toContain(`/portal/tickets/${fx.annaTicket}"`);
          const asAnna = await anna.get(`${url}?${q}`);
          expect(asAnna.status, `${url}?${q.slice(0, 60)} as anna`).toBeLessThan(500);
          expect(asAnna.html).not.toContain(ZED_MARK);
        }
    }
    // the ids in paths: a 404 for anything that is not one of theirs
    for (const bad of ["1'", `${fx.zedTicket} OR 1=1`, `${fx.zedTicket}`, '-1', '0x1', '%00', '1e3']) {
      const r = await anna.get(`/portal/tickets/${encodeURIComponent(bad)}`);
      expect(r.status, bad).toBe(404);
      expect(r.html).not.toContain(ZED_MARK);
    }
  }, 180_000);

  it('the admin pages: every filter answers 200 or 4xx', async () => {
    const [admin] = who.admin;
    for (const [route, treatment] of entries('page')) {
      if (!route.startsWith('GET /admin') || !treatment.query) continue;
      const url = fill(route.slice(4), admin);
      for (const param of treatment.query)
        for (const q of [
          ...INJECTIONS.map((p) => `${param}=${enc(p)}`),
          ...ARRAYS.map((a) => a.replaceAll('{p}', param).slice(1)),
        ]) {
          const r = await admin.get(`${url}?${q}`);
          expect(r.status, `${url}?${q.slice(0, 60)}`).toBeLessThan(500);
        }
    }
  }, 180_000);
});

describe('CSRF', () => {
  /** What a form posting changes, counted: a refused post changes none of it. */
  async function snapshot(): Promise<unknown> {
    const out: Record<string, unknown> = {};
    for (const table of [
      'customers',
      'tickets',
      'messages',
      'events',
      'help_articles',
      'inboxes',
      'tokens',
      'template_drafts',
      'template_versions',
      'template_test_mails',
      'outbound_messages',
      'ticket_followers',
    ])
      out[table] = Number((await db(table).count({ n: '*' }))[0]!.n);
    out.statuses = await db('tickets').orderBy('id').select('id', 'status', 'priority', 'type');
    out.customers = await db('customers').orderBy('id').select('id', 'name', 'portal_status', 'portal_password_hash');
    out.portal = await db('portal_settings').select('*');
    out.articles = await db('help_articles').orderBy('id').select('id', 'title', 'published');
    out.agents = await db('agents').orderBy('id').select('id', 'totp_secret', 'totp_enabled_at', 'password_hash');
    out.inboxes = await db('inboxes').orderBy('id').select('*');
    out.sessions = [
      Number((await db('portal_sessions').whereNull('ended_at').count({ n: '*' }))[0]!.n),
      Number((await db('admin_sessions').whereNull('ended_at').count({ n: '*' }))[0]!.n),
    ];
    return out;
  }

  interface Target {
    route: string;
    kind: Who;
    page: string;
    /** who got the form, and the form as they got it */
    visitor: Visitor;
    form: FoundForm;
    /** the same form as the other visitor of the kind got it */
    twin?: FoundForm;
  }

  const targets: Target[] = [];
  const pattern = (route: string) => new RegExp(`^${route.slice(5).replace(/:\w+/g, '[^/?]+')}$`);

  /** The live check of the template editor: its token is a header, from the page's data-csrf. */
  const liveToken = (html: string) => /data-live="[^"]+" data-csrf="([^"]+)"/.exec(html)?.[1];

  beforeAll(async () => {
    // two more kinds: an admin with the second factor on, and one who has begun setting it up
    const totpSessions: Visitor[] = [];
    for (let i = 0; i < 2; i++) {
      const p = await adminSignedIn('totp@admin.test');
      expect(
        (await p.submit('/admin/sign-in/code', '/admin/sign-in/code', { code: await freshCode('totp@admin.test') }))
          .status,
      ).toBe(303);
      totpSessions.push(p);
    }
    const setup = [await adminSignedIn('setup@admin.test'), await adminSignedIn('setup@admin.test')];
    await setup[0]!.submit('/admin/account', '/admin/account/totp/begin');
    await freshPending();
    const kinds: [Who, Visitor, Visitor][] = [
      ...(Object.keys(who) as Who[]).map((k): [Who, Visitor, Visitor] => [k, who[k][0], who[k][1]]),
      ['admin', totpSessions[0]!, totpSessions[1]!],
      ['admin', setup[0]!, setup[1]!],
      // a dead link's page, which asks for a fresh one
      ['link', new Visitor(), new Visitor()],
    ];
    const deadLink = kinds.at(-1)!;
    linkOf.set(deadLink[1], 'D'.repeat(43));
    linkOf.set(deadLink[2], 'D'.repeat(43));
    const pages = [
      ...entries('page').map(([route]) => route.slice(4)),
      // what some forms need first: a subject (a new ticket), a resolved ticket (reopen, solved)
      '/portal/tickets/new?subject=Printer',
      `/portal/tickets/${fx.resolvedTicket}`,
    ];
    // each kind in its own area: a form's token is bound to that area's session (or link)
    const area: Record<Who, string> = {
      link: '/t/',
      'portal-anon': '/portal',
      customer: '/portal',
      'admin-anon': '/admin',
      admin: '/admin',
      pending: '/admin',
    };
    for (const [kind, v1, v2] of kinds) {
      for (const url of pages.filter((p) => p.startsWith(area[kind]))) {
        const path = fill(url, v1);
        const [p1, p2] = [await v1.get(path), await v2.get(fill(url, v2))];
        const forms2 = formsOf(p2.html);
        for (const form of formsOf(p1.html)) {
          const route = Object.keys(ROUTES).find(
            (r) => r.startsWith('POST ') && pattern(r).test(form.action.split('?')[0]!),
          );
          if (!route || targets.some((x) => x.route === route && x.kind === kind && x.form.action === form.action))
            continue;
          const twin =
            forms2.find((f) => f.action === form.action) ?? forms2.find((f) => route && pattern(route).test(f.action));
          targets.push({ route, kind, page: path, visitor: v1, form, twin });
        }
        const live = liveToken(p1.html);
        if (live && !targets.some((x) => x.route.endsWith('/live'))) {
          const action = /data-live="([^"]+)"/.exec(p1.html)![1]!;
          targets.push({
            route: 'POST /admin/templates/:name/:locale/live',
            kind,
            page: path,
            visitor: v1,
            form: { action, multipart: false, fields: [['csrf', live]] },
            twin: { action, multipart: false, fields: [['csrf', liveToken(p2.html) ?? '']] },
          });
        }
      }
    }
  }, 180_000);

  /** Posts a form as v1 found it, with its token replaced (undefined: left out). */
  async function post(target: Target, v: Visitor, csrf: string | undefined): Promise<Res> {
    const { form } = target;
    if (target.route.endsWith('/live')) {
      return v.send('POST', form.action, {
        json: { subject: 'x', mjml: '<mjml><mj-body></mj-body></mjml>', text: 'x' },
        headers: csrf === undefined ? {} : { 'x-csrf-token': csrf },
      });
    }
    const fields = form.fields.filter(([k]) => k !== 'csrf');
    if (csrf !== undefined) fields.unshift(['csrf', csrf]);
    if (!form.multipart) return v.post(form.action, fields);
    const data = new FormData();
    for (const [k, val] of fields) data.append(k, val);
    for (const name of form.files ?? []) data.append(name, new Blob([], { type: 'application/octet-stream' }), '');
    return v.send('POST', form.action, { multipart: data });
  }

  it('every form route of the server has a form on some page, which this suite posts', () => {
    const forms = entries('form').map(([route]) => route);
    const found = new Set(targets.map((x) => x.route));
    expect(
      forms.filter((r) => !found.has(r)),
      'form routes no page offers a form for',
    ).toEqual([]);
    expect(found.has('POST /admin/templates/:name/:locale/live')).toBe(true);
  });

  it('without a token, and with another session’s, every form is refused as expired and nothing changes', async () => {
    const before = await snapshot();
    for (const target of targets) {
      const owner = target.form;
      const v = target.visitor;
      const none = await post(target, v, undefined);
      expect(none.status, `${target.route} without a token (${target.kind})`).toBe(403);
      expect(none.html, target.route).toMatch(EXPIRED);
      const theirs = target.twin?.fields.find(([k]) => k === 'csrf')?.[1];
      const mine = owner.fields.find(([k]) => k === 'csrf')?.[1];
      // the resend form of a dead link has no session behind it: its token is the link's, the same for all
      if (target.route === 'POST /t/:secret/resend') {
        expect(theirs).toBe(mine);
        continue;
      }
      expect(theirs, `${target.route}: the other ${target.kind} visitor's token`).toBeTruthy();
      expect(theirs, `${target.route}: the other ${target.kind} visitor's token`).not.toBe(mine);
      const other = await post(target, v, theirs);
      expect(other.status, `${target.route} with another session's token (${target.kind})`).toBe(403);
      expect(other.html, target.route).toMatch(EXPIRED);
      const junk = await post(target, v, 'A'.repeat(mine?.length ?? 43));
      expect(junk.status, `${target.route} with a made-up token`).toBe(403);
    }
    expect(await snapshot()).toEqual(before);
  }, 180_000);

  it('with its own token every form gets past the check (signing out last)', async () => {
    const order = [...targets].sort(
      (a, b) => Number(a.route.endsWith('sign-out')) - Number(b.route.endsWith('sign-out')),
    );
    for (const target of order) {
      const v = target.visitor;
      const mine = target.form.fields.find(([k]) => k === 'csrf')?.[1];
      const r = await post(target, v, mine);
      expect(r.status === 403 && EXPIRED.test(r.html), `${target.route} (${target.kind}) refused its own token`).toBe(
        false,
      );
    }
  }, 180_000);
});

describe('every redirect of the whole suite', () => {
  it('stayed on our origin', () => {
    expect(redirects.length).toBeGreaterThan(50);
    for (const r of redirects) local(r);
  });
});
