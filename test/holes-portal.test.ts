// Security review of the customer portal: proofs of concept. Each FINDING test asserts the weak
// behaviour as it is today, so that it fails once the hole is fixed: flip the marked assertions
// then. Every other assertion is a check that held (sound) and should stay as it is.
import http from 'node:http';
import { createHash, createHmac } from 'node:crypto';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './helpers/db.ts';
import { startTestApi, type TestApi } from './helpers/api.ts';
import { eventually, startBossFor, startTestIngest, startTestWorker, testLog } from './helpers/app.ts';
import { sendRaw } from './helpers/smtp-client.ts';
import { PortalClient } from './helpers/portal.ts';
import { follow, makeTicket } from './helpers/tickets.ts';
import { hit, issueToken } from '../src/access/index.ts';
import { createInboxStore } from '../src/inboxes/index.ts';
import { createArticle, setPassword, updatePortalSettings } from '../src/portal/index.ts';
import { buildWeb, listenWeb } from '../src/web/index.ts';

let t: TestDatabase;
let api: TestApi;
let web: string;
let inboxId: number;
let acme: number;
let smtpPort: number;
const PASSWORD = 'correct horse battery';
const people: Record<string, number> = {};
const clients = new Map<string, PortalClient>();

async function customer(key: string, email: string, name = key, companyId?: number): Promise<number> {
  const r = await api.call('POST', '/customers', { name, email, ...(companyId && { company_id: companyId }) });
  expect(r.status).toBe(201);
  people[key] = r.body.id;
  await setPassword(t.db, r.body.id, PASSWORD);
  return r.body.id;
}

/** One signed-in client per customer (sign-in is limited per address). */
async function as(key: string, email: string): Promise<PortalClient> {
  const known = clients.get(key);
  if (known) return known;
  const c = new PortalClient(web);
  await c.signIn(email, PASSWORD);
  clients.set(key, c);
  return c;
}

/**
 * The CSRF token of any form for a signed-in client, computed as context.ts signs it (from the
 * server key in the database): to reach the server-side checks behind forms the page never shows.
 */
async function tokenFor(client: PortalClient, form: string): Promise<string> {
  const key = (await t.db('app_secrets').where({ name: 'portal-csrf' }).first('value')).value as Buffer;
  const hash = createHash('sha256').update(client.cookie('inbound_portal')!).digest();
  const session = await t.db('portal_sessions').where({ token_hash: hash }).first('id');
  return createHmac('sha256', key).update(`portal:session:${session.id}:${form}`).digest('base64url');
}

const strip = (html: string) => html.replace(/value="[^"]*"/g, '');

/** The help_articles locale CHECK as the tests of the portal fix it (a no-op once it is right). */
async function fixLocaleCheck() {
  const { rows } = await t.db.raw(
    `SELECT pg_get_constraintdef(oid) AS def FROM pg_constraint WHERE conname = 'help_articles_locale_check'`,
  );
  if (rows[0]?.def.includes('$1') || rows[0]?.def.includes('\\?'))
    await t.db.raw(
      `ALTER TABLE help_articles DROP CONSTRAINT help_articles_locale_check,
         ADD CONSTRAINT help_articles_locale_check CHECK (locale ~ '^[a-z]{2}(-[a-z]{2})\\?$')`,
    );
}

let annaTicket: number;
let zedTicket: number;
let sha: string;
let fileHref: string;

beforeAll(async () => {
  t = await createTestDatabase();
  api = await startTestApi(t.url);
  web = api.base.replace(/\/api\/v1$/, '');
  const boss = await startBossFor(t.url, true);
  inboxId = Number((await createInboxStore(t.db).add('support@localhost', 'Acme Support')).id);
  smtpPort = (await startTestIngest(t.url, { inboxes: ['support@localhost'], boss })).port;
  await startTestWorker(t.url, boss, 1);
  await updatePortalSettings(api.db, { enabled: true, self_signup: true, inbox_ids: [inboxId] });
  acme = (await api.call('POST', '/companies', { name: 'Acme', domains: ['acme.test'] })).body.id;
  const other = (await api.call('POST', '/companies', { name: 'Other', domains: ['other.test'] })).body.id;
  await api.call('POST', '/companies', {
    name: 'Closed',
    domains: ['closed.test'],
    portal_permissions: { portal_access: false },
  });
  await customer('anna', 'anna@acme.test', 'Anna', acme);
  await customer('ben', 'ben@acme.test', 'Ben', acme);
  await customer('zed', 'zed@other.test', 'Zed', other);
  await customer('finn', 'finn@elsewhere.test', 'Finn');
  annaTicket = (await makeTicket(t.db, { inboxId, requesterId: people.anna!, companyId: acme, subject: 'Payroll' })).id;
  zedTicket = (await makeTicket(t.db, { inboxId, requesterId: people.zed!, companyId: other, subject: 'Zed' })).id;
  // anna's reply with a file whose name is markup
  const anna = await as('anna', 'anna@acme.test');
  const form = new FormData();
  form.append('csrf', await anna.csrf(`/portal/tickets/${annaTicket}`, `/portal/tickets/${annaTicket}/reply`));
  form.append('body', 'salary list <script>alert(1)</script>');
  form.append('files', new Blob(['secret salaries'], { type: 'text/plain' }), '"><img src=x onerror=alert(1)>.txt');
  expect((await anna.postMultipart(`/portal/tickets/${annaTicket}/reply`, form)).status).toBe(303);
  const page = await anna.get(`/portal/tickets/${annaTicket}`);
  fileHref = /href="(\/portal\/tickets\/\d+\/attachments\/[0-9a-f]{64}\?name=[^"]+)"/
    .exec(page.html)![1]!
    .replaceAll('&amp;', '&');
  sha = /attachments\/([0-9a-f]{64})/.exec(fileHref)![1]!;
});

