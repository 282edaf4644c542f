// Portal accounts without a browser: password links (invite, reset; expired, used, disabled),
// "forgot password" (also the invitation again), sign-in by mail link (a GET neither spends nor
// uses it), self sign-up with domain matching, deactivation signing out at once, one answer for
// known and unknown addresses, CSRF on every form, the admins' /portal-users API and the CLI.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './helpers/db.ts';
import { startTestApi, type TestApi } from './helpers/api.ts';
import { eventually, startBossFor, startTestIngest, startTestOutbound, startTestWorker } from './helpers/app.ts';
import { sendRaw } from './helpers/smtp-client.ts';
import { startSink, type Sink, type SunkMail } from './helpers/sink.ts';
import { PortalClient } from './helpers/portal.ts';
import { issueToken } from '../src/access/index.ts';
import { createInboxStore } from '../src/inboxes/index.ts';
import { setPassword, updatePortalSettings } from '../src/portal/index.ts';
import * as authMessages from '../src/web/portal/messages/auth.ts';

let t: TestDatabase;
let api: TestApi;
let sink: Sink;
let web: string;
let smtpPort: number;
const PASSWORD = 'a long enough password';

beforeAll(async () => {
  t = await createTestDatabase();
  api = await startTestApi(t.url);
  web = api.base.replace(/\/api\/v1$/, '');
  sink = await startSink();
  const boss = await startBossFor(t.url, true);
  await startTestOutbound(t.db, boss, sink.url, web);
  await createInboxStore(t.db).add('support@localhost', 'Example Support');
  smtpPort = (await startTestIngest(t.url, { inboxes: ['support@localhost'], boss })).port;
  await startTestWorker(t.url, boss, 1);
  // through the web's own connection: its settings cache sees the change at once
  await updatePortalSettings(api.db, { enabled: true, self_signup: true });
});

beforeEach(async () => {
  // every test starts with fresh limits (they are counted per client, and all come from 127.0.0.1)
  await t.db('rate_limits').delete();
});

/** The next mail to an address after `since` mails. */
function mailTo(address: string, since: number): Promise<SunkMail> {
  return eventually(async () => sink.mails.slice(since).find((m) => m.to.includes(address)), 15_000);
}

function linkIn(mail: SunkMail, route: string): string {
  const m = new RegExp(`${web}(/portal/${route}/[A-Za-z0-9_-]{43})`).exec(mail.mail.text ?? '');
  if (!m) throw new Error(`no /portal/${route} link in: ${mail.mail.text}`);
  return m[1]!;
}

async function customer(email: string, extra: Record<string, unknown> = {}): Promise<number> {
  const r = await api.call('POST', '/customers', { email, name: email.split('@')[0], ...extra });
  expect(r.status).toBe(201);
  return r.body.id;
}

async function activeCustomer(email: string, extra: Record<string, unknown> = {}): Promise<number> {
  const id = await customer(email, extra);
  await setPassword(t.db, id, PASSWORD);
  return id;
}

/** Signed in: /portal sends a signed-in visitor to their tickets, anyone else to the sign-in page. */
async function signedIn(client: PortalClient): Promise<boolean> {
  return (await client.get('/portal')).location === '/portal/tickets';
}

/** Outbound rows for an address, once the request's deferred work had time to run. */
async function outboundTo(address: string): Promise<{ kind: string }[]> {
  await new Promise((r) => setTimeout(r, 300));
  return t.db('outbound_messages').where({ recipient: address }).select('kind');
}

