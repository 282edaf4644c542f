// The public ticket page in a real browser: a magic link from a real mail opens the thread and
// posts as the customer it was mailed to, and nobody else; a follower's link dies when they are
// removed; a link from before links named their customer cannot post; closing; revoked and expired
// links stop working, and a fresh link comes by mail.
import { beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { createTestDatabase, type TestDatabase } from './helpers/db.ts';
import { startTestApi, type TestApi } from './helpers/api.ts';
import { eventually, startBossFor, startTestIngest, startTestOutbound, startTestWorker } from './helpers/app.ts';
import { sendRaw } from './helpers/smtp-client.ts';
import { startSink, type Sink } from './helpers/sink.ts';
import { startBrowser } from './helpers/browser.ts';

let t: TestDatabase;
let api: TestApi;
let sink: Sink;
let browser: Browser;
let web: string;
let ticketId: number;
let link: string;

const linkIn = (text: string) => new RegExp(`${web}/t/[A-Za-z0-9_-]{43}`).exec(text)![0];

beforeAll(async () => {
  t = await createTestDatabase();
  api = await startTestApi(t.url);
  web = api.base.replace(/\/api\/v1$/, '');
  sink = await startSink();
  const { port } = await startTestIngest(t.url, { inboxes: ['support@localhost'] });
  const boss = await startBossFor(t.url, true);
  await startTestWorker(t.url, boss, 1);
  await startTestOutbound(t.db, boss, sink.url, web);
  browser = await startBrowser();

  // Paula writes in (from her work address; her home address is known as an alternate)
  const c = (
    await api.call('POST', '/customers', {
      name: 'Paula Page',
      email: 'paula@customer.test',
      alternate_emails: ['paula@home.test'],
    })
  ).body;
  const raw = [
    'From: Paula Page <paula@customer.test>',
    'To: support@localhost',
    'Subject: Broken <script>alert(1)</script> widget',
    'Message-ID: <p1@customer.test>',
    '',
    'My widget is broken.',
    '',
  ].join('\r\n');
  const reply = await sendRaw(port, 'paula@customer.test', ['support@localhost'], raw);
  expect(reply.code).toBe(250);
  ticketId = (
    await eventually(() => t.db('tickets').where({ requester_id: c.id }).first<{ id: number } | undefined>('id'))
  ).id;
  await api.call(
    'POST',
    `/tickets/${ticketId}/replies`,
    { body: 'Hi Paula,\n\nplease **restart** it.', format: 'markdown' },
    api.agentToken,
  );
  await api.call('POST', `/tickets/${ticketId}/replies`, { body: 'She sounds upset, be gentle', internal: true });
  const mail = await eventually(async () => sink.mails.find((m) => m.to.includes('paula@customer.test')), 15_000);
  link = linkIn(mail.mail.text!);
});

/** The reply form's CSRF token on an open page. */
async function csrfOf(page: Page): Promise<string> {
  return (await page.locator('form[aria-label="Reply"] input[name=csrf]').getAttribute('value')) ?? '';
}

async function open(url: string): Promise<Page> {
  const page = await browser.newPage();
  await page.goto(url);
  return page;
}

describe('public ticket page', () => {
  it('opens from the magic link with the public thread, escaped, without internal notes or addresses', async () => {
    const page = await browser.newPage();
    const response = await page.goto(link);
    expect(response!.status()).toBe(200);
    expect(response!.headers()['referrer-policy']).toBe('no-referrer');
    expect(response!.headers()['content-security-policy']).toContain("default-src 'none'");
    expect(await page.locator('h1').textContent()).toBe('Broken <script>alert(1)</script> widget');
    expect(await page.locator('[data-status]').getAttribute('data-status')).toBe('open');
    const articles = page.locator('article');
    expect(await articles.count()).toBe(2);
    expect(await articles.nth(0).textContent()).toContain('My widget is broken.');
    expect(await articles.nth(1).locator('strong', { hasText: 'restart' }).count()).toBe(1);
    const html = await page.content();
    expect(html).not.toContain('be gentle');
    expect(html).not.toContain('paula@customer.test');
    expect(html).not.toContain('<script>alert(1)</script>');
    await page.close();
  });

  it('posts a reply as the customer the link was mailed to, with no address to type', async () => {
    const page = await open(link);
    expect(await page.locator('#email').count()).toBe(0);
    await page.fill('#body', 'Restarted it, works now. Thanks!');
    await page.click('form[aria-label="Reply"] button');
    expect(await page.locator('.notice').textContent()).toContain('Your reply has been added');
    expect(await page.locator('article').last().textContent()).toContain('Restarted it, works now.');
    const m = await t.db('messages').where({ ticket_id: ticketId, text: 'Restarted it, works now. Thanks!' }).first();
    const paula = await t.db('customer_emails').where({ address: 'paula@customer.test' }).first();
    expect(m).toMatchObject({
      direction: 'inbound',
      author_type: 'customer',
      author_customer_id: paula.customer_id,
      from_address: 'paula@customer.test',
      internal: false,
    });
    // an address in the form changes nothing: the link is Paula's
    const r = await fetch(`${link}/reply`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `email=someone%40else.test&body=as+someone+else&csrf=${encodeURIComponent(await csrfOf(page))}`,
      redirect: 'manual',
    });
    expect(r.status).toBe(303);
    const posted = await t.db('messages').where({ ticket_id: ticketId, text: 'as someone else' }).first();
    expect(posted).toMatchObject({ author_customer_id: paula.customer_id, from_address: 'paula@customer.test' });
    await page.close();
  });

  it("a follower's link posts as the follower, and dies when they are removed from the ticket", async () => {
    const added = await api.call('POST', `/tickets/${ticketId}/followers`, { email: 'fred@customer.test' });
    expect(added.status).toBeLessThan(300);
    const before = sink.mails.length;
    await api.call('POST', `/tickets/${ticketId}/replies`, { body: 'Fred, FYI.' }, api.agentToken);
    const toFred = await eventually(
      async () => sink.mails.slice(before).find((m) => m.to.includes('fred@customer.test')),
      15_000,
    );
    const fredLink = linkIn(toFred.mail.text!);
    const page = await open(fredLink);
    await page.fill('#body', 'Fred here');
    await page.click('form[aria-label="Reply"] button');
    const fred = await t.db('customer_emails').where({ address: 'fred@customer.test' }).first();
    expect(await t.db('messages').where({ ticket_id: ticketId, text: 'Fred here' }).first()).toMatchObject({
      author_customer_id: fred.customer_id,
    });
    // a post already past the page's checks when Fred is removed is refused in its transaction
    const { issueToken } = await import('../src/access/index.ts');
    const { postCustomerMessage, NotAMember } = await import('../src/tickets/index.ts');
    const fredToken = await issueToken(t.db, 'ticket_link', { ticketId, customerId: fred.customer_id }, 3600);
    // and a link from before links named their customer, which may have been his
    const { secret: legacy } = await issueToken(t.db, 'ticket_link', { ticketId }, 3600);
    expect((await api.call('DELETE', `/tickets/${ticketId}/followers/${fred.customer_id}`)).status).toBeLessThan(300);
    const gone = await page.goto(fredLink);
    expect(gone!.status()).toBe(410);
    expect((await page.goto(`${web}/t/${legacy}`))!.status()).toBe(410);
    await expect(
      postCustomerMessage(t.db, {
        ticketId,
        customerId: fred.customer_id,
        via: 'ticket page',
        context: { token_id: fredToken.id },
        text: 'late',
        reopenDays: 30,
      }),
    ).rejects.toBeInstanceOf(NotAMember);
    expect(await t.db('messages').where({ ticket_id: ticketId, text: 'late' }).first()).toBeUndefined();
    await page.close();
  });

  it('a link that names no customer (issued before links did) shows the thread but cannot post', async () => {
    const { issueToken } = await import('../src/access/index.ts');
    const { secret } = await issueToken(t.db, 'ticket_link', { ticketId }, 3600);
    const page = await open(`${web}/t/${secret}`);
    expect(await page.locator('article').count()).toBeGreaterThanOrEqual(2);
    expect(await page.locator('form[aria-label="Reply"]').count()).toBe(0);
    expect(await page.locator('section[aria-label="Reply"]').textContent()).toContain('reply to the email');
    const r = await fetch(`${web}/t/${secret}/reply`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'email=paula%40customer.test&body=legacy+post',
      redirect: 'manual',
    });
    expect(r.status).toBe(403);
    expect(await t.db('messages').where({ ticket_id: ticketId, text: 'legacy post' }).first()).toBeUndefined();
    // nor close the ticket
    expect(await page.locator('form[aria-label="Close ticket"]').count()).toBe(0);
    await page.close();
  });

  it('refuses a post without the form token', async () => {
    const r = await fetch(`${link}/reply`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'body=forged',
      redirect: 'manual',
    });
    expect(r.status).toBe(403);
    expect(await t.db('messages').where({ ticket_id: ticketId, text: 'forged' }).first()).toBeUndefined();
  });

  it('closes the ticket', async () => {
    const page = await open(link);
    await page.click('form[aria-label="Close ticket"] button');
    expect(await page.locator('.notice').textContent()).toContain('The ticket is closed');
    expect(await page.locator('[data-status]').getAttribute('data-status')).toBe('closed');
    expect((await t.db('tickets').where({ id: ticketId }).first()).status).toBe('closed');
    await page.close();
  });

  it('stops working once revoked, and sends a fresh link to an address of the ticket', async () => {
    expect((await api.call('POST', `/tickets/${ticketId}/revoke-links`)).body.revoked).toBeGreaterThanOrEqual(1);
    const page = await browser.newPage();
    const response = await page.goto(link);
    expect(response!.status()).toBe(410);
    expect(await page.locator('h1').textContent()).toBe('This link no longer works');
    expect(await page.locator('article').count()).toBe(0);

    const before = sink.mails.length;
    await page.fill('#email', 'stranger@else.test');
    await page.click('form button');
    expect(await page.locator('.notice').textContent()).toContain('If this address belongs to the ticket');
    await new Promise((r) => setTimeout(r, 1500));
    expect(sink.mails.slice(before).some((m) => m.to.includes('stranger@else.test'))).toBe(false);

    await page.goto(link);
    await page.fill('#email', 'paula@customer.test');
    await page.click('form button');
    expect(await page.locator('.notice').textContent()).toContain('If this address belongs to the ticket'); // the same answer
    const fresh = await eventually(
      async () => sink.mails.slice(before).find((m) => m.to.includes('paula@customer.test')),
      15_000,
    );
    expect(fresh.mail.headers.get('auto-submitted')).toBe('auto-replied');
    const newLink = linkIn(fresh.mail.text!);
    expect(newLink).not.toBe(link);
    await page.goto(newLink);
    expect(await page.locator('article').count()).toBeGreaterThanOrEqual(5);
    await page.close();
  });

  it('an expired link does not work', async () => {
    const page = await browser.newPage();
    await t
      .db('tokens')
      .where({ ticket_id: ticketId, purpose: 'ticket_link' })
      .whereNull('revoked_at')
      .update({ expires_at: t.db.raw(`now() - interval '1 second'`) });
    const mail = sink.mails.filter((m) => m.to.includes('paula@customer.test')).at(-1)!;
    const response = await page.goto(linkIn(mail.mail.text!));
    expect(response!.status()).toBe(410);
    expect(await page.locator('h1').textContent()).toBe('This link no longer works');
    await page.close();
  });
});