beforeEach(async () => {
  // limits are counted per client, and every request here comes from 127.0.0.1
  await t.db('rate_limits').delete();
});

describe('sound: who may see and touch a ticket', () => {
  it('another company: every route with an id is the same 404 as a ticket that does not exist', async () => {
    const zed = await as('zed', 'zed@other.test');
    const none = await zed.get('/portal/tickets/999999');
    const hidden = await zed.get(`/portal/tickets/${annaTicket}`);
    expect(hidden.status).toBe(404);
    expect(strip(hidden.html)).toBe(strip(none.html));
    expect((await zed.get(fileHref.replace(`/${annaTicket}/`, `/${annaTicket}/`))).status).toBe(404);
    // the sha of a file is no key: under zed's own ticket it is not found either
    expect((await zed.get(`/portal/tickets/${zedTicket}/attachments/${sha}`)).status).toBe(404);
    for (const action of ['reply', 'close', 'reopen', 'fields'])
      expect(
        (
          await zed.post(`/portal/tickets/${annaTicket}/${action}`, {
            csrf: await tokenFor(zed, `ticket:${annaTicket}:${action}`),
            body: 'x',
            priority: 'urgent',
          })
        ).status,
      ).toBe(404);
    expect(await t.db('tickets').where({ id: annaTicket }).first('status', 'priority')).toEqual({
      status: 'open',
      priority: 'normal',
    });
  });

  it('a colleague: 404 without view_company_tickets; with it, reads but cannot write (even with a token)', async () => {
    const ben = await as('ben', 'ben@acme.test');
    expect((await ben.get(`/portal/tickets/${annaTicket}`)).status).toBe(404);
    expect((await ben.get(fileHref)).status).toBe(404);
    await api.call('PATCH', `/customers/${people.ben}`, { portal_permissions: { view_company_tickets: true } });
    try {
      expect((await ben.get(`/portal/tickets/${annaTicket}`)).status).toBe(200);
      for (const action of ['reply', 'close', 'reopen', 'fields']) {
        const r = await ben.post(`/portal/tickets/${annaTicket}/${action}`, {
          csrf: await tokenFor(ben, `ticket:${annaTicket}:${action}`),
          body: 'me too',
          priority: 'urgent',
        });
        expect(r.status).toBe(403);
      }
      expect(await t.db('messages').where({ ticket_id: annaTicket, author_customer_id: people.ben }).first()).toBe(
        undefined,
      );
    } finally {
      await api.call('PATCH', `/customers/${people.ben}`, { portal_permissions: { view_company_tickets: null } });
    }
  });

  it('a removed follower loses the ticket at once', async () => {
    const finn = await as('finn', 'finn@elsewhere.test');
    await follow(t.db, annaTicket, [people.finn!]);
    expect((await finn.get(`/portal/tickets/${annaTicket}`)).status).toBe(200);
    const csrf = await finn.csrf(`/portal/tickets/${annaTicket}`, `/portal/tickets/${annaTicket}/reply`);
    await t.db('ticket_followers').where({ ticket_id: annaTicket, customer_id: people.finn }).delete();
    expect((await finn.get(`/portal/tickets/${annaTicket}`)).status).toBe(404);
    expect((await finn.get(fileHref)).status).toBe(404);
    expect((await finn.post(`/portal/tickets/${annaTicket}/reply`, { csrf, body: 'still here?' })).status).toBe(404);
  });

  it('downloads: no path traversal, ?name= only picks among stored names, sandboxed and not sniffed', async () => {
    const anna = await as('anna', 'anna@acme.test');
    for (const bad of ['..%2F..%2Fetc%2Fpasswd', '..', `${sha.slice(0, 63)}g`, sha.toUpperCase()])
      expect((await anna.get(`/portal/tickets/${annaTicket}/attachments/${bad}`)).status).toBe(404);
    const r = await fetch(`${web}/portal/tickets/${annaTicket}/attachments/${sha}?name=../../etc/passwd`, {
      headers: { cookie: `inbound_portal=${anna.cookie('inbound_portal')}` },
    });
    expect(r.status).toBe(200);
    expect(r.headers.get('content-disposition')).not.toContain('passwd');
    expect(r.headers.get('content-disposition')).not.toMatch(/filename="[^"]*"[^;]/);
    expect(r.headers.get('content-type')).toBe('application/octet-stream');
    expect(r.headers.get('content-security-policy')).toContain('sandbox');
    expect(r.headers.get('x-content-type-options')).toBe('nosniff');
  });

  it('the list filters: no SQL injection, LIKE wildcards are literal, a junk cursor is ignored', async () => {
    const anna = await as('anna', 'anna@acme.test');
    const listed = (html: string) => [...html.matchAll(/data-ticket="(\d+)"/g)].map((m) => Number(m[1]));
    expect(listed((await anna.get('/portal/tickets')).html)).toEqual([annaTicket]);
    expect(listed((await anna.get('/portal/tickets?q=%25')).html)).toEqual([]);
    expect(listed((await anna.get('/portal/tickets?q=_')).html)).toEqual([]);
    expect(listed((await anna.get('/portal/tickets?q=%27%20OR%201%3D1%20--')).html)).toEqual([]);
    expect(listed((await anna.get('/portal/tickets?scope=company')).html)).toEqual([annaTicket]);
    const junk = await anna.get('/portal/tickets?after=1-1)%20OR%20(1%3D1&status=open%27--');
    expect(junk.status).toBe(200);
    expect(listed(junk.html)).toEqual([annaTicket]);
  });

  it('the status rule: no reopen of an open ticket, no close of a closed one, a late reply opens a linked ticket', async () => {
    const zed = await as('zed', 'zed@other.test');
    const reopen = await zed.post(`/portal/tickets/${zedTicket}/reopen`, {
      csrf: await tokenFor(zed, `ticket:${zedTicket}:reopen`),
    });
    expect(reopen.status).toBe(403);
    await t
      .db('tickets')
      .where({ id: zedTicket })
      .update({ status: 'closed', closed_at: t.db.raw(`now() - interval '40 days'`) });
    const close = await zed.post(`/portal/tickets/${zedTicket}/close`, {
      csrf: await tokenFor(zed, `ticket:${zedTicket}:close`),
    });
    expect(close.status).toBe(403);
    await t.db('tickets').where({ id: zedTicket }).update({ status: 'resolved' });
    // resolved 40 days ago (> REOPEN_DAYS 30): "no, reopen it" is refused
    const late = await zed.post(`/portal/tickets/${zedTicket}/reopen`, {
      csrf: await tokenFor(zed, `ticket:${zedTicket}:reopen`),
    });
    expect(late.status).toBe(403);
    const reply = await zed.post(`/portal/tickets/${zedTicket}/reply`, {
      csrf: await tokenFor(zed, `ticket:${zedTicket}:reply`),
      body: 'again',
    });
    expect(reply.status).toBe(303);
    expect(reply.location).toMatch(/\?done=linked$/);
    expect(await t.db('tickets').where({ id: zedTicket }).first('status')).toEqual({ status: 'resolved' });
    // a field the permissions do not allow (edit_priority is off by default)
    const fields = await zed.post(`/portal/tickets/${zedTicket}/fields`, {
      csrf: await tokenFor(zed, `ticket:${zedTicket}:fields`),
      priority: 'urgent',
    });
    expect(fields.status).toBe(403);
  });
});

