// Admin sign-in: the password link of `inbound admin create`, one answer for every failed sign-in,
// CSRF on every form, agents without the admin role refused, the TOTP second factor with codes
// computed here (an independent implementation: RFC 6238 with node:crypto), recovery codes that
// work once, and an event for every admin action.
import { beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './helpers/db.ts';
import { startTestApi, type TestApi } from './helpers/api.ts';
import { PortalClient as WebClient } from './helpers/portal.ts';
import { totp } from './helpers/totp.ts';
import { issueToken } from '../src/access/index.ts';
import { createAgent } from '../src/agents/index.ts';

let t: TestDatabase;
let api: TestApi;
let web: string;
const PASSWORD = 'admin password 123';

beforeAll(async () => {
  t = await createTestDatabase();
  api = await startTestApi(t.url);
  web = api.base.replace(/\/api\/v1$/, '');
});

async function newAdmin(email: string, role: 'admin' | 'agent' = 'admin') {
  const agent = await createAgent(t.db, { email, name: `${role} ${email}`, role });
  const { secret } = await issueToken(t.db, 'password_set', { agentId: agent.id }, 86400);
  const c = new WebClient(web);
  const page = await c.get(`/admin/password/${secret}`);
  expect(page.status).toBe(200);
  expect(page.html).toContain(email);
  const r = await c.submit(`/admin/password/${secret}`, `/admin/password/${secret}`, {
    password: PASSWORD,
    confirm: PASSWORD,
  });
  expect(r.status).toBe(200);
  expect(r.html).toContain('Your password is set');
  return { agent, secret };
}

const signIn = (c: WebClient, email: string, password = PASSWORD) =>
  c.submit('/admin/sign-in', '/admin/sign-in', { email, password });

describe('admin sign-in', () => {
  it('sets the password once through the link, then signs in; a GET of the link changes nothing', async () => {
    const { secret } = await newAdmin('ada@admin.test');
    // used: the link is gone
    expect((await new WebClient(web).get(`/admin/password/${secret}`)).status).toBe(404);
    const c = new WebClient(web);
    expect(await signIn(c, 'ada@admin.test')).toMatchObject({ status: 303, location: '/admin' });
    const home = await c.get('/admin');
    expect(home.status).toBe(200);
    expect(home.html).toContain('Hello, admin ada@admin.test');
    expect(c.cookie('inbound_admin')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    // not the portal's cookie, nor its path
    expect(c.cookie('inbound_portal')).toBeUndefined();
  });

  it('sends the signed-out to the sign-in page and answers every failure alike', async () => {
    expect(await new WebClient(web).get('/admin/templates')).toMatchObject({ status: 303, location: '/admin/sign-in' });
    const bodies: string[] = [];
    for (const [email, password] of [
      ['nobody@admin.test', PASSWORD],
      ['ada@admin.test', 'wrong password!!'],
    ] as const) {
      const r = await signIn(new WebClient(web), email, password);
      expect(r.status).toBe(401);
      bodies.push(r.html.replace(/value="[^"]*"/g, ''));
    }
    expect(bodies[0]).toBe(bodies[1]);
  });

  it('refuses forms without their token', async () => {
    const r = await new WebClient(web).post('/admin/sign-in', { email: 'ada@admin.test', password: PASSWORD });
    expect(r.status).toBe(403);
    const c = new WebClient(web);
    await signIn(c, 'ada@admin.test');
    expect((await c.post('/admin/sign-out', { csrf: 'x' })).status).toBe(403);
    expect((await c.post('/admin/account/totp/begin', {})).status).toBe(403);
  });

  it('refuses an agent without the admin role with 403 on every page', async () => {
    await newAdmin('alan@agent.test', 'agent');
    const c = new WebClient(web);
    expect((await signIn(c, 'alan@agent.test')).status).toBe(303);
    for (const path of ['/admin', '/admin/templates', '/admin/account', '/admin/events']) {
      const r = await c.get(path);
      expect(r.status, path).toBe(403);
      expect(r.html).toContain('Admins only');
    }
  });

  it('throttles guessing at one address', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 12; i++)
      statuses.push((await signIn(new WebClient(web), 'limited@admin.test', 'x'.repeat(12))).status);
    expect(statuses.slice(0, 10).every((s) => s === 401)).toBe(true);
    expect(statuses.slice(10)).toEqual([429, 429]);
  });

  it('turns on TOTP, then asks for a code at sign-in; a code works once; recovery codes work once', async () => {
    const { agent } = await newAdmin('tia@admin.test');
    const c = new WebClient(web);
    await signIn(c, 'tia@admin.test');
    await c.submit('/admin/account', '/admin/account/totp/begin');
    const setup = await c.get('/admin/account');
    const key = /data-testid="totp-secret">([A-Z2-7]+)</.exec(setup.html)![1]!;
    expect(setup.html).toContain('<svg');
    // a wrong code does not turn it on
    const wrong = await c.submit('/admin/account', '/admin/account/totp/confirm', {
      code: '000000' === totp(key) ? '111111' : '000000',
    });
    expect(wrong.status).toBe(422);
    const used = totp(key);
    const on = await c.submit('/admin/account', '/admin/account/totp/confirm', { code: used });
    expect(on.status).toBe(200);
    const codes = [...on.html.matchAll(/<li><code>([a-z0-9]{5}-[a-z0-9]{5})<\/code><\/li>/g)].map((m) => m[1]!);
    expect(codes).toHaveLength(10);

    // the password alone now opens only the code page
    const d = new WebClient(web);
    expect(await signIn(d, 'tia@admin.test')).toMatchObject({ status: 303, location: '/admin/sign-in/code' });
    expect(await d.get('/admin')).toMatchObject({ status: 303, location: '/admin/sign-in/code' });
    // the code used to turn it on was used: refused again
    expect((await d.submit('/admin/sign-in/code', '/admin/sign-in/code', { code: used })).status).toBe(401);
    // the next step's code is fine (one step of drift is allowed)
    const next = totp(key, Date.now() + 30_000);
    const pendingCookie = d.cookie('inbound_admin');
    expect(await d.submit('/admin/sign-in/code', '/admin/sign-in/code', { code: next })).toMatchObject({
      status: 303,
      location: '/admin',
    });
    expect(d.cookie('inbound_admin')).not.toBe(pendingCookie);
    expect((await d.get('/admin')).status).toBe(200);

    // a recovery code, once
    const e = new WebClient(web);
    await signIn(e, 'tia@admin.test');
    expect(
      (await e.submit('/admin/sign-in/code', '/admin/sign-in/code', { code: codes[0]!.toUpperCase() })).status,
    ).toBe(303);
    const f = new WebClient(web);
    await signIn(f, 'tia@admin.test');
    expect((await f.submit('/admin/sign-in/code', '/admin/sign-in/code', { code: codes[0]! })).status).toBe(401);

    // the secret is stored sealed, not as the key
    const row = await t.db('agents').where({ id: agent.id }).first('totp_secret');
    expect(row.totp_secret).not.toContain(key);
    const events = await t.db('events').where({ agent_id: agent.id }).pluck('type');
    expect(events).toEqual(expect.arrayContaining(['admin.password_set', 'admin.second_factor_on', 'admin.signed_in']));
  });

  it('ends a pending sign-in after five wrong codes', async () => {
    const c = new WebClient(web);
    await signIn(c, 'tia@admin.test');
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++)
      statuses.push((await c.submit('/admin/sign-in/code', '/admin/sign-in/code', { code: '12345x' })).status);
    expect(statuses).toEqual([401, 401, 401, 401, 401]);
    expect(await c.get('/admin/sign-in/code')).toMatchObject({ status: 303, location: '/admin/sign-in' });
  });

  it('signs out: the session is over', async () => {
    const c = new WebClient(web);
    await signIn(c, 'ada@admin.test');
    const cookie = c.cookie('inbound_admin')!;
    expect((await c.submit('/admin', '/admin/sign-out')).location).toBe('/admin/sign-in?done=signed-out');
    const r = await fetch(`${web}/admin`, { headers: { cookie: `inbound_admin=${cookie}` }, redirect: 'manual' });
    expect(r.status).toBe(303);
  });

  it('sends the admin pages with a strict CSP and no framing', async () => {
    const r = await fetch(`${web}/admin/sign-in`);
    expect(r.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    expect(r.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(r.headers.get('x-frame-options')).toBe('DENY');
    const css = /href="(\/admin\/assets\/[^"]+\.css)"/.exec(await r.text())![1]!;
    const asset = await fetch(web + css);
    expect(asset.status).toBe(200);
    expect(asset.headers.get('cache-control')).toContain('immutable');
  });
});
