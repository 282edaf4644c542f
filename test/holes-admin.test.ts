// Security review of the admin area (/admin): proofs of concept over HTTP against a real web
// process and database, and in Debian's chromium for the preview frame. Each test is an attack
// that must keep failing: seven of them found holes when first written (the account forms going
// on after a refusal, sign-in and code limits raced by parallel requests, previews stalling the
// web process, sessions revived after a disable, a non-integer rollback, ?done= naming Object's
// keys), which are closed now.
//
// Clients are told apart by X-Forwarded-For (the web process here trusts 127.0.0.1 as its proxy),
// so each test's sign-ins come from clients of their own and per-client limits apply as they would.
import { createHash, createHmac } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Knex } from 'knex';
import { Parser } from 'htmlparser2';
import { createTestDatabase, type TestDatabase } from './helpers/db.ts';
import { eventually, startBossFor, startTestOutbound, testLog } from './helpers/app.ts';
import { startSink, type Sink } from './helpers/sink.ts';
import { totp } from './helpers/totp.ts';
import { hit, issueToken } from '../src/access/index.ts';
import { createAgent } from '../src/agents/index.ts';
import { createDb } from '../src/db/index.ts';
import { createInboxStore } from '../src/inboxes/index.ts';
import type { Boss } from '../src/queue/index.ts';
import { buildWeb, listenWeb } from '../src/web/index.ts';

const PUBLIC = 'http://help.inbound.test';
const PASSWORD = 'admin password 123';
const MJML = (body: string) =>
  `<mjml><mj-body><mj-section><mj-column>\n${body}\n</mj-column></mj-section></mj-body></mjml>`;

let t: TestDatabase;
let boss: Boss;
let web: string;
let sink: Sink;
let inboxId: number;
/** every route of the web process: method, URL pattern, and who may open it (admin routes) */
const routes: { method: string; url: string; access?: string }[] = [];

interface Res {
  status: number;
  html: string;
  location: string | null;
  headers: Headers;
}

/** A browser without script: its own cookies and its own client address. */
class Client {
  readonly ip: string;
  private readonly cookies = new Map<string, string>();

  constructor(ip: string) {
    this.ip = ip;
  }

  cookie(name: string): string | undefined {
    return this.cookies.get(name);
  }

  plant(name: string, value: string): void {
    this.cookies.set(name, value);
  }

  async send(
    method: string,
    path: string,
    o: {
      form?: Record<string, string>;
      json?: unknown;
      body?: string;
      type?: string;
      headers?: Record<string, string>;
    } = {},
  ): Promise<Res> {
    const headers: Record<string, string> = { 'x-forwarded-for': this.ip, cookie: this.header() };
    let body: string | undefined;
    if (o.form) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      body = new URLSearchParams(o.form).toString();
    } else if (o.json !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(o.json);
    } else if (o.body !== undefined) {
      body = o.body;
      if (o.type) headers['content-type'] = o.type;
    }
    const r = await fetch(web + path, { method, headers: { ...headers, ...o.headers }, body, redirect: 'manual' });
    for (const c of r.headers.getSetCookie()) {
      const [pair = ''] = c.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq);
      const value = pair.slice(eq + 1);
      if (/max-age=0/i.test(c) || value === '') this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    return {
      status: r.status,
      html: method === 'HEAD' ? '' : await r.text(),
      location: r.headers.get('location'),
      headers: r.headers,
    };
  }

  get(path: string, headers: Record<string, string> = {}): Promise<Res> {
    return this.send('GET', path, { headers });
  }

  post(path: string, form: Record<string, string>, headers: Record<string, string> = {}): Promise<Res> {
    return this.send('POST', path, { form, headers });
  }

  /** The CSRF token of the form posting to `action` on the page at `path`. */
  async csrf(path: string, action: string): Promise<string> {
    const { html, status } = await this.get(path);
    const at = html.indexOf(`action="${action}"`);
    if (at < 0) throw new Error(`no form for ${action} on ${path} (${status})`);
    return /name="csrf" value="([^"]+)"/.exec(html.slice(at))![1]!;
  }

  async submit(path: string, action: string, fields: Record<string, string> = {}): Promise<Res> {
    return this.post(action, { csrf: await this.csrf(path, action), ...fields });
  }

  private header(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }
}

let clients = 0;
/** A client from an address of its own. */
const client = () => {
  clients++;
  return new Client(`10.77.${Math.floor(clients / 250)}.${(clients % 250) + 1}`);
};

const sha = (s: string) => createHash('sha256').update(s, 'utf8').digest();

async function newAdmin(email: string, o: { role?: 'admin' | 'agent'; name?: string } = {}): Promise<number> {
  const a = await createAgent(t.db, {
    email,
    name: o.name ?? `Admin ${email}`,
    role: o.role ?? 'admin',
    password: PASSWORD,
  });
  return a.id;
}

async function signedIn(email: string, c = client()): Promise<Client> {
  const r = await c.submit('/admin/sign-in', '/admin/sign-in', { email, password: PASSWORD });
  expect(r, `sign-in of ${email}`).toMatchObject({ status: 303, location: '/admin' });
  return c;
}

/** A client whose password was right and whose second factor is still to come. */
async function pendingClient(email: string, c = client()): Promise<Client> {
  const r = await c.submit('/admin/sign-in', '/admin/sign-in', { email, password: PASSWORD });
  expect(r, `sign-in of ${email}`).toMatchObject({ status: 303, location: '/admin/sign-in/code' });
  return c;
}

/** A new admin with TOTP on: its id, key and recovery codes. */
async function totpAdmin(email: string): Promise<{ id: number; key: string; codes: string[]; client: Client }> {
  const id = await newAdmin(email);
  const c = await signedIn(email);
  await c.submit('/admin/account', '/admin/account/totp/begin');
  const key = /data-testid="totp-secret">([A-Z2-7]+)</.exec((await c.get('/admin/account')).html)![1]!;
  const on = await c.submit('/admin/account', '/admin/account/totp/confirm', { code: totp(key) });
  expect(on.status).toBe(200);
  const codes = [...on.html.matchAll(/<li><code>([a-z0-9]{5}-[a-z0-9]{5})<\/code><\/li>/g)].map((m) => m[1]!);
  expect(codes).toHaveLength(10);
  return { id, key, codes, client: c };
}

/** A code the server takes now: the last step used is forgotten, as time passing would do. */
async function freshCode(id: number, key: string): Promise<string> {
  await t.db('agents').where({ id }).update({ totp_last_step: null });
  return totp(key);
}

/** Six digits that are none of the codes the server takes now (one step of drift either way). */
function wrongCode(key: string, salt = 0): string {
  const live = new Set([-30_000, 0, 30_000].map((d) => totp(key, Date.now() + d)));
  for (let n = 123_456 + salt * 7919; ; n = (n + 1) % 1_000_000) {
    const code = String(n).padStart(6, '0');
    if (!live.has(code)) return code;
  }
}

/** The admin_sessions row of a client's cookie. */
async function sessionOf(c: Client) {
  return t
    .db('admin_sessions')
    .where({ token_hash: sha(c.cookie('inbound_admin')!) })
    .first();
}

/** A form's CSRF token for a client's session, signed as context.ts signs it (key from the database). */
async function tokenFor(c: Client, form: string): Promise<string> {
  const key = (await t.db('app_secrets').where({ name: 'admin-csrf' }).first('value')).value as Buffer;
  const s = await sessionOf(c);
  return createHmac('sha256', key).update(`admin:session:${s.id}:${form}`).digest('base64url');
}