describe('housekeeping', () => {
  it('drops old rate-limit windows and long-dead tokens, and keeps live ones', async () => {
    const { housekeep } = await import('../src/worker/housekeeping.ts');
    await t.db('rate_limits').insert([
      { key: 'old', window_start: t.db.raw(`now() - interval '2 days'`), count: 3 },
      { key: 'new', window_start: t.db.raw('now()'), count: 1 },
    ]);
    const live = await t
      .db('tokens')
      .where({ purpose: 'ticket_link' })
      .whereNull('revoked_at')
      .count<{ n: number }[]>({ n: '*' });
    const [dead] = await t
      .db('tokens')
      .insert({
        purpose: 'ticket_link',
        token_hash: Buffer.alloc(32, 7),
        ticket_id: ticketId,
        expires_at: t.db.raw(`now() - interval '8 days'`),
      })
      .returning('id');
    const n = await housekeep(t.db);
    expect(n.rateLimits).toBeGreaterThanOrEqual(1);
    expect(await t.db('rate_limits').where({ key: 'new' }).first()).toBeTruthy();
    expect(await t.db('tokens').where({ id: dead.id }).first()).toBeUndefined();
    expect(
      await t.db('tokens').where({ purpose: 'ticket_link' }).whereNull('revoked_at').count<{ n: number }[]>({ n: '*' }),
    ).toEqual(live);
  });
});