describe('password links', () => {
  it('invitation mail -> set password -> signed in -> sign out', async () => {
    const before = sink.mails.length;
    const add = await api.call('POST', '/portal-users', { email: 'ivy@customer.test', name: 'Ivy Invite' });
    expect(add).toMatchObject({ status: 201, body: { portal_status: 'invited', portal_access: true } });
    const mail = await mailTo('ivy@customer.test', before);
    expect(mail.mail.subject).toMatch(/invited/i);
    const link = linkIn(mail, 'password');

    const c = new PortalClient(web);
    const form = await c.get(link);
    expect(form.status).toBe(200);
    expect(form.html).toContain('<label for="password">');
    expect(form.html).toContain('<label for="repeat">');
    expect(form.html).toContain('At least 10 characters');

    // two different passwords: said on the form, nothing typed comes back
    const mismatch = await c.submit(link, link, { password: PASSWORD, repeat: `${PASSWORD}!` });
    expect(mismatch.status).toBe(422);
    expect(mismatch.html).toMatch(/role="alert"[^>]*>The two passwords are not the same/);
    expect(mismatch.html).not.toContain(PASSWORD);
    const short = await c.submit(link, link, { password: 'short', repeat: 'short' });
    expect(short.status).toBe(422);
    expect(short.html).toContain('at least 10 characters');

    const done = await c.submit(link, link, { password: PASSWORD, repeat: PASSWORD });
    expect(done).toMatchObject({ status: 303, location: '/portal/tickets' });
    expect(c.cookie('inbound_portal')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(c.cookie('inbound_portal_pre')).toBeUndefined();
    expect(await signedIn(c)).toBe(true);
    const row = await t.db('customers').where({ id: add.body.id }).first('portal_status', 'last_sign_in_at');
    expect(row.portal_status).toBe('active');
    expect(row.last_sign_in_at).not.toBeNull();

    // the password works at the sign-in page too
    const other = new PortalClient(web);
    const signIn = await other.submit('/portal/sign-in', '/portal/sign-in', {
      email: 'ivy@customer.test',
      password: PASSWORD,
    });
    expect(signIn.status).toBe(303);

    // single use: the same link now says so, and offers a new one (the form empty: an old link
    // does not tell whoever holds it whose account it was for)
    const again = await new PortalClient(web).get(link);
    expect(again.status).toBe(410);
    expect(again.html).toContain('This link no longer works');
    expect(again.html).toContain('action="/portal/forgot"');
    expect(again.html).not.toContain('ivy@customer.test');

    // the sign-out form is in the layout of every page shown to a signed-in customer
    const out = await c.submit('/portal/forgot', '/portal/sign-out');
    expect(out).toMatchObject({ status: 303, location: '/portal/sign-in?done=signed-out' });
    expect(await signedIn(c)).toBe(false);
  });

  it('an expired link says so and offers a new one; a disabled account cannot use a link', async () => {
    const id = await customer('exp@customer.test');
    const expired = await issueToken(t.db, 'password_set', { customerId: id }, 3600);
    await t
      .db('tokens')
      .where({ id: expired.id })
      .update({ expires_at: t.db.raw(`now() - interval '1 minute'`) });
    const c = new PortalClient(web);
    const page = await c.get(`/portal/password/${expired.secret}`);
    expect(page.status).toBe(410);
    expect(page.html).toContain('has expired or has been used already');
    expect(page.html).not.toContain('exp@customer.test');
    const posted = await c.post(`/portal/password/${expired.secret}`, {
      csrf: 'x',
      password: PASSWORD,
      repeat: PASSWORD,
    });
    expect(posted.status).toBe(403);

    // a link that never was: the same page, with nothing filled in
    const unknown = await c.get(`/portal/password/${'A'.repeat(43)}`);
    expect(unknown.status).toBe(410);
    expect(unknown.html).toContain('value=""');

    const disabled = await activeCustomer('dis@customer.test');
    const link = await issueToken(t.db, 'password_set', { customerId: disabled }, 3600);
    const path = `/portal/password/${link.secret}`;
    const d = new PortalClient(web);
    const csrf = await d.csrf(path, path); // the form, while the account was still active
    await api.call('POST', `/portal-users/${disabled}/deactivate`);
    // deactivating killed the account's links
    const refused = await d.get(path);
    expect(refused.status).toBe(410);
    expect(refused.html).toContain('This link no longer works');
    expect(refused.html).not.toContain('name="password"');
    const tried = await d.post(path, { csrf, password: PASSWORD, repeat: PASSWORD });
    expect(tried.status).toBe(410);
    expect(await signedIn(d)).toBe(false);
    // refused: the token unspent, the account still disabled
    expect(await t.db('customers').where({ id: disabled }).first('portal_status')).toEqual({
      portal_status: 'disabled',
    });
    expect(await t.db('tokens').where({ id: link.id }).first('used_at')).toEqual({ used_at: null });
  });
});

describe('forgot password (also the invitation again)', () => {
  it('mails a reset to an active account and the invitation to an invited one; nothing to others', async () => {
    await activeCustomer('fay@customer.test');
    await api.call('POST', '/portal-users', { email: 'ian@customer.test', invite: false });
    const disabled = await activeCustomer('dora@customer.test');
    await api.call('POST', `/portal-users/${disabled}/deactivate`);
    await activeCustomer('nora@customer.test', { portal_permissions: { portal_access: false } });
    await customer('nick@customer.test'); // a customer without an account

    const c = new PortalClient(web);
    const before = sink.mails.length;
    for (const email of [
      'Fay@Customer.test',
      'ian@customer.test',
      'dora@customer.test',
      'nora@customer.test',
      'nick@customer.test',
      'nobody@customer.test',
    ]) {
      const r = await c.submit('/portal/forgot', '/portal/forgot', { email });
      expect(r.status).toBe(200);
      expect(r.html).toContain('If an account exists for this address, we have sent a link');
    }
    const reset = await mailTo('fay@customer.test', before);
    expect(reset.mail.subject).toMatch(/Reset your password/);
    const invite = await mailTo('ian@customer.test', before);
    expect(invite.mail.subject).toMatch(/invited/);
    for (const email of ['dora@customer.test', 'nora@customer.test', 'nick@customer.test', 'nobody@customer.test'])
      expect(await outboundTo(email)).toEqual([]);

    // the reset link sets a new password; the old one stops working
    const link = linkIn(reset, 'password');
    const r = await c.submit(link, link, { password: `${PASSWORD}2`, repeat: `${PASSWORD}2` });
    expect(r.status).toBe(303);
    const old = await new PortalClient(web).submit('/portal/sign-in', '/portal/sign-in', {
      email: 'fay@customer.test',
      password: PASSWORD,
    });
    expect(old.status).toBe(401);
  });

  it('is linked from the sign-in page, and limited per address and per client', async () => {
    const c = new PortalClient(web);
    expect((await c.get('/portal/sign-in')).html).toContain('href="/portal/forgot"');
    await activeCustomer('lim@customer.test');
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++)
      statuses.push((await c.submit('/portal/forgot', '/portal/forgot', { email: 'lim@customer.test' })).status);
    expect(statuses).toEqual([200, 200, 200, 429, 429]);
    // an unknown address is limited alike
    const unknown: number[] = [];
    for (let i = 0; i < 4; i++)
      unknown.push((await c.submit('/portal/forgot', '/portal/forgot', { email: 'ghost@customer.test' })).status);
    expect(unknown).toEqual([200, 200, 200, 429]);
    expect((await outboundTo('lim@customer.test')).length).toBe(3);
    // per client: 20 an hour, whatever the addresses
    await t.db('rate_limits').delete();
    const many: number[] = [];
    for (let i = 0; i < 21; i++)
      many.push((await c.submit('/portal/forgot', '/portal/forgot', { email: `x${i}@customer.test` })).status);
    expect(many.slice(0, 20).every((s) => s === 200)).toBe(true);
    expect(many[20]).toBe(429);
  });

  it('refuses what is not an address, keeping what was typed', async () => {
    const r = await new PortalClient(web).submit('/portal/forgot', '/portal/forgot', { email: 'not an <address>' });
    expect(r.status).toBe(422);
    expect(r.html).toMatch(/role="alert"[^>]*>Please enter a valid email address/);
    expect(r.html).toContain('value="not an &lt;address&gt;"');
  });
});