describe('sound: sessions, cookies, CSRF, redirects', () => {
  it('cookies are HttpOnly, SameSite=Lax, Path=/portal (Secure on https); a planted session id is never adopted', async () => {
    const r = await fetch(`${web}/portal/sign-in`);
    const pre = r.headers.getSetCookie().join('\n');
    expect(pre).toMatch(/inbound_portal_pre=[A-Za-z0-9_-]{43}; Path=\/portal; HttpOnly; SameSite=Lax/);
    const csp = r.headers.get('content-security-policy')!;
    expect(csp).toContain("default-src 'none'");
    expect(csp).not.toMatch(/https?:|\*/);
    expect(r.headers.get('x-frame-options')).toBe('DENY');

    const https = buildWeb({ db: api.db, boss: api.boss, log: testLog, publicUrl: 'https://portal.example' });
    const { port } = await listenWeb(https, '127.0.0.1', 0);
    try {
      const s = await fetch(`http://127.0.0.1:${port}/portal/sign-in`);
      expect(s.headers.getSetCookie().join('\n')).toMatch(/; Secure/);
    } finally {
      await https.close();
    }

    // fixation: a cookie the attacker chose is not a session, and sign-in makes a fresh one
    const planted = 'A'.repeat(43);
    const page = await fetch(`${web}/portal/sign-in`, { headers: { cookie: `inbound_portal=${planted}` } });
    const preCookie = /inbound_portal_pre=([^;]+)/.exec(page.headers.getSetCookie().join('\n'))![1]!;
    const csrf = /name="csrf" value="([^"]+)"/.exec(await page.text())![1]!;
    const signIn = await fetch(`${web}/portal/sign-in`, {
      method: 'POST',
      redirect: 'manual',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        cookie: `inbound_portal=${planted}; inbound_portal_pre=${preCookie}`,
      },
      body: new URLSearchParams({ csrf, email: 'finn@elsewhere.test', password: PASSWORD }).toString(),
    });
    expect(signIn.status).toBe(303);
    const fresh = /inbound_portal=([^;]+)/.exec(signIn.headers.getSetCookie().join('\n'))![1]!;
    expect(fresh).not.toBe(planted);
    expect(fresh).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it('login CSRF: a sign-in token of another visitor is refused; no next= or return parameter is followed', async () => {
    const attacker = new PortalClient(web);
    const token = await attacker.csrf('/portal/sign-in', '/portal/sign-in');
    const victim = new PortalClient(web);
    await victim.get('/portal/sign-in');
    const r = await victim.post('/portal/sign-in', { csrf: token, email: 'finn@elsewhere.test', password: PASSWORD });
    expect(r.status).toBe(403);
    // no open redirect: whatever is asked for, sign-in leads to /portal/tickets
    const c = new PortalClient(web);
    const csrf = await c.csrf('/portal/sign-in?next=https://evil.test&return=//evil.test', '/portal/sign-in');
    const done = await c.post('/portal/sign-in?next=https://evil.test', {
      csrf,
      email: 'finn@elsewhere.test',
      password: PASSWORD,
      next: 'https://evil.test',
    });
    expect(done.location).toBe('/portal/tickets');
  });

  it('sign-out and deactivation end the session on the server, not only the cookie', async () => {
    const a = new PortalClient(web);
    await a.signIn('finn@elsewhere.test', PASSWORD);
    const cookie = a.cookie('inbound_portal')!;
    await a.submit('/portal/tickets', '/portal/sign-out');
    const replay = await fetch(`${web}/portal/tickets`, {
      headers: { cookie: `inbound_portal=${cookie}` },
      redirect: 'manual',
    });
    expect(replay.headers.get('location')).toBe('/portal/sign-in');

    const b = new PortalClient(web);
    await b.signIn('finn@elsewhere.test', PASSWORD);
    expect((await api.call('POST', `/portal-users/${people.finn}/deactivate`)).status).toBe(200);
    try {
      expect((await b.get('/portal/tickets')).location).toBe('/portal/sign-in');
      await api.call('POST', `/portal-users/${people.finn}/activate`);
      // activating again does not bring the old session back
      expect((await b.get('/portal/tickets')).location).toBe('/portal/sign-in');
    } finally {
      await api.call('POST', `/portal-users/${people.finn}/activate`);
      clients.delete('finn');
    }
  });

  it('multipart: the token must be the first part, and nothing is stored without it', async () => {
    const anna = await as('anna', 'anna@acme.test');
    const before = await t.db('messages').where({ ticket_id: annaTicket }).count();
    const form = new FormData();
    form.append('body', 'token second');
    form.append('csrf', await anna.csrf(`/portal/tickets/${annaTicket}`, `/portal/tickets/${annaTicket}/reply`));
    expect((await anna.postMultipart(`/portal/tickets/${annaTicket}/reply`, form)).status).toBe(403);
    expect(await t.db('messages').where({ ticket_id: annaTicket }).count()).toEqual(before);
  });
});