/** Counts of what admin actions change: a snapshot to compare before and after an attack. */
async function snapshot(): Promise<Record<string, unknown>> {
  const count = async (table: string) => Number((await t.db(table).count({ n: '*' }))[0]!.n);
  const out: Record<string, unknown> = {};
  for (const table of [
    'events',
    'template_drafts',
    'template_versions',
    'template_test_mails',
    'help_articles',
    'inboxes',
    'outbound_messages',
    'tokens',
  ])
    out[table] = await count(table);
  out.portal = await t.db('portal_settings').select('*');
  out.customers = await t.db('customers').orderBy('id').select('id', 'name', 'portal_status', 'updated_at');
  out.agents = await t.db('agents').orderBy('id').select('id', 'totp_secret', 'totp_enabled_at', 'password_hash');
  return out;
}

/** A route pattern with its parameters filled in. */
const fill = (url: string) =>
  url
    .replace(':name', 'ack')
    .replace(':locale', 'en')
    .replace(':id', '1')
    .replace(':action', 'deactivate')
    .replace(':secret', 'x'.repeat(43));

/** The admin routes a signed-in admin alone may open. */
const adminOnly = () => routes.filter((r) => r.url.startsWith('/admin') && r.access === undefined);

beforeAll(async () => {
  t = await createTestDatabase();
  boss = await startBossFor(t.url, true);
  const db: Knex = createDb(t.url, { poolMax: 8, log: testLog });
  const app = buildWeb({ db, boss, log: testLog, trustProxy: ['127.0.0.1'], publicUrl: PUBLIC });
  app.addHook('onRoute', (r) => {
    const methods = Array.isArray(r.method) ? r.method : [r.method];
    const access = (r.config as { adminAccess?: string } | undefined)?.adminAccess;
    for (const method of methods) routes.push({ method: String(method), url: r.url, access });
  });
  const { port } = await listenWeb(app, '127.0.0.1', 0);
  web = `http://127.0.0.1:${port}`;
  afterAll(async () => {
    await app.close();
    await db.destroy();
  });
  sink = await startSink();
  await startTestOutbound(t.db, boss, sink.url, PUBLIC);
  inboxId = Number((await createInboxStore(t.db).add('support@admin-holes.test', 'Holes Support')).id);
});

beforeEach(async () => {
  // limits are counted per client, agent and address; each test starts with none spent
  await t.db('rate_limits').delete();
});