describe('sign in by mail link', () => {
  it('a GET neither signs in nor spends the link; the POST does, once', async () => {
    const id = await activeCustomer('sam@customer.test', { alternate_emails: ['sam@home.test'] });
    const c = new PortalClient(web);
    expect((await c.get('/portal/sign-in')).html).toContain('href="/portal/sign-in/mail"');
    const before = sink.mails.length;
    const asked = await c.submit('/portal/sign-in/mail', '/portal/sign-in/mail', { email: 'sam@home.test' });
    expect(asked.status).toBe(200);
    const mail = await mailTo('sam@home.test', before);
    expect(mail.mail.subject).toMatch(/sign-in link/);
    expect(mail.mail.text).toContain('15 minutes');
    expect(mail.mail.headers.get('auto-submitted')).toBe('auto-replied');
    const link = linkIn(mail, 'sign-in/link');

    // a mail scanner fetches it, twice: no session, and the token is not spent
    const scanner = new PortalClient(web);
    for (let i = 0; i < 2; i++) {
      const r = await scanner.get(link);
      expect(r.status).toBe(200);
      expect(r.html).toContain('<button type="submit">Sign in</button>');
    }
    expect(scanner.cookie('inbound_portal')).toBeUndefined();
    expect(await signedIn(scanner)).toBe(false);
    const token = await t.db('tokens').where({ customer_id: id, purpose: 'sign_in' }).first('used_at', 'expires_at');
    expect(token.used_at).toBeNull();
    const minutes = (new Date(token.expires_at).getTime() - Date.now()) / 60_000;
    expect(minutes).toBeGreaterThan(14);
    expect(minutes).toBeLessThanOrEqual(15);

    // without the form token: refused
    expect((await c.post(link, {})).status).toBe(403);
    const scannerCsrf = await scanner.csrf(link, link);
    const done = await c.submit(link, link);
    expect(done).toMatchObject({ status: 303, location: '/portal/tickets' });
    expect(await signedIn(c)).toBe(true);
    // a second use, with a good form token: gone
    const second = await scanner.post(link, { csrf: scannerCsrf });
    expect(second.status).toBe(410);
    expect(second.html).toContain('href="/portal/sign-in/mail"');
    expect(await signedIn(scanner)).toBe(false);
  });

  it('goes only to a customer who may sign in', async () => {
    await api.call('POST', '/portal-users', { email: 'inv@customer.test', invite: false });
    const off = await activeCustomer('off@customer.test');
    await api.call('POST', `/portal-users/${off}/deactivate`);
    await activeCustomer('noaccess@customer.test', { portal_permissions: { portal_access: false } });
    const c = new PortalClient(web);
    for (const email of ['inv@customer.test', 'off@customer.test', 'noaccess@customer.test', 'who@customer.test']) {
      expect((await c.submit('/portal/sign-in/mail', '/portal/sign-in/mail', { email })).status).toBe(200);
      expect(await outboundTo(email)).toEqual([]);
    }
  });

  it('a link of an account deactivated since does not sign in', async () => {
    const id = await activeCustomer('late@customer.test');
    const { secret } = await issueToken(t.db, 'sign_in', { customerId: id }, 900);
    const c = new PortalClient(web);
    const csrf = await c.csrf(`/portal/sign-in/link/${secret}`, `/portal/sign-in/link/${secret}`);
    await api.call('POST', `/portal-users/${id}/deactivate`);
    // deactivating killed the link
    expect((await c.post(`/portal/sign-in/link/${secret}`, { csrf })).status).toBe(410);
    expect(await signedIn(c)).toBe(false);
  });
});