describe('sound: stored XSS and the admin side', () => {
  it('subjects, bodies, names and file names are escaped', async () => {
    await t.db('customers').where({ id: people.anna }).update({ name: '<img src=x onerror=alert(2)>' });
    const anna = await as('anna', 'anna@acme.test');
    const csrf = await anna.csrf('/portal/tickets/new?subject=x', '/portal/tickets/new');
    const form = new FormData();
    form.append('csrf', csrf);
    form.append('inbox', String(inboxId));
    form.append('subject', '</title><script>alert(3)</script>');
    form.append('body', '<svg onload=alert(4)>');
    const created = await anna.postMultipart('/portal/tickets/new', form);
    expect(created.status).toBe(303);
    const pages = [
      (await anna.get(created.location!)).html,
      (await anna.get('/portal/tickets')).html,
      (await anna.get(`/portal/tickets/${annaTicket}`)).html,
    ];
    for (const html of pages) {
      expect(html).not.toMatch(/<script>alert|<svg onload|<img src=x/);
    }
    // the file's name is defanged when stored (attachments/names.ts) and escaped when shown
    expect(pages[2]).toContain('__img src=x onerror=alert(1)_.txt</a>');
  });

  it('help articles: drafts are 404, markdown keeps no script or javascript: link; branding CSS cannot close <style>', async () => {
    await fixLocaleCheck();
    const draft = await createArticle(t.db, { title: 'Draft', body: 'secret plan', published: false });
    expect((await new PortalClient(web).get(`/portal/help/${draft.id}`)).status).toBe(404);
    const bad = await createArticle(t.db, {
      title: 'Bad',
      body: '<script>alert(5)</script>\n\n[x](javascript:alert(6)) <img src=x onerror=alert(7)> <iframe src=//evil.test>',
      published: true,
    });
    const html = (await new PortalClient(web).get(`/portal/help/${bad.id}`)).html;
    expect(html).not.toMatch(/<script>alert|javascript:|onerror|<iframe/);

    const patch = await api.call('PATCH', '/portal-settings', {
      branding: {
        custom_css: 'body{color:red}</style><script>alert(8)</script></st</styleyle>',
        header_html: '<script>alert(9)</script><a href="javascript:alert(10)">x</a><img src=//evil.test/p.png>',
      },
    });
    expect(patch.status).toBe(200);
    try {
      const page = (await new PortalClient(web).get('/portal/sign-in')).html;
      const style = page.slice(page.indexOf('<style>'), page.indexOf('</style>'));
      expect(style).toContain('\\3c /style>');
      expect(page).not.toMatch(/<script>alert|javascript:|\ssrc="\/\/evil/);
    } finally {
      await api.call('PATCH', '/portal-settings', { branding: { custom_css: '', header_html: '' } });
    }
  });

  it('an agent gets 403 from every admin endpoint of the portal', async () => {
    const agent = api.agentToken;
    expect((await api.call('GET', '/portal-users', undefined, agent)).status).toBe(403);
    expect((await api.call('POST', `/portal-users/${people.anna}/deactivate`, undefined, agent)).status).toBe(403);
    expect((await api.call('POST', '/portal-users', { email: 'x@y.test' }, agent)).status).toBe(403);
    expect((await api.call('GET', '/portal-settings', undefined, agent)).status).toBe(403);
    expect((await api.call('PATCH', '/portal-settings', { self_signup: false }, agent)).status).toBe(403);
    expect((await api.call('POST', '/help-articles', { title: 'x', body: 'y' }, agent)).status).toBe(403);
    const logo = await fetch(`${api.base}/portal-settings/logo`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${agent}`, 'content-type': 'image/png' },
      body: Buffer.from('\x89PNG\r\n\x1a\n', 'latin1'),
    });
    expect(logo.status).toBe(403);
  });
});

describe('sound: links', () => {
  it('a password link is single use; a sign-in link is spent only by a POST, once, and not after 15 minutes', async () => {
    const id = await customer('pat', 'pat@acme.test');
    const pw = await issueToken(t.db, 'password_set', { customerId: id }, 86400);
    const link = `/portal/password/${pw.secret}`;
    const a = new PortalClient(web);
    expect((await a.get(link)).status).toBe(200);
    expect((await a.submit(link, link, { password: `${PASSWORD}2`, repeat: `${PASSWORD}2` })).status).toBe(303);
    expect((await new PortalClient(web).get(link)).status).toBe(410);

    const si = await issueToken(t.db, 'sign_in', { customerId: id }, 900);
    const slink = `/portal/sign-in/link/${si.secret}`;
    const scanner = new PortalClient(web);
    expect((await scanner.get(slink)).status).toBe(200);
    expect((await scanner.get(slink)).status).toBe(200);
    expect(scanner.cookie('inbound_portal')).toBeUndefined();
    const user = new PortalClient(web);
    expect((await user.submit(slink, slink)).status).toBe(303);
    expect((await new PortalClient(web).get(slink)).status).toBe(410);

    const old = await issueToken(t.db, 'sign_in', { customerId: id }, 900);
    await t
      .db('tokens')
      .where({ id: old.id })
      .update({ expires_at: t.db.raw(`now() - interval '1 second'`) });
    expect((await new PortalClient(web).get(`/portal/sign-in/link/${old.secret}`)).status).toBe(410);
  });
});

describe('FINDINGS', () => {
  it('fixed (medium): self sign-up makes no customer for an address until its owner uses the link', async () => {
    const c = new PortalClient(web);
    const r = await c.submit('/portal/sign-up', '/portal/sign-up', { email: 'ceo@acme.test' });
    expect(r.status).toBe(200);
    // the mail is queued for the address alone (its link, made when it is sent, names the address):
    // no customer row, no company, no customer.created event before the owner opens the link
    const mail = await eventually<{ customer_id: number | null }>(() =>
      t.db('outbound_messages').where({ recipient: 'ceo@acme.test', kind: 'signup_link' }).first('customer_id'),
    );
    expect(mail.customer_id).toBeNull();
    expect(await t.db('customer_emails').where({ address: 'ceo@acme.test' }).first()).toBeUndefined();
    // one client makes 20 an hour (PER_CLIENT), one per address: mails, and still nobody
    for (let i = 0; i < 5; i++)
      await new PortalClient(web).submit('/portal/sign-up', '/portal/sign-up', { email: `junk${i}@acme.test` });
    await eventually(async () => {
      const rows = await t.db('outbound_messages').where('recipient', 'like', 'junk%@acme.test').select('id');
      return rows.length === 5;
    });
    expect(await t.db('customer_emails').where('address', 'like', 'junk%@acme.test').select('id')).toEqual([]);
    // the link as the mail carries it: looking makes nothing; using it makes the customer, by the one
    // customer rule (placed in Acme by its domain, via 'portal'), and signs in
    const { secret } = await issueToken(t.db, 'signup', { address: 'ceo@acme.test' }, 86400);
    const link = `/portal/sign-up/${secret}`;
    const owner = new PortalClient(web);
    expect((await owner.get(link)).status).toBe(200);
    expect(await t.db('customer_emails').where({ address: 'ceo@acme.test' }).first()).toBeUndefined();
    const done = await owner.submit(link, link, { name: 'The CEO', password: PASSWORD, repeat: PASSWORD });
    expect(done).toMatchObject({ status: 303, location: '/portal/tickets' });
    const made = await t
      .db('customer_emails as e')
      .join('customers as c', 'c.id', 'e.customer_id')
      .where('e.address', 'ceo@acme.test')
      .first('c.id', 'c.name', 'c.company_id', 'c.portal_status');
    expect(made).toMatchObject({ name: 'The CEO', company_id: acme, portal_status: 'active' });
    const event = await t.db('events').where({ type: 'customer.created', customer_id: made.id }).first('data');
    expect(event.data).toMatchObject({ via: 'portal' });
    expect((await new PortalClient(web).get(link)).status).toBe(410);
  });

  it('fixed (medium): uploads are read only after membership and the rate limit, and a body is capped', async () => {
    const MB = 1024 * 1024;
    const anna = await as('anna', 'anna@acme.test');
    const url = `${web}/portal/tickets/${annaTicket}/reply`;
    const cookie = `inbound_portal=${anna.cookie('inbound_portal')}`;
    const before = await t.db('messages').where({ ticket_id: annaTicket }).count();
    // use up anna's reply limit (20 per 10 minutes)
    for (let i = 0; i < 21; i++)
      await hit(t.db, `portal-reply:customer:${people.anna}`, { max: 20, windowSeconds: 600 });
    const form = new FormData();
    form.append('csrf', await anna.csrf(`/portal/tickets/${annaTicket}`, `/portal/tickets/${annaTicket}/reply`));
    form.append('body', 'x');
    form.append('files', new Blob([Buffer.alloc(8 * MB, 1)]), 'a.bin');
    form.append('files', new Blob([Buffer.alloc(8 * MB, 2)]), 'b.bin');
    const limited = await fetch(url, { method: 'POST', headers: { cookie }, body: form, redirect: 'manual' });
    expect(limited.status).toBe(429);
    // the limit (and membership) refuse before readUpload reads a byte: no files were read to ask
    // for again, and the connection closes rather than the 16 MB being drained
    expect(limited.headers.get('connection')).toBe('close');
    expect(await limited.text()).not.toContain('Please choose your files again.');

    await t.db('rate_limits').delete();
    const csrf = await anna.csrf(`/portal/tickets/${annaTicket}`, `/portal/tickets/${annaTicket}/reply`);
    // one 40 MB file (over the 25 MB total): 413 from its Content-Length, nothing read, connection closed
    const big = new FormData();
    big.append('csrf', csrf);
    big.append('files', new Blob([Buffer.alloc(40 * MB, 3)]), 'big.bin');
    const r = await fetch(url, { method: 'POST', headers: { cookie }, body: big, redirect: 'manual' });
    expect(r.status).toBe(413);
    expect(r.headers.get('connection')).toBe('close');
    expect(await r.text()).toContain('The files are larger than 25 MB together.');

    // without a Content-Length (chunked), a 1 GB body: reading stops at the file limit (10 MB), the
    // page says so with the text typed, and the connection closes; the client sends nowhere near 1 GB
    const boundary = 'holesportal';
    const head = [
      `--${boundary}\r\nContent-Disposition: form-data; name="csrf"\r\n\r\n${csrf}\r\n`,
      `--${boundary}\r\nContent-Disposition: form-data; name="body"\r\n\r\nkept text\r\n`,
      `--${boundary}\r\nContent-Disposition: form-data; name="files"; filename="huge.bin"\r\n`,
      'Content-Type: application/octet-stream\r\n\r\n',
    ].join('');
    let sent = 0;
    const chunk = new Uint8Array(MB).fill(4);
    const body = new ReadableStream<Uint8Array>({
      start: (c) => c.enqueue(new TextEncoder().encode(head)),
      pull: (c) => {
        if (sent >= 1024 * MB) return c.close();
        sent += MB;
        c.enqueue(chunk.slice());
      },
    });
    const s = await fetch(url, {
      method: 'POST',
      headers: { cookie, 'content-type': `multipart/form-data; boundary=${boundary}` },
      body,
      duplex: 'half',
      redirect: 'manual',
    } as RequestInit);
    expect(s.status).toBe(413);
    expect(s.headers.get('connection')).toBe('close');
    const html = await s.text();
    expect(html).toContain('huge.bin is larger than 10 MB');
    expect(html).toContain('kept text</textarea>');
    expect(sent).toBeLessThan(100 * MB);
    expect(await t.db('messages').where({ ticket_id: annaTicket }).count()).toEqual(before);
  });

  it('fixed (low): a dead password link no longer shows its account’s address to whoever holds it', async () => {
    const id = await customer('gail', 'gail@acme.test');
    await api.call('POST', `/customers/${id}/emails`, { email: 'gail.private@home.test' });
    const pw = await issueToken(t.db, 'password_set', { customerId: id }, 86400);
    await t.db('tokens').where({ id: pw.id }).update({ used_at: t.db.fn.now() });
    const r = await new PortalClient(web).get(`/portal/password/${pw.secret}`);
    expect(r.status).toBe(410);
    // a used/expired/revoked link (old mail, forwarded mail, browser history, proxy logs) names no
    // account: the forgot form it offers is empty
    expect(r.html).not.toContain('gail@acme.test');
    expect(r.html).not.toContain('gail.private@home.test');
  });

  it('fixed (low): a password reset kills sign-in links; deactivating kills every link for good', async () => {
    const id = await customer('sid', 'sid@acme.test');
    const leaked = await issueToken(t.db, 'sign_in', { customerId: id }, 900);
    // the owner resets the password (this ends every session and revokes password/sign-up links)
    const pw = await issueToken(t.db, 'password_set', { customerId: id }, 86400);
    const reset = `/portal/password/${pw.secret}`;
    const owner = new PortalClient(web);
    expect((await owner.submit(reset, reset, { password: `${PASSWORD}!`, repeat: `${PASSWORD}!` })).status).toBe(303);
    expect((await t.db('tokens').where({ id: leaked.id }).first('revoked_at')).revoked_at).toBeInstanceOf(Date);
    // the leaked sign-in link is dead
    const link = `/portal/sign-in/link/${leaked.secret}`;
    expect((await new PortalClient(web).get(link)).status).toBe(410);

    // an admin deactivates the account (e.g. a reset link leaked), and later activates it again
    const leakedReset = await issueToken(t.db, 'password_set', { customerId: id }, 86400);
    await api.call('POST', `/portal-users/${id}/deactivate`);
    expect((await new PortalClient(web).get(`/portal/password/${leakedReset.secret}`)).status).toBe(410);
    await api.call('POST', `/portal-users/${id}/activate`);
    // the link issued before the deactivation stays dead
    expect((await new PortalClient(web).get(`/portal/password/${leakedReset.secret}`)).status).toBe(410);
  });

  it('fixed (low): failed guesses from one client do not lock the owner out; that client is slowed', async () => {
    await customer('lou', 'lou@acme.test');
    for (let i = 0; i < 10; i++) {
      const r = await new PortalClient(web).submit('/portal/sign-in', '/portal/sign-in', {
        email: 'LOU@acme.test',
        password: 'guess guess guess',
      });
      expect(r.status).toBe(401);
    }
    // the guesser's client is refused now, even with the right password...
    const guesser = await new PortalClient(web).submit('/portal/sign-in', '/portal/sign-in', {
      email: 'lou@acme.test',
      password: PASSWORD,
    });
    expect(guesser.status).toBe(429);
    // ...while the owner, from another client (another loopback address), signs in
    expect(await signInFrom('127.0.0.2', 'lou@acme.test', PASSWORD)).toBe(303);
  });

  it('fixed (low): auto-invite mails no welcome to a customer whose company keeps them out of the portal', async () => {
    await updatePortalSettings(t.db, { enabled: true, auto_invite: true });
    try {
      const from = 'worker@closed.test';
      const raw = [
        `From: ${from}`,
        'To: support@localhost',
        'Subject: Hello',
        'Message-ID: <closed.1@closed.test>',
        '',
        'Hello there.',
        '',
      ].join('\r\n');
      expect((await sendRaw(smtpPort, from, ['support@localhost'], raw)).code).toBe(250);
      const c = await eventually<{ id: number; portal_status: string }>(
        () =>
          t
            .db('customer_emails as e')
            .join('customers as c', 'c.id', 'e.customer_id')
            .join('tickets as t', 't.requester_id', 'c.id')
            .where('e.address', from)
            .first('c.id', 'c.portal_status'),
        15_000,
      );
      // portal_access is false for the company: no welcome, and the customer has no account
      expect(c.portal_status).toBe('none');
      expect(
        await t.db('outbound_messages').where({ recipient: from, kind: 'portal_welcome' }).first(),
      ).toBeUndefined();
    } finally {
      await updatePortalSettings(t.db, { auto_invite: false });
      await updatePortalSettings(api.db, {});
    }
  });

  it('fixed (medium, insider): an agent cannot change the addresses or permissions of a portal account', async () => {
    const id = await customer('vic', 'vic@acme.test', 'Vic', acme);
    const agent = api.agentToken;
    // admin-only: /portal-users (403 above). Not admin-only: a customer's addresses and permissions.
    const add = await api.call('POST', `/customers/${id}/emails`, { email: 'rogue@agent.test' }, agent);
    expect(add.status).toBe(403);
    const perms = await api.call(
      'PATCH',
      `/customers/${id}`,
      { portal_permissions: { view_company_tickets: true } },
      agent,
    );
    expect(perms.status).toBe(403);
    expect(
      (await api.call('PATCH', `/companies/${acme}`, { portal_permissions: { view_company_tickets: true } }, agent))
        .status,
    ).toBe(403);
    // an admin may; the account's sessions and links end with an address change
    const session = await new PortalClient(web).submit('/portal/sign-in', '/portal/sign-in', {
      email: 'vic@acme.test',
      password: PASSWORD,
    });
    expect(session.status).toBe(303);
    expect((await api.call('POST', `/customers/${id}/emails`, { email: 'vic.home@home.test' })).status).toBe(201);
    const live = await t.db('portal_sessions').where({ customer_id: id }).whereNull('ended_at').first('id');
    expect(live).toBeUndefined();
  });
});

/** A sign-in from another client address: the page (pre-session cookie, token), then the post. */
async function signInFrom(localAddress: string, email: string, password: string): Promise<number> {
  const call = (method: string, path: string, headers: Record<string, string>, body?: string) =>
    new Promise<{ status: number; cookies: string[]; body: string }>((resolve, reject) => {
      const req = http.request(`${web}${path}`, { method, headers, localAddress }, (res) => {
        let text = '';
        res.on('data', (c) => {
          text += c;
        });
        res.on('end', () => resolve({ status: res.statusCode!, cookies: res.headers['set-cookie'] ?? [], body: text }));
      });
      req.on('error', reject);
      req.end(body);
    });
  const page = await call('GET', '/portal/sign-in', {});
  const cookie = page.cookies.map((c) => c.split(';')[0]).join('; ');
  const csrf = /name="csrf" value="([^"]+)"/.exec(page.body)![1]!;
  const form = new URLSearchParams({ csrf, email, password }).toString();
  return (await call('POST', '/portal/sign-in', { cookie, 'content-type': 'application/x-www-form-urlencoded' }, form))
    .status;
}