describe('sessions', { timeout: 120_000 }, () => {
  it('fixation: a planted cookie is never adopted; sign-in and the second factor each make a new secret', async () => {
    const { id, key } = await totpAdmin('fix@admin.test');
    // a secret the attacker chose is no session, and sign-in does not adopt it
    const c = client();
    const planted = 'A'.repeat(43);
    c.plant('inbound_admin', planted);
    const p = await pendingClient('fix@admin.test', c);
    const pendingSecret = p.cookie('inbound_admin')!;
    expect(pendingSecret).not.toBe(planted);
    expect(pendingSecret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    // the attacker's own pending session planted in a victim's browser ends when the victim signs in
    const victim = client();
    victim.plant('inbound_admin', pendingSecret);
    await pendingClient('fix@admin.test', victim);
    expect(victim.cookie('inbound_admin')).not.toBe(pendingSecret);
    expect((await sessionOf(p)).ended_at).not.toBeNull();
    // the second factor makes a new secret again; the pending one opens nothing afterwards
    const code = await freshCode(id, key);
    const before = victim.cookie('inbound_admin')!;
    const done = await victim.submit('/admin/sign-in/code', '/admin/sign-in/code', { code });
    expect(done).toMatchObject({ status: 303, location: '/admin' });
    expect(victim.cookie('inbound_admin')).not.toBe(before);
    const old = client();
    old.plant('inbound_admin', before);
    expect(await old.get('/admin')).toMatchObject({ status: 303, location: '/admin/sign-in' });
    expect(await old.get('/admin/sign-in/code')).toMatchObject({ status: 303, location: '/admin/sign-in' });
  });

  it('a pending session opens nothing but the code page: every GET, HEAD and POST of the admin area', async () => {
    await totpAdmin('pend@admin.test');
    const p = await pendingClient('pend@admin.test');
    const before = await snapshot();
    const walked = adminOnly();
    expect(walked.length).toBeGreaterThan(30);
    for (const r of walked) {
      const path = fill(r.url);
      const methods = r.method === 'GET' ? ['GET', 'HEAD'] : [r.method];
      for (const method of methods) {
        const res =
          method === 'POST'
            ? await p.send('POST', path, {
                form: { csrf: await tokenFor(p, 'template-save'), subject: 'x', title: 'x' },
              })
            : await p.send(method, path);
        expect(res, `${method} ${path}`).toMatchObject({ status: 303, location: '/admin/sign-in/code' });
      }
    }
    // the live check as the editor's script sends it, with the token the pending session would sign
    const live = await p.send('POST', '/admin/templates/ack/en/live', {
      json: { subject: 'x', mjml: MJML('<mj-text>x</mj-text>'), text: 'x' },
      headers: { 'x-csrf-token': await tokenFor(p, 'template-live') },
    });
    expect(live).toMatchObject({ status: 303, location: '/admin/sign-in/code' });
    expect(await snapshot()).toEqual(before);
    // the code page itself is the pending session's
    expect((await p.get('/admin/sign-in/code')).status).toBe(200);
  });

  it('a pending session is dead after its five minutes, even with the right code', async () => {
    const { id, key } = await totpAdmin('late@admin.test');
    const p = await pendingClient('late@admin.test');
    const s = await sessionOf(p);
    expect((s.expires_at.getTime() - s.created_at.getTime()) / 1000).toBeCloseTo(300, -1);
    const csrf = await p.csrf('/admin/sign-in/code', '/admin/sign-in/code');
    await t
      .db('admin_sessions')
      .where({ id: s.id })
      .update({ expires_at: t.db.raw(`now() - interval '1 second'`) });
    expect(await p.get('/admin/sign-in/code')).toMatchObject({ status: 303, location: '/admin/sign-in' });
    const r = await p.post('/admin/sign-in/code', { csrf, code: await freshCode(id, key) });
    expect(r).toMatchObject({ status: 303, location: '/admin/sign-in' });
    expect(await t.db('admin_sessions').where({ agent_id: id }).where('id', '>', s.id)).toHaveLength(0);
  });

  it('TOTP: a code works once, even sent by two pending sessions at once; a third session cannot replay it', async () => {
    const { id, key } = await totpAdmin('replay@admin.test');
    const [a, b] = [await pendingClient('replay@admin.test'), await pendingClient('replay@admin.test')];
    const first = (await sessionOf(a)).id;
    const [ta, tb] = [
      await a.csrf('/admin/sign-in/code', '/admin/sign-in/code'),
      await b.csrf('/admin/sign-in/code', '/admin/sign-in/code'),
    ];
    const code = await freshCode(id, key);
    const rs = await Promise.all([
      a.post('/admin/sign-in/code', { csrf: ta, code }),
      b.post('/admin/sign-in/code', { csrf: tb, code }),
    ]);
    expect(rs.map((r) => r.status).sort()).toEqual([303, 401]);
    expect(rs.find((r) => r.status === 303)!.location).toBe('/admin');
    const c = await pendingClient('replay@admin.test');
    expect((await c.submit('/admin/sign-in/code', '/admin/sign-in/code', { code })).status).toBe(401);
    // one full session came of it
    expect(
      await t.db('admin_sessions').where({ agent_id: id, second_factor_pending: false }).where('id', '>', first),
    ).toHaveLength(1);
  });

  it('TOTP brute force across pending sessions: 20 codes per agent per 15 minutes, then even the right one is refused', async () => {
    const { id, key } = await totpAdmin('brute@admin.test');
    await t.db('rate_limits').delete();
    const statuses: number[] = [];
    for (let s = 0; s < 5; s++) {
      const p = await pendingClient('brute@admin.test');
      const csrf = await p.csrf('/admin/sign-in/code', '/admin/sign-in/code');
      for (let i = 0; i < 4; i++)
        statuses.push((await p.post('/admin/sign-in/code', { csrf, code: wrongCode(key, s * 4 + i) })).status);
    }
    expect(statuses).toEqual(Array(20).fill(401));
    const last = await pendingClient('brute@admin.test');
    const r = await last.submit('/admin/sign-in/code', '/admin/sign-in/code', { code: await freshCode(id, key) });
    expect(r.status).toBe(429);
    expect((await sessionOf(last)).second_factor_pending).toBe(true);
  });

  it('recovery codes: one works once, also when two sessions send it at once in two spellings', async () => {
    const { id, codes } = await totpAdmin('recover@admin.test');
    const [a, b] = [await pendingClient('recover@admin.test'), await pendingClient('recover@admin.test')];
    const [ta, tb] = [
      await a.csrf('/admin/sign-in/code', '/admin/sign-in/code'),
      await b.csrf('/admin/sign-in/code', '/admin/sign-in/code'),
    ];
    const rs = await Promise.all([
      a.post('/admin/sign-in/code', { csrf: ta, code: codes[3]! }),
      b.post('/admin/sign-in/code', { csrf: tb, code: ` ${codes[3]!.toUpperCase().replace('-', '')} ` }),
    ]);
    expect(rs.map((r) => r.status).sort()).toEqual([303, 401]);
    const c = await pendingClient('recover@admin.test');
    expect((await c.submit('/admin/sign-in/code', '/admin/sign-in/code', { code: codes[3]! })).status).toBe(401);
    expect(
      Number((await t.db('agent_recovery_codes').where({ agent_id: id }).whereNull('used_at').count({ n: '*' }))[0]!.n),
    ).toBe(9);
  });

  it('a disabled agent and an admin demoted mid-session are refused on every route at once, nothing changes', async () => {
    const gone = await newAdmin('gone@admin.test');
    const demoted = await newAdmin('demoted@admin.test');
    const g = await signedIn('gone@admin.test');
    const d = await signedIn('demoted@admin.test');
    await t.db('agents').where({ id: gone }).update({ disabled: true });
    await t.db('agents').where({ id: demoted }).update({ role: 'agent' });
    const before = await snapshot();
    for (const r of adminOnly()) {
      const path = fill(r.url);
      for (const method of r.method === 'GET' ? ['GET', 'HEAD'] : [r.method]) {
        const send = async (c: Client, form: string) =>
          method === 'POST'
            ? c.send('POST', path, { form: { csrf: await tokenFor(c, form), subject: 'x' } })
            : c.send(method, path);
        expect(await send(g, 'template-save'), `disabled: ${method} ${path}`).toMatchObject({
          status: 303,
          location: '/admin/sign-in',
        });
        // demoting an admin ends their admin sessions (a trigger on agents): signed out
        expect(await send(d, 'template-save'), `demoted: ${method} ${path}`).toMatchObject({
          status: 303,
          location: '/admin/sign-in',
        });
      }
    }
    const live = await d.send('POST', '/admin/templates/ack/en/live', {
      json: { subject: 'x', mjml: MJML('<mj-text>x</mj-text>'), text: 'x' },
      headers: { 'x-csrf-token': await tokenFor(d, 'template-live') },
    });
    expect(live.status).toBe(303);
    expect(await snapshot()).toEqual(before);
  });

  it('a session of an agent disabled or demoted is over: enabling or promoting them again revives none', async () => {
    const id = await newAdmin('revive@admin.test');
    const c = await signedIn('revive@admin.test');
    await t.db('agents').where({ id }).update({ disabled: true });
    expect((await c.get('/admin')).status).toBe(303);
    await t.db('agents').where({ id }).update({ disabled: false });
    // an operator who disabled the agent (a lost laptop) expects that session to be over
    expect(await c.get('/admin'), 'disabled, then enabled again').toMatchObject({
      status: 303,
      location: '/admin/sign-in',
    });

    const id2 = await newAdmin('repromoted@admin.test');
    const c2 = await signedIn('repromoted@admin.test');
    await t.db('agents').where({ id: id2 }).update({ role: 'agent' });
    expect((await c2.get('/admin')).status).toBe(303);
    await t.db('agents').where({ id: id2 }).update({ role: 'admin' });
    expect(await c2.get('/admin'), 'demoted, then promoted again').toMatchObject({
      status: 303,
      location: '/admin/sign-in',
    });
  });
});

describe('password links', { timeout: 120_000 }, () => {
  it('a link sets one password once, also when two posts race; a GET spends nothing; every other session ends', async () => {
    const a = await createAgent(t.db, { email: 'link@admin.test', name: 'Link', role: 'admin', password: PASSWORD });
    const old = await signedIn('link@admin.test');
    const { secret } = await issueToken(t.db, 'password_set', { agentId: a.id }, 86400);
    const link = `/admin/password/${secret}`;
    const [c1, c2] = [client(), client()];
    expect((await c1.get(link)).status).toBe(200);
    expect((await c1.get(link)).status).toBe(200);
    const [t1, t2] = [await c1.csrf(link, link), await c2.csrf(link, link)];
    const [p1, p2] = ['first password 111', 'second password 222'];
    const rs = await Promise.all([
      c1.post(link, { csrf: t1, password: p1, confirm: p1 }),
      c2.post(link, { csrf: t2, password: p2, confirm: p2 }),
    ]);
    expect(rs.map((r) => r.status).sort()).toEqual([200, 404]);
    const [won, lost] = rs[0]!.status === 200 ? [p1, p2] : [p2, p1];
    expect(
      (await client().submit('/admin/sign-in', '/admin/sign-in', { email: 'link@admin.test', password: lost })).status,
    ).toBe(401);
    expect(
      (await client().submit('/admin/sign-in', '/admin/sign-in', { email: 'link@admin.test', password: won })).status,
    ).toBe(303);
    expect((await client().get(link)).status).toBe(404);
    expect(await old.get('/admin')).toMatchObject({ status: 303, location: '/admin/sign-in' });
    expect(await t.db('events').where({ type: 'admin.password_set', agent_id: a.id })).toHaveLength(1);
  });

  it('dead links all look alike: unknown, used, expired, revoked, a disabled agent’s, a customer’s', async () => {
    const a = await createAgent(t.db, { email: 'dead@admin.test', name: 'Dead', role: 'admin' });
    const used = await issueToken(t.db, 'password_set', { agentId: a.id }, 86400);
    await t.db('tokens').where({ id: used.id }).update({ used_at: t.db.fn.now() });
    const expired = await issueToken(t.db, 'password_set', { agentId: a.id }, 86400);
    await t
      .db('tokens')
      .where({ id: expired.id })
      .update({ expires_at: t.db.raw(`now() - interval '1 second'`) });
    const revoked = await issueToken(t.db, 'password_set', { agentId: a.id }, 86400);
    await t.db('tokens').where({ id: revoked.id }).update({ revoked_at: t.db.fn.now() });
    const off = await createAgent(t.db, { email: 'off@admin.test', name: 'Off', role: 'admin' });
    const disabled = await issueToken(t.db, 'password_set', { agentId: off.id }, 86400);
    await t.db('agents').where({ id: off.id }).update({ disabled: true });
    const [customerId] = (await t.db('customers').insert({ name: 'Cora' }).returning('id')).map((r) => r.id);
    const customer = await issueToken(t.db, 'password_set', { customerId: Number(customerId) }, 86400);
    const bodies = new Set<string>();
    for (const secret of [
      'B'.repeat(43),
      used.secret,
      expired.secret,
      revoked.secret,
      disabled.secret,
      customer.secret,
    ]) {
      for (const r of [
        await client().get(`/admin/password/${secret}`),
        await client().post(`/admin/password/${secret}`, {
          csrf: 'x',
          password: 'p'.repeat(12),
          confirm: 'p'.repeat(12),
        }),
      ]) {
        expect(r.status).toBe(404);
        bodies.add(r.html.replace(/value="[^"]*"/g, ''));
      }
    }
    expect(bodies.size).toBe(1);
    expect((await t.db('agents').where({ id: off.id }).first('password_hash')).password_hash).toBeNull();
  });
});

describe('CSRF', { timeout: 120_000 }, () => {
  const draft = { subject: 'Hello', mjml: MJML('<mj-text>Hello <%= it.customer.name %></mj-text>'), text: 'Hello' };
  const editor = '/admin/templates/ack/en';

  it('forms: no token, another session’s (of another admin and of the same one), another form’s, the pre-session one: refused, nothing stored', async () => {
    await newAdmin('csrf-a@admin.test');
    await newAdmin('csrf-b@admin.test');
    const visitor = client();
    await visitor.get('/admin/sign-in');
    const pre = visitor.cookie('inbound_admin_pre')!;
    const a = await signedIn('csrf-a@admin.test', visitor);
    const a2 = await signedIn('csrf-a@admin.test');
    const b = await signedIn('csrf-b@admin.test');
    const key = (await t.db('app_secrets').where({ name: 'admin-csrf' }).first('value')).value as Buffer;
    const preToken = createHmac('sha256', key).update(`admin:pre:${pre}:template-save`).digest('base64url');
    const tokens: [string, string | undefined][] = [
      ['none', undefined],
      ['empty', ''],
      ['junk', 'A'.repeat(43)],
      ['another admin’s session', await b.csrf(editor, `${editor}/draft`)],
      ['another session of the same admin', await a2.csrf(editor, `${editor}/draft`)],
      ['another form', await a.csrf(editor, `${editor}/test`)],
      ['the pre-session cookie’s', preToken],
    ];
    const before = await snapshot();
    for (const [what, csrf] of tokens) {
      const r = await a.post(`${editor}/draft`, { ...(csrf !== undefined && { csrf }), ...draft });
      expect(r.status, what).toBe(403);
    }
    // (the account page's forms are a hole of their own, below)
    for (const path of [
      '/admin/sign-out',
      '/admin/inboxes',
      '/admin/help',
      '/admin/portal',
      '/admin/portal-users',
      '/admin/templates/locale',
    ]) {
      expect((await a.post(path, { csrf: await tokenFor(b, 'sign-out') })).status, path).toBe(403);
    }
    expect(await snapshot()).toEqual(before);
    expect((await a.get('/admin')).status).toBe(200);
  });

  it('the account forms stop at a bad token or a spent code limit: nothing is done after the refusal', async () => {
    // turning on: a forged post starts a setup (a new TOTP secret replaces the one being set up)
    await newAdmin('acct@admin.test');
    const a = await signedIn('acct@admin.test');
    const forged = await a.post('/admin/account/totp/begin', { csrf: 'forged' });
    expect(forged.status).toBe(403);
    await new Promise((r) => setTimeout(r, 300));
    const problems: string[] = [];
    if ((await t.db('agents').where({ email: 'acct@admin.test' }).first('totp_secret')).totp_secret !== null)
      problems.push('begin: a TOTP setup was started by a post without its token');

    // turning off needs a current code, limited to 20 per agent per 15 minutes: past the limit the right one still works
    const { id, key, client: c } = await totpAdmin('acct-totp@admin.test');
    for (let i = 0; i < 20; i++) await hit(t.db, `admin-code:agent:${id}`, { max: 20, windowSeconds: 900 });
    const code = await freshCode(id, key);
    const limited = await c.submit('/admin/account', '/admin/account/totp/disable', { code });
    expect(limited.status).toBe(429);
    await new Promise((r) => setTimeout(r, 300));
    if ((await t.db('agents').where({ id }).first('totp_enabled_at')).totp_enabled_at === null)
      problems.push('disable: the second factor went off past the code limit (unlimited guessing of codes)');
    // new recovery codes (the old ones die) by a post without the form's token
    const other = await totpAdmin('acct-codes@admin.test');
    await t.db('rate_limits').delete();
    const hashes = () => t.db('agent_recovery_codes').where({ agent_id: other.id }).orderBy('id').pluck('code_hash');
    const before = (await hashes()).join();
    const noToken = await other.client.post('/admin/account/totp/codes', {
      csrf: 'forged',
      code: await freshCode(other.id, other.key),
    });
    expect(noToken.status).toBe(403);
    await new Promise((r) => setTimeout(r, 300));
    if ((await hashes()).join() !== before)
      problems.push('codes: new recovery codes were made by a post without its token');
    expect(problems).toEqual([]);
  });

  it('the live check: a cross-site form (text/plain or urlencoded) cannot send its header; a wrong header is refused', async () => {
    const a = await signedIn('csrf-a@admin.test');
    const b = await signedIn('csrf-b@admin.test');
    const live = `${editor}/live`;
    const good = await tokenFor(a, 'template-live');
    const refused: Res[] = [
      // what <form enctype="text/plain"> can post: JSON-looking text, no custom header
      await a.send('POST', live, { body: JSON.stringify({ ...draft, csrf: good }), type: 'text/plain' }),
      await a.send('POST', live, { form: { ...draft, csrf: good } }),
      await a.send('POST', live, { json: draft, headers: { 'x-csrf-token': await tokenFor(a, 'template-save') } }),
      await a.send('POST', live, { json: draft, headers: { 'x-csrf-token': await tokenFor(b, 'template-live') } }),
      await a.send('POST', live, { json: draft, headers: { 'x-csrf-token': '' } }),
    ];
    for (const r of refused) {
      expect(r.status).toBe(403);
      expect(JSON.parse(r.html).error).toMatch(/reload/);
    }
    const ok = await a.send('POST', live, { json: draft, headers: { 'x-csrf-token': good } });
    expect(ok.status).toBe(200);
    expect(JSON.parse(ok.html)).toMatchObject({ problems: [], subject: 'Hello' });
  });
});

describe('redirects and names from the URL', { timeout: 120_000 }, () => {
  const local = (location: string | null) => {
    expect(location).toMatch(/^\/admin(?:[/?]|$)/);
    expect(location).not.toMatch(/^\/\/|\\|[\r\n]/);
  };

  it('no redirect leaves the admin area: sign-in ignores next=; every Location built from input is a local path', async () => {
    await newAdmin('redirect@admin.test');
    const c = client();
    const csrf = await c.csrf('/admin/sign-in?next=https://evil.test&return_to=//evil.test', '/admin/sign-in');
    const r = await c.post('/admin/sign-in?next=https://evil.test', {
      csrf,
      email: 'redirect@admin.test',
      password: PASSWORD,
      next: '//evil.test',
      return_to: 'https://evil.test',
    });
    expect(r).toMatchObject({ status: 303, location: '/admin' });
    const editor = '/admin/templates/ack/en';
    const locations: (string | null)[] = [];
    for (const locale of ['//evil.test', 'en/../../x', 'en@evil.test', 'en\\evil', 'en\r\nLocation: //evil.test'])
      expect((await c.submit('/admin/templates', '/admin/templates/locale', { name: 'ack', locale })).status).toBe(422);
    locations.push(
      (await c.submit('/admin/templates', '/admin/templates/locale', { name: 'ack', locale: ' DE ' })).location,
    );
    expect(locations.at(-1)).toBe('/admin/templates/ack/de');
    const saved = await c.submit(editor, `${editor}/draft`, {
      subject: 'Hi',
      mjml: MJML('<mj-text>Hi</mj-text>'),
      text: 'Hi',
      ticket: '//evil.test/?x=1&done=',
      no_name: 'on',
    });
    expect(saved.status).toBe(303);
    locations.push(saved.location);
    const added = await c.submit('/admin/portal-users', '/admin/portal-users', {
      email: 'redirect-customer@admin-holes.test',
      q: '//evil.test/\r\nx',
      status: 'https://evil.test',
    });
    locations.push(added.location);
    const article = await c.submit('/admin/help/new', '/admin/help', {
      title: 'Redirects',
      locale: 'en',
      body: 'x',
      intent: 'save',
    });
    locations.push(article.location);
    const id = /\/admin\/help\/(\d+)/.exec(article.location!)![1]!;
    locations.push(
      (await c.submit(`/admin/help/${id}`, `/admin/help/${id}/publish`, { published: 'true', back: '//evil.test' }))
        .location,
    );
    locations.push((await c.submit('/admin', '/admin/sign-out')).location);
    expect(locations.every((l) => l !== null)).toBe(true);
    for (const l of locations) local(l);
  });

  it('odd template names and locales (prototype keys, traversal, NUL, case) are a 404, never a 500 or a stored row', async () => {
    await newAdmin('names@admin.test');
    const c = await signedIn('names@admin.test');
    const before = await snapshot();
    const odd = [
      ['__proto__', 'en'],
      ['constructor', 'en'],
      ['toString', 'en'],
      ['hasOwnProperty', 'en'],
      ['ACK', 'en'],
      ['..%2F..%2Fetc', 'en'],
      ['ack', '..'],
      ['ack', '%2e%2e'],
      ['ack', '..%2F..%2Fetc%2Fpasswd'],
      ['ack', '__proto__'],
      ['ack', 'constructor'],
      ['ack', 'EN'],
      ['ack', 'en%00'],
      ['ack', 'en%0d%0a'],
      ['ack', 'e'],
      ['ack', 'en-'],
      ['ack', 'en-us-x'],
    ];
    const live = await tokenFor(c, 'template-live');
    for (const [name, locale] of odd) {
      const base = `/admin/templates/${name}/${locale}`;
      for (const path of [base, `${base}/versions`, `${base}/diff?a=0&b=draft`]) {
        // the admin area's 404 page, or the router's when the name holds an encoded slash; a NUL
        // in the path is the router's 400
        expect([400, 404], path).toContain((await c.get(path)).status);
      }
      for (const [action, form] of [
        ['draft', 'template-save'],
        ['publish', 'template-publish'],
        ['discard', 'template-discard'],
        ['test', 'template-test'],
        ['rollback', 'template-rollback'],
        ['default', 'template-default'],
      ] as const) {
        const r = await c.post(`${base}/${action}`, {
          csrf: await tokenFor(c, form),
          subject: 'x',
          mjml: MJML('<mj-text>x</mj-text>'),
          text: 'x',
          version: '1',
        });
        expect([400, 404], `${base}/${action}`).toContain(r.status);
      }
      const j = await c.send('POST', `${base}/live`, {
        json: { subject: 'x', mjml: 'x', text: 'x' },
        headers: { 'x-csrf-token': live },
      });
      expect([400, 404], `${base}/live`).toContain(j.status);
    }
    for (const [a, b] of [
      ['__proto__', 'constructor'],
      ['-1', '0'],
      ['1e400', '0'],
      ['0x1', 'draft'],
      ['1.5', '0'],
      ['9007199254740993', '0'],
    ])
      expect((await c.get(`/admin/templates/ack/en/diff?a=${a}&b=${b}`)).status, `${a}..${b}`).toBe(404);
    for (const id of ['0', '-1', '1e3', '0x1', '1.0', '99999999999999999999', '__proto__'])
      for (const path of [`/admin/help/${id}`, `/admin/inboxes/${id}`, `/admin/help/${id}/delete`])
        expect((await c.get(path)).status, path).toBe(404);
    for (const action of ['__proto__', 'constructor', 'toString', 'delete'])
      expect(
        (await c.post(`/admin/portal-users/1/${action}`, { csrf: await tokenFor(c, 'portal-user-action') })).status,
        action,
      ).toBe(404);
    expect(await snapshot()).toEqual(before);
  });

  it('a rollback to a "version" that is no integer is the form’s 422, never a 500', async () => {
    await newAdmin('rollback@admin.test');
    const c = await signedIn('rollback@admin.test');
    const csrf = await tokenFor(c, 'template-rollback');
    const statuses: Record<string, number> = {};
    for (const version of ['', 'abc', '1.5', '1e400', '-1', '99999999999999'])
      statuses[version] = (await c.post('/admin/templates/ack/en/rollback', { csrf, version })).status;
    expect(statuses).toEqual({ '': 422, abc: 422, '1.5': 422, '1e400': 422, '-1': 422, '99999999999999': 422 });
  });

  it('?done= naming a prototype key shows no notice, never a 500 or Object’s insides', async () => {
    await newAdmin('done@admin.test');
    const c = await signedIn('done@admin.test');
    const wrong: string[] = [];
    for (const done of ['__proto__', 'constructor', 'toString', 'valueOf', 'hasOwnProperty'])
      for (const path of [
        `/admin/templates/ack/en?done=${done}`,
        `/admin/help?done=${done}`,
        `/admin/inboxes?done=${done}`,
        `/admin/portal?done=${done}`,
        `/admin/portal-users?done=${done}&who=1`,
      ]) {
        const r = await c.get(path);
        if (r.status !== 200) wrong.push(`${path}: ${r.status}`);
        else if (/\[object |native code/.test(r.html))
          wrong.push(`${path}: ${/\[object [^\]]*\]|function \w+\(\) \{ \[native code\] \}/.exec(r.html)![0]}`);
      }
    expect(wrong).toEqual([]);
  });
});

describe('stored XSS', { timeout: 120_000 }, () => {
  const X = `</textarea></title><script>alert(1)</script><img src=x onerror=alert(2)>"'`;
  /** The page as a browser parses it: no element but ours runs script (the srcdoc holds the mail as text). */
  const inert = (html: string, where: string) => {
    const found: string[] = [];
    const parser = new Parser({
      onopentag(name, attribs) {
        if (name === 'script' && !/^\/admin\/assets\/[\w-]+\/[\w.-]+\.js$/.test(attribs.src ?? ''))
          found.push('<script>');
        if (name === 'img' && attribs.src === 'x') found.push('<img src=x>');
        for (const a of Object.keys(attribs)) if (/^on/i.test(a)) found.push(`${name} ${a}`);
      },
    });
    parser.write(html);
    parser.end();
    expect(found, where).toEqual([]);
    expect(html, where).not.toContain('<script>alert');
  };

  it('drafts in the editor, history and diff; agent names; event data; article titles; inbox and customer names are inert', async () => {
    await newAdmin('xss@admin.test', { name: X });
    const c = await signedIn('xss@admin.test');
    const editor = '/admin/templates/ack/en';
    const saved = await c.submit(editor, `${editor}/draft`, {
      subject: `Hi "><script>alert(3)</script>`,
      mjml: MJML(`<mj-text>${X}</mj-text>`),
      text: `${X}\n<%= it.customer.name %>`,
    });
    expect(saved.status).toBe(303);
    const article = await c.submit('/admin/help/new', '/admin/help', {
      title: X,
      locale: 'en',
      body: X,
      intent: 'save',
    });
    expect(article.status).toBe(303);
    const inbox = await c.submit('/admin/inboxes', '/admin/inboxes', { address: 'xss@admin-holes.test', name: X });
    expect(inbox.status).toBe(303);
    const user = await c.submit('/admin/portal-users', '/admin/portal-users', {
      email: 'xss-customer@admin-holes.test',
      name: X,
    });
    expect(user.status).toBe(303);
    const pages = [
      '/admin',
      '/admin/events',
      '/admin/account',
      editor,
      `${editor}/versions`,
      `${editor}/diff?a=0&b=draft`,
      '/admin/help',
      article.location!,
      `${article.location!.replace(/\?.*/, '')}/delete`,
      '/admin/inboxes',
      inbox.location!,
      '/admin/portal',
      '/admin/portal-users',
      user.location!,
    ];
    for (const path of pages) {
      const r = await c.get(path);
      expect(r.status, path).toBe(200);
      inert(r.html, path);
    }
    // shown, escaped: the text is there, as text
    expect((await c.get(editor)).html).toContain('&lt;/textarea&gt;&lt;/title&gt;&lt;script&gt;alert(1)');
    expect((await c.get('/admin/events')).html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    // the invalid draft comes back on the form as typed, inert too
    const bad = await c.submit(editor, `${editor}/draft`, { subject: X, mjml: `${X}<% it.x = 1 %>`, text: X });
    expect(bad.status).toBe(422);
    inert(bad.html, 'the refused draft');
  });
});

describe('the preview frame (chromium)', { timeout: 120_000 }, () => {
  it('runs none of the draft’s script and cannot navigate, frame or post from the admin page; the live preview neither', async () => {
    const { startBrowser } = await import('./helpers/browser.ts');
    await newAdmin('frame@admin.test');
    const c = await signedIn('frame@admin.test');
    const ran = (what: string) => `${web}/admin/events?ran=${what}`;
    const payload = [
      `<mj-raw><script>fetch('${ran('script')}');parent.postMessage('script','*');top.location='${ran('top')}'</script></mj-raw>`,
      `<mj-text><img src="${web}/admin/assets/none.png" onerror="fetch('${ran('onerror')}')"></mj-text>`,
      `<mj-button href="${ran('button')}" target="_top">go</mj-button>`,
      `<mj-raw><a id="up" style="font-size:16px" href="${ran('link')}" target="_top">up</a><form action="${web}/admin/sign-out" method="post"><button id="out">out</button></form></mj-raw>`,
    ].join('\n');
    const editor = '/admin/templates/ack/en';
    const saved = await c.submit(editor, `${editor}/draft`, { subject: 'Frame test', mjml: MJML(payload), text: 'x' });
    expect(saved.status).toBe(303);

    const browser = await startBrowser();
    // the payload runs where nothing stops it: it is live, and the frame below is what stops it
    const control = await browser.newContext();
    const seen: string[] = [];
    control.on('request', (r) => seen.push(r.url()));
    const html = JSON.parse(
      (
        await c.send('POST', `${editor}/live`, {
          json: { subject: 'Frame test', mjml: MJML(payload), text: 'x' },
          headers: { 'x-csrf-token': await tokenFor(c, 'template-live') },
        })
      ).html,
    ).html as string;
    const open = await control.newPage();
    await open.setContent(html);
    await expect.poll(() => seen.some((u) => u.includes('ran=script'))).toBe(true);
    await control.close();

    const context = await browser.newContext();
    await context.addCookies([{ name: 'inbound_admin', value: c.cookie('inbound_admin')!, url: `${web}/admin` }]);
    const requests: string[] = [];
    context.on('request', (r) => requests.push(`${r.method()} ${r.url()}`));
    const page = await context.newPage();
    const dialogs: string[] = [];
    page.on('dialog', (d) => {
      dialogs.push(d.message());
      void d.dismiss();
    });
    const response = await page.goto(web + editor);
    expect(response!.headers()['content-security-policy']).toContain("script-src 'self'");
    for (const id of ['#preview-desktop', '#preview-phone'])
      expect(await page.$eval(id, (f) => f.getAttribute('sandbox'))).toBe('');
    const frame = page.frames().find((f) => f.name() === '' && f !== page.mainFrame())!;
    expect(frame).toBeDefined();
    await page.waitForTimeout(1500);
    // clicks in the frame: a link and a button aimed at the top page and at sign-out
    const clicked: string[] = [];
    for (const selector of ['#up', '#out', 'a[href$="ran=button"]'])
      await frame.click(selector, { timeout: 5000 }).then(() => clicked.push(selector));
    expect(clicked).toHaveLength(3);
    await page.waitForTimeout(1000);
    // the live preview: typing fills the frames anew with what the server sent back
    await page.fill('#text', 'typed');
    await page.waitForResponse((r) => r.url().endsWith('/live'));
    await page.waitForTimeout(1500);
    expect(await page.$eval('#preview-desktop', (f) => f.getAttribute('srcdoc'))).toContain(ran('script'));
    expect(requests.filter((r) => r.includes('ran='))).toEqual([]);
    expect(requests.filter((r) => r.startsWith('POST') && r.includes('/sign-out'))).toEqual([]);
    expect(page.url()).toBe(web + editor);
    expect(dialogs).toEqual([]);
    expect((await c.get('/admin')).status).toBe(200);
    await context.close();
  });
});

describe('previews with a real ticket, and test mails', { timeout: 120_000 }, () => {
  it('a preview issues no link token and shows no internal note; a test mail goes to the admin alone, one subject line', async () => {
    const adminId = await newAdmin('mailer@admin.test');
    const c = await signedIn('mailer@admin.test');
    const [customerId] = (await t.db('customers').insert({ name: 'Tina' }).returning('id')).map((r) => Number(r.id));
    await t.db('customer_emails').insert({ customer_id: customerId, address: 'tina@customer.test', is_primary: true });
    const { makeTicket } = await import('./helpers/tickets.ts');
    const ticket = await makeTicket(t.db, {
      inboxId,
      requesterId: customerId!,
      companyId: null,
      subject: 'Order 7\r\nBcc: victim@evil.test\r\nX-Injected: yes',
    });
    const { number } = await t.db('tickets').where({ id: ticket.id }).first('number');
    const message = (internal: boolean, text: string) => ({
      ticket_id: ticket.id,
      direction: 'outbound',
      author_type: 'agent',
      author_agent_id: adminId,
      internal,
      text,
    });
    await t.db('messages').insert(message(false, 'Public answer 42'));
    await t.db('messages').insert(message(true, 'INTERNAL SECRET 99'));
    const tokens = Number((await t.db('tokens').count({ n: '*' }))[0]!.n);

    const editor = '/admin/templates/agent_reply/en';
    const page = await c.get(`${editor}?ticket=${number}`);
    expect(page.status).toBe(200);
    expect(page.html).toContain('Public answer 42');
    expect(page.html).not.toContain('INTERNAL SECRET');
    expect(page.html).toContain(`${PUBLIC}/t/preview`);
    const live = JSON.parse(
      (
        await c.send('POST', `${editor}/live`, {
          json: {
            subject: 'Re: <%= it.ticket.subject %>',
            mjml: MJML('<mj-text><%~ it.message.html %> <a href="<%= it.link %>">open</a></mj-text>'),
            text: '<%= it.message.text %> <%= it.link %>',
            ticket: `#${number}`,
          },
          headers: { 'x-csrf-token': await tokenFor(c, 'template-live') },
        })
      ).html,
    );
    expect(live.subject).toBe('Re: Order 7 Bcc: victim@evil.test X-Injected: yes');
    expect(live.text).toBe(`Public answer 42 ${PUBLIC}/t/preview`);
    expect(live.html).not.toContain('INTERNAL');

    // the test mail: fields naming another recipient are ignored
    const sent = await c.submit(editor, `${editor}/test`, {
      ticket: String(number),
      recipient: 'victim@evil.test',
      to: 'victim@evil.test',
      email: 'victim@evil.test',
      cc: 'victim@evil.test',
      bcc: 'victim@evil.test',
    });
    expect(sent).toMatchObject({ status: 303, location: `${editor}?ticket=${number}&done=tested` });
    const mail = await eventually(async () => sink.mails.find((m) => m.to.includes('mailer@admin.test')), 20_000);
    expect(sink.mails.every((m) => m.to.every((to) => !to.includes('evil.test')))).toBe(true);
    expect(mail.to).toEqual(['mailer@admin.test']);
    const head = mail.raw.toString('latin1').split('\r\n\r\n')[0]!;
    expect(head).not.toMatch(/^(?:bcc|x-injected):/im);
    expect(head.match(/^subject:/gim)).toHaveLength(1);
    expect(mail.mail.subject).toMatch(/^\[Test\] Re: .*Order 7 Bcc: victim@evil\.test X-Injected: yes$/);
    expect(mail.mail.text).toContain('Public answer 42');
    expect(mail.mail.text).not.toContain('INTERNAL');
    expect(await t.db('outbound_messages').where({ kind: 'template_test' }).pluck('recipient')).toEqual([
      'mailer@admin.test',
    ]);
    expect(Number((await t.db('tokens').count({ n: '*' }))[0]!.n)).toBe(tokens);
  });

  it('header injection through the subject: a line break is refused, a lone CR or other space collapses to one line', async () => {
    await newAdmin('subject@admin.test');
    const c = await signedIn('subject@admin.test');
    const editor = '/admin/templates/ack/en';
    const token = await tokenFor(c, 'template-live');
    const live = async (subject: string) =>
      JSON.parse(
        (
          await c.send('POST', `${editor}/live`, {
            json: { subject, mjml: MJML('<mj-text>x</mj-text>'), text: 'x' },
            headers: { 'x-csrf-token': token },
          })
        ).html,
      );
    expect((await live('Hello\nBcc: evil@evil.test')).problems[0].message).toMatch(/one line/);
    expect((await live('Hello\r\nBcc: evil@evil.test')).problems[0].message).toMatch(/one line/);
    for (const s of ['Hello\rBcc: evil@evil.test', 'Hello\u2028Bcc: evil@evil.test', 'Hello\tBcc:\fevil@evil.test\v'])
      expect((await live(s)).subject, JSON.stringify(s)).toBe('Hello Bcc: evil@evil.test');
    // a saved draft's lone CR becomes a line end, and is refused
    const before = await snapshot();
    const r = await c.submit(editor, `${editor}/draft`, {
      subject: 'Hello\rBcc: evil@evil.test',
      mjml: MJML('<mj-text>x</mj-text>'),
      text: 'x',
    });
    expect(r.status).toBe(422);
    expect(await snapshot()).toEqual(before);
  });

  it('test mails: 30 an hour per admin, then refused with nothing queued', async () => {
    const id = await newAdmin('tests@admin.test');
    const c = await signedIn('tests@admin.test');
    for (let i = 0; i < 30; i++) await hit(t.db, `admin-test-mail:${id}`, { max: 30, windowSeconds: 3600 });
    const before = Number((await t.db('outbound_messages').count({ n: '*' }))[0]!.n);
    const r = await c.submit('/admin/templates/ack/en', '/admin/templates/ack/en/test');
    expect(r.status).toBe(429);
    expect(Number((await t.db('outbound_messages').count({ n: '*' }))[0]!.n)).toBe(before);
  });
});

describe('responses', { timeout: 120_000 }, () => {
  it('no-store on every admin answer (pages, redirects, JSON, errors, the CSV export); cookies HttpOnly, SameSite=Strict, Path=/admin', async () => {
    await newAdmin('headers@admin.test');
    const c = client();
    const signInPage = await c.get('/admin/sign-in');
    const pre = signInPage.headers.getSetCookie().join('\n');
    expect(pre).toMatch(
      /^inbound_admin_pre=[A-Za-z0-9_-]{43}; Path=\/admin; HttpOnly; SameSite=Strict; Max-Age=86400$/m,
    );
    expect(pre).not.toMatch(/Secure/);
    const r = await c.submit('/admin/sign-in', '/admin/sign-in', { email: 'headers@admin.test', password: PASSWORD });
    expect(r.headers.getSetCookie().join('\n')).toMatch(
      /^inbound_admin=[A-Za-z0-9_-]{43}; Path=\/admin; HttpOnly; SameSite=Strict; Max-Age=43200$/m,
    );
    const token = await tokenFor(c, 'template-live');
    const { secret } = await issueToken(t.db, 'password_set', { agentId: await newAdmin('headers2@admin.test') }, 3600);
    const answers: [string, Res][] = [
      ['sign-in page', signInPage],
      ['sign-in redirect', r],
      ['home', await c.get('/admin')],
      ['editor', await c.get('/admin/templates/ack/en')],
      [
        'live 200',
        await c.send('POST', '/admin/templates/ack/en/live', {
          json: { subject: 'x', mjml: MJML('<mj-text>x</mj-text>'), text: 'x' },
          headers: { 'x-csrf-token': token },
        }),
      ],
      ['live 403', await c.send('POST', '/admin/templates/ack/en/live', { json: {} })],
      ['404 page', await c.get('/admin/templates/nope/en')],
      ['export', await c.get('/admin/portal-users/export')],
      ['password link', await client().get(`/admin/password/${secret}`)],
      ['dead password link', await client().get(`/admin/password/${'C'.repeat(43)}`)],
      ['signed out', await client().get('/admin/templates')],
    ];
    for (const [what, a] of answers) {
      expect(a.headers.get('cache-control'), what).toBe('no-store');
      expect(a.headers.get('referrer-policy'), what).toBe('same-origin');
      expect(a.headers.get('x-content-type-options'), what).toBe('nosniff');
    }
    // over https the cookies are Secure
    const db = createDb(t.url, { poolMax: 2, log: testLog });
    const https = buildWeb({ db, boss, log: testLog, publicUrl: 'https://admin.example' });
    const { port } = await listenWeb(https, '127.0.0.1', 0);
    try {
      const s = await fetch(`http://127.0.0.1:${port}/admin/sign-in`);
      expect(s.headers.getSetCookie().join('\n')).toMatch(/inbound_admin_pre=[^\n]*; Secure$/m);
    } finally {
      await https.close();
      await db.destroy();
    }
  });

  it('enumeration: unknown, wrong, disabled, password-less and over-long sign-ins get one answer, and take the password hash’s time', async () => {
    await newAdmin('known@admin.test');
    const off = await newAdmin('disabled@admin.test');
    await t.db('agents').where({ id: off }).update({ disabled: true });
    await createAgent(t.db, { email: 'nopass@admin.test', name: 'No password', role: 'admin' });
    const attempt = async (email: string, password: string) => {
      const c = client();
      const csrf = await c.csrf('/admin/sign-in', '/admin/sign-in');
      const t0 = performance.now();
      const r = await c.post('/admin/sign-in', { csrf, email, password });
      return { ms: performance.now() - t0, status: r.status, body: r.html.replace(/value="[^"]*"/g, '') };
    };
    const cases: [string, string][] = [
      ['nobody@admin.test', PASSWORD],
      ['known@admin.test', 'wrong password 99'],
      ['disabled@admin.test', PASSWORD],
      ['nopass@admin.test', PASSWORD],
      ['known@admin.test', 'x'.repeat(5000)],
    ];
    const results = [];
    for (const [email, password] of cases) results.push(await attempt(email, password));
    expect(results.map((r) => r.status)).toEqual([401, 401, 401, 401, 401]);
    expect(new Set(results.map((r) => r.body)).size).toBe(1);
    const median = async (email: string, password: string) => {
      const ms = [];
      for (let i = 0; i < 3; i++) ms.push((await attempt(email, password)).ms);
      return ms.sort((a, b) => a - b)[1]!;
    };
    const known = await median('known@admin.test', 'wrong password 99');
    // every case pays for a password hash: none answers in a fraction of the known address's time
    for (const [email, password] of [cases[0]!, cases[2]!, cases[3]!, cases[4]!])
      expect(await median(email, password), email).toBeGreaterThan(known * 0.25);
  });
});

describe('denial of service', { timeout: 120_000 }, () => {
  it('body limits: a huge live check is 413 before any work; so is a huge form', async () => {
    await newAdmin('big@admin.test');
    const c = await signedIn('big@admin.test');
    const token = await tokenFor(c, 'template-live');
    const live = await c.send('POST', '/admin/templates/ack/en/live', {
      json: { subject: 'x', mjml: 'x'.repeat(700_000), text: 'x' },
      headers: { 'x-csrf-token': token },
    });
    expect(live.status).toBe(413);
    const form = await c.post('/admin/templates/ack/en/draft', {
      csrf: await tokenFor(c, 'template-save'),
      mjml: 'x'.repeat(300_000),
    });
    expect(form.status).toBe(413);
    // the signed-out are turned away whatever they send (within the limit)
    expect(
      (await client().send('POST', '/admin/templates/ack/en/live', { json: { mjml: 'x'.repeat(500_000) } })).status,
    ).toBe(303);
  });

  it('live checks: 240 a minute per admin, then 429', async () => {
    const id = await newAdmin('many@admin.test');
    const c = await signedIn('many@admin.test');
    const token = await tokenFor(c, 'template-live');
    // not across a minute's boundary: the window is fixed
    if (new Date().getSeconds() > 50) await new Promise((r) => setTimeout(r, (61 - new Date().getSeconds()) * 1000));
    for (let i = 0; i < 239; i++) await hit(t.db, `admin-live:${id}`, { max: 240, windowSeconds: 60 });
    const send = () =>
      c.send('POST', '/admin/templates/ack/en/live', {
        json: { subject: 'x', mjml: MJML('<mj-text>x</mj-text>'), text: 'x' },
        headers: { 'x-csrf-token': token },
      });
    expect((await send()).status).toBe(200);
    const over = await send();
    expect(over.status).toBe(429);
    expect(JSON.parse(over.html).error).toMatch(/Too many/);
  });

  it('maximal live checks do not stall the web process’s other requests (previews run in a worker thread, one at a time per admin)', async () => {
    await newAdmin('dos@admin.test');
    const a = await signedIn('dos@admin.test');
    const token = await tokenFor(a, 'template-live');
    const unit = '<mj-text>hello <%= it.customer.name %></mj-text>';
    // as large as a part may be (64 KB); a larger one is refused with 413 before any work
    const mjml = MJML(unit.repeat(Math.floor(64_000 / unit.length)));
    expect(mjml.length).toBeLessThanOrEqual(64 * 1024);
    const tooBig = await a.send('POST', '/admin/templates/ack/en/live', {
      json: { subject: 'x', mjml: `${mjml}${' '.repeat(70_000)}`, text: 'x' },
      headers: { 'x-csrf-token': token },
    });
    expect(tooBig.status).toBe(413);
    let worst = 0;
    let done = false;
    const probe = (async () => {
      while (!done) {
        const t0 = performance.now();
        await fetch(`${web}/healthz`);
        worst = Math.max(worst, performance.now() - t0);
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    const t0 = performance.now();
    const rs = await Promise.all(
      Array.from({ length: 2 }, () =>
        a.send('POST', '/admin/templates/ack/en/live', {
          json: { subject: 'x', mjml, text: 'x' },
          headers: { 'x-csrf-token': token },
        }),
      ),
    );
    const took = performance.now() - t0;
    done = true;
    await probe;
    // one preview at a time per admin: the second waits its turn (429) or comes after the first
    expect(rs.map((r) => r.status)).toContain(200);
    for (const r of rs) expect([200, 429]).toContain(r.status);
    // MJML runs in the preview thread: the health check does not wait for a preview
    expect(worst).toBeLessThan(Math.max(250, took / 4));
  });

  it('the new code’s regexes stay linear on hostile text', async () => {
    const { fieldOf, sentence, text } = await import('../src/web/admin/area-forms.ts');
    const { labelled } = await import('../src/web/admin/portal-form.ts');
    const { previewChoice } = await import('../src/web/admin/template-vars.ts');
    const { choiceQuery } = await import('../src/web/admin/templates.ts');
    const { parseCookies } = await import('../src/web/forms.ts');
    const n = 200_000;
    const hostile = [
      'a'.repeat(n),
      `${'a.'.repeat(n / 2)}!`,
      `${'a_'.repeat(n / 2)}:`,
      `${'text_color'.repeat(n / 10)}`,
      `${'\r'.repeat(n)}x`,
      `${'#'.repeat(n)}1`,
      `${'a='.repeat(n / 2)};`,
      `${' ;'.repeat(n / 2)}`,
    ];
    const t0 = performance.now();
    for (const s of hostile) {
      fieldOf(s);
      sentence(s);
      text({ s }, 's');
      labelled(s);
      labelled(`branding.name: ${s}`);
      choiceQuery(previewChoice({ ticket: s, no_name: s, long_subject: s }));
      parseCookies(s);
    }
    expect(performance.now() - t0).toBeLessThan(2000);
  });
});

describe('limits under concurrency', { timeout: 120_000 }, () => {
  it('parallel wrong passwords from one client stop at the 10 per address and client', async () => {
    await newAdmin('race@admin.test');
    const c = client();
    const csrf = await c.csrf('/admin/sign-in', '/admin/sign-in');
    const rs = await Promise.all(
      Array.from({ length: 12 }, () =>
        c.post('/admin/sign-in', { csrf, email: 'race@admin.test', password: 'wrong password 1' }),
      ),
    );
    // each 401 is a password that was checked; past the limit the answer must be 429 without a check
    expect(rs.filter((r) => r.status === 401).length).toBeLessThanOrEqual(10);
  });

  it('parallel wrong codes on one pending session stop at its five', async () => {
    const { id, key } = await totpAdmin('burst@admin.test');
    await t.db('rate_limits').delete();
    const p = await pendingClient('burst@admin.test');
    const csrf = await p.csrf('/admin/sign-in/code', '/admin/sign-in/code');
    await Promise.all(
      Array.from({ length: 10 }, (_, i) => p.post('/admin/sign-in/code', { csrf, code: wrongCode(key, i) })),
    );
    const s = await t
      .db('admin_sessions')
      .where({ agent_id: id, second_factor_pending: true })
      .orderBy('id', 'desc')
      .first();
    // code_failures counts the codes checked against this session
    expect(s.code_failures).toBeLessThanOrEqual(5);
  });
});