describe('self sign-up', () => {
  it('mails a link, asks name and password, places the new customer by domain, signs in', async () => {
    const company = await api.call('POST', '/companies', { name: 'Acme', domains: ['acme.test'] });
    expect(company.status).toBe(201);
    const c = new PortalClient(web);
    expect((await c.get('/portal/sign-in')).html).toContain('href="/portal/sign-up"');
    const before = sink.mails.length;
    const r = await c.submit('/portal/sign-up', '/portal/sign-up', { email: 'Newbie@Acme.test' });
    expect(r.status).toBe(200);
    expect(r.html).toContain('If this address can sign up, we have sent it a link');
    const mail = await mailTo('newbie@acme.test', before);
    expect(mail.mail.subject).toMatch(/Complete your sign-up/);
    const link = linkIn(mail, 'sign-up');
    // nobody is made for the address until its owner uses the link (neither by asking nor by looking)
    const customerOf = () =>
      t
        .db('customers as c')
        .join('customer_emails as e', 'e.customer_id', 'c.id')
        .where('e.address', 'newbie@acme.test')
        .first('c.id', 'c.name', 'c.company_id', 'c.company_source', 'c.portal_status');
    expect(await customerOf()).toBeUndefined();

    const form = await c.get(link);
    expect(form.status).toBe(200);
    expect(form.html).toContain('<label for="name">');
    const noName = await c.submit(link, link, { name: ' ', password: PASSWORD, repeat: PASSWORD });
    expect(noName.status).toBe(422);
    expect(noName.html).toContain('Please enter your name.');
    expect(await customerOf()).toBeUndefined();
    const done = await c.submit(link, link, { name: 'Nina <b>Newbie</b>', password: PASSWORD, repeat: PASSWORD });
    expect(done).toMatchObject({ status: 303, location: '/portal/tickets' });
    expect(await signedIn(c)).toBe(true);
    const created = await customerOf();
    expect(created).toMatchObject({
      name: 'Nina <b>Newbie</b>',
      company_id: company.body.id,
      company_source: 'domain',
      portal_status: 'active',
    });
    const event = await t.db('events').where({ type: 'customer.created', customer_id: created.id }).first('data');
    expect(event.data).toMatchObject({ via: 'portal' });
    expect((await new PortalClient(web).get(link)).status).toBe(410);

    // signing up again with an address that has an account: the same page; the mail says so
    const again = sink.mails.length;
    const r2 = await new PortalClient(web).submit('/portal/sign-up', '/portal/sign-up', { email: 'newbie@acme.test' });
    expect(r2.status).toBe(200);
    const exists = await mailTo('newbie@acme.test', again);
    expect(exists.mail.subject).toMatch(/already have an account/);
    expect(exists.mail.text).toContain(`${web}/portal/sign-in`);
    expect(linkIn(exists, 'password')).toMatch(/^\/portal\/password\//);
  });

  it('a company that keeps its customers out of the portal: no customer made, nothing mailed', async () => {
    await api.call('POST', '/companies', {
      name: 'Closed Inc',
      domains: ['closed.test'],
      portal_permissions: { portal_access: false },
    });
    const r = await new PortalClient(web).submit('/portal/sign-up', '/portal/sign-up', { email: 'x@closed.test' });
    expect(r.status).toBe(200);
    expect(await outboundTo('x@closed.test')).toEqual([]);
    expect(await t.db('customer_emails').where({ address: 'x@closed.test' }).first()).toBeUndefined();
  });

  it('is not there when self sign-up is off', async () => {
    await updatePortalSettings(api.db, { self_signup: false });
    try {
      const c = new PortalClient(web);
      expect((await c.get('/portal/sign-up')).status).toBe(404);
      expect((await c.get('/portal/sign-in')).html).not.toContain('href="/portal/sign-up"');
    } finally {
      await updatePortalSettings(api.db, { self_signup: true });
    }
  });
});

describe('no enumeration', () => {
  for (const [path, known] of [
    ['/portal/forgot', 'known-f@customer.test'],
    ['/portal/sign-in/mail', 'known-m@customer.test'],
    ['/portal/sign-up', 'known-s@customer.test'],
  ] as const) {
    it(`${path}: the same answer for an address with an account and one without`, async () => {
      await activeCustomer(known);
      const c = new PortalClient(web);
      const a = await c.submit(path, path, { email: known });
      const b = await c.submit(path, path, { email: 'unknown-x@customer.test' });
      expect(a.status).toBe(b.status);
      expect(a.html.replace(known, 'X')).toBe(b.html.replace('unknown-x@customer.test', 'X'));
    });
  }
});

describe('CSRF', () => {
  it('every form post without its token is refused with 403', async () => {
    const secret = 'B'.repeat(43);
    for (const path of [
      '/portal/sign-in',
      '/portal/forgot',
      '/portal/sign-in/mail',
      '/portal/sign-up',
      `/portal/password/${secret}`,
      `/portal/sign-up/${secret}`,
      `/portal/sign-in/link/${secret}`,
    ]) {
      const c = new PortalClient(web);
      await c.get('/portal/sign-in'); // a pre-session cookie, but no token
      const r = await c.post(path, { email: 'a@customer.test', password: PASSWORD, repeat: PASSWORD, name: 'A' });
      expect(r.status, path).toBe(403);
      expect(r.html, path).toContain('This form has expired');
    }
  });
});

describe('deactivation', () => {
  it('signs the customer out at once: their next request shows the sign-in page', async () => {
    const id = await activeCustomer('dee@customer.test');
    const c = new PortalClient(web);
    await c.submit('/portal/sign-in', '/portal/sign-in', { email: 'dee@customer.test', password: PASSWORD });
    expect(await signedIn(c)).toBe(true);
    const r = await api.call('POST', `/portal-users/${id}/deactivate`);
    expect(r.body.portal_status).toBe('disabled');
    expect(await signedIn(c)).toBe(false);
    expect((await c.get('/portal/sign-in')).status).toBe(200);
    // and cannot sign in again until activated
    const again = await c.submit('/portal/sign-in', '/portal/sign-in', {
      email: 'dee@customer.test',
      password: PASSWORD,
    });
    expect(again.status).toBe(401);
    expect((await api.call('POST', `/portal-users/${id}/activate`)).body.portal_status).toBe('active');
    const back = await c.submit('/portal/sign-in', '/portal/sign-in', {
      email: 'dee@customer.test',
      password: PASSWORD,
    });
    expect(back.status).toBe(303);
  });
});

describe('/portal-users (admins)', () => {
  it('an agent gets 403 on every route', async () => {
    for (const [method, url, body] of [
      ['GET', '/portal-users', undefined],
      ['POST', '/portal-users', { email: 'a@b.test' }],
      ['GET', '/portal-users/export', undefined],
      ['GET', '/portal-users/1', undefined],
      ['POST', '/portal-users/1/invite', undefined],
      ['POST', '/portal-users/1/activate', undefined],
      ['POST', '/portal-users/1/deactivate', undefined],
    ] as const) {
      const r = await api.call(method, url, body, api.agentToken);
      expect(r.status, `${method} ${url}`).toBe(403);
    }
  });

  it('adds, lists, invites again, refuses what makes no sense, and exports', async () => {
    // an existing customer, without the mail
    const id = await customer('pat@users.test');
    const added = await api.call('POST', '/portal-users', { customer_id: id, invite: false });
    expect(added).toMatchObject({ status: 201, body: { id, portal_status: 'invited' } });
    expect(await outboundTo('pat@users.test')).toEqual([]);
    // a new customer by address, placed by domain
    const company = await api.call('POST', '/companies', { name: 'Users Co', domains: ['users.test'] });
    const before = sink.mails.length;
    const fresh = await api.call('POST', '/portal-users', { email: 'quinn@users.test', name: 'Quinn' });
    expect(fresh).toMatchObject({
      status: 201,
      body: { name: 'Quinn', email: 'quinn@users.test', company_id: company.body.id, portal_status: 'invited' },
    });
    await mailTo('quinn@users.test', before);
    // again: a conflict once they have an account; a fresh invitation while invited
    expect((await api.call('POST', '/portal-users', { email: 'quinn@users.test' })).status).toBe(201);
    await setPassword(t.db, fresh.body.id, PASSWORD);
    expect((await api.call('POST', '/portal-users', { email: 'quinn@users.test' })).status).toBe(409);
    expect((await api.call('POST', `/portal-users/${fresh.body.id}/invite`)).status).toBe(409);
    const reinvite = await api.call('POST', `/portal-users/${id}/invite`);
    expect(reinvite).toMatchObject({ status: 200, body: { portal_status: 'invited' } });
    expect(await outboundTo('pat@users.test')).toEqual([{ kind: 'portal_invite' }]);
    // both or neither of customer_id and email; no portal access
    expect((await api.call('POST', '/portal-users', {})).status).toBe(422);
    expect((await api.call('POST', '/portal-users', { customer_id: id, email: 'pat@users.test' })).status).toBe(422);
    const barred = await customer('bar@users.test', { portal_permissions: { portal_access: false } });
    expect((await api.call('POST', '/portal-users', { customer_id: barred })).status).toBe(422);
    expect((await api.call('POST', '/portal-users/999999/activate')).status).toBe(404);
    expect((await api.call('POST', `/portal-users/${barred}/deactivate`)).status).toBe(409);

    const list = await api.call('GET', '/portal-users?q=users.test');
    expect(list.status).toBe(200);
    expect(list.body.data.map((u: { email: string }) => u.email)).toEqual(['pat@users.test', 'quinn@users.test']);
    const active = await api.call('GET', '/portal-users?status=active&q=quinn');
    expect(active.body.data).toEqual([expect.objectContaining({ id: fresh.body.id, portal_status: 'active' })]);
    const page1 = await api.call('GET', '/portal-users?limit=1&q=users.test');
    expect(page1.body.data).toHaveLength(1);
    const page2 = await api.call('GET', `/portal-users?limit=1&q=users.test&cursor=${page1.body.next_cursor}`);
    expect(page2.body.data[0].email).toBe('quinn@users.test');

    const csv = await fetch(`${api.base}/portal-users/export`, {
      headers: { authorization: `Bearer ${api.adminToken}` },
    });
    expect(csv.status).toBe(200);
    expect(csv.headers.get('content-type')).toMatch(/^text\/csv/);
    const text = await csv.text();
    expect(text.split('\n')[0]).toContain('"portal_status","last_sign_in_at"');
    expect(text).toMatch(/"quinn@users\.test".*"active"/);
    expect(text).toMatch(/"pat@users\.test".*"invited"/);
    expect(text).not.toContain('bar@users.test');
  });
});

describe('inbound portal-users (CLI)', () => {
  const run = promisify(execFile);
  const bin = path.resolve(import.meta.dirname, '../bin/inbound.js');
  async function inbound(args: string[]) {
    try {
      const { stdout, stderr } = await run(process.execPath, [bin, ...args], {
        env: { ...process.env, DATABASE_URL: t.url, LOG_LEVEL: 'warn' },
      });
      return { code: 0, stdout, stderr };
    } catch (err) {
      const e = err as { code: number; stdout: string; stderr: string };
      return { code: e.code, stdout: e.stdout, stderr: e.stderr };
    }
  }

  it('invites, lists, deactivates, activates and exports', async () => {
    const before = sink.mails.length;
    const invited = await inbound(['portal-users', 'invite', 'cli@cli.test', '--name', 'Cleo CLI']);
    expect(invited).toMatchObject({ code: 0 });
    expect(invited.stdout).toMatch(/Cleo CLI <cli@cli\.test>: invited: invitation queued/);
    await mailTo('cli@cli.test', before);
    const quiet = await inbound(['portal-users', 'invite', 'quiet@cli.test', '--no-mail']);
    expect(quiet.stdout).toMatch(/quiet@cli\.test>: invited$/m);
    expect(await outboundTo('quiet@cli.test')).toEqual([]);

    const list = JSON.parse((await inbound(['portal-users', 'list', '--search', 'cli.test', '--json'])).stdout);
    expect(list.map((u: { email: string; portal_status: string }) => [u.email, u.portal_status])).toEqual([
      ['cli@cli.test', 'invited'],
      ['quiet@cli.test', 'invited'],
    ]);
    expect((await inbound(['portal-users', 'list', '--status', 'nope'])).code).toBe(2);

    const id = list[0].id;
    await setPassword(t.db, id, PASSWORD);
    const c = new PortalClient(web);
    await c.submit('/portal/sign-in', '/portal/sign-in', { email: 'cli@cli.test', password: PASSWORD });
    expect(await signedIn(c)).toBe(true);
    const off = await inbound(['portal-users', 'deactivate', 'CLI@cli.test']);
    expect(off.stdout).toMatch(/disabled: signed out everywhere/);
    expect(await signedIn(c)).toBe(false);
    expect((await inbound(['portal-users', 'activate', 'cli@cli.test'])).stdout).toMatch(/: active$/m);
    expect((await inbound(['portal-users', 'activate', 'nobody@cli.test'])).code).toBe(2);

    const csv = await inbound(['portal-users', 'export']);
    expect(csv.code).toBe(0);
    expect(csv.stdout).toMatch(/"cli@cli\.test".*"active"/);
    expect((await inbound(['portal-users', 'frobnicate'])).code).toBe(2);
  });
});

describe('auto-invite', () => {
  async function writeIn(from: string): Promise<void> {
    const raw = [
      `From: ${from}`,
      'To: support@localhost',
      'Subject: Hello',
      `Message-ID: <${from.replace('@', '.')}@sender.test>`,
      '',
      'Hello there.',
      '',
    ].join('\r\n');
    expect((await sendRaw(smtpPort, from, ['support@localhost'], raw)).code).toBe(250);
    await eventually(() =>
      t
        .db('tickets as t')
        .join('customer_emails as e', 'e.customer_id', 't.requester_id')
        .where('e.address', from)
        .first(),
    );
  }

  it("welcomes a new customer's first ticket when the portal says so (the inbox does not)", async () => {
    // off: no welcome (the inbox's portal_welcome is off too)
    await writeIn('first@sender.test');
    expect((await outboundTo('first@sender.test')).map((o) => o.kind)).toEqual(['ack']);
    await updatePortalSettings(t.db, { auto_invite: true });
    try {
      const before = sink.mails.length;
      await writeIn('second@sender.test');
      const kinds = await eventually(async () => {
        const rows = await outboundTo('second@sender.test');
        return rows.length === 2 && rows.map((o) => o.kind).sort();
      });
      expect(kinds).toEqual(['ack', 'portal_welcome']);
      const welcome = await eventually(async () =>
        sink.mails
          .slice(before)
          .find((m) => m.to.includes('second@sender.test') && /\/portal\/password\//.test(m.mail.text ?? '')),
      );
      expect(linkIn(welcome, 'password')).toMatch(/^\/portal\/password\//);
      const c = await t
        .db('customer_emails as e')
        .join('customers as c', 'c.id', 'e.customer_id')
        .where('e.address', 'second@sender.test')
        .first('c.portal_status');
      expect(c.portal_status).toBe('invited');
      // a closed portal invites nobody
      await updatePortalSettings(t.db, { enabled: false });
      await writeIn('third@sender.test');
      expect((await outboundTo('third@sender.test')).map((o) => o.kind)).toEqual(['ack']);
    } finally {
      await updatePortalSettings(t.db, { enabled: true, auto_invite: false });
      await updatePortalSettings(api.db, {});
    }
  });
});

describe('messages', () => {
  it('every account page string is in English and German', () => {
    expect(Object.keys(authMessages.de).sort()).toEqual(Object.keys(authMessages.en).sort());
  });
});
