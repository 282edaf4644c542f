// The portal's account pages in a real browser, with links from real mail: the invitation sets a
// password and signs in, sign out; "email me a sign-in link" (opening the link alone does not sign
// in, the button does); "forgot password" and an expired link; self sign-up placed in the company
// of its domain, by keyboard; a deactivated customer is out at their next click; German pages.
// Screenshots of each page at phone and desktop widths go to test-results/screenshots/portal/ (not kept in git: every run makes them anew).
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { createTestDatabase, type TestDatabase } from './helpers/db.ts';
import { startTestApi, type TestApi } from './helpers/api.ts';
import { eventually, startBossFor, startTestOutbound } from './helpers/app.ts';
import { startSink, type Sink, type SunkMail } from './helpers/sink.ts';
import { startBrowser } from './helpers/browser.ts';
import { issueToken } from '../src/access/index.ts';
import { createInboxStore } from '../src/inboxes/index.ts';
import { setPassword, updatePortalSettings } from '../src/portal/index.ts';

const SHOTS = path.resolve(import.meta.dirname, '../test-results/screenshots/portal');
const PASSWORD = 'correct horse battery staple';

let t: TestDatabase;
let api: TestApi;
let sink: Sink;
let browser: Browser;
let web: string;

beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true });
  t = await createTestDatabase();
  api = await startTestApi(t.url);
  web = api.base.replace(/\/api\/v1$/, '');
  sink = await startSink();
  const boss = await startBossFor(t.url, true);
  await startTestOutbound(t.db, boss, sink.url, web);
  await createInboxStore(t.db).add('support@localhost', 'Example Support');
  await updatePortalSettings(api.db, { enabled: true, self_signup: true, branding: { name: 'Example Support' } });
  browser = await startBrowser();
});

function mailTo(address: string, since: number): Promise<SunkMail> {
  return eventually(async () => sink.mails.slice(since).find((m) => m.to.includes(address)), 15_000);
}

function linkIn(mail: SunkMail, route: string): string {
  const m = new RegExp(`${web}/portal/${route}/[A-Za-z0-9_-]{43}`).exec(mail.mail.text ?? '');
  if (!m) throw new Error(`no /portal/${route} link in: ${mail.mail.text}`);
  return m[0];
}

/** The page as a phone (390x844) and a desktop (1280x800) show it. */
async function shoot(page: Page, name: string): Promise<void> {
  const size = page.viewportSize();
  for (const [w, h] of [
    [390, 844],
    [1280, 800],
  ] as const) {
    await page.setViewportSize({ width: w, height: h });
    await page.screenshot({ path: path.join(SHOTS, `${name}-${w}.png`), fullPage: true });
  }
  if (size) await page.setViewportSize(size);
}

async function sessionCookie(context: BrowserContext): Promise<string | undefined> {
  return (await context.cookies(`${web}/portal/`)).find((c) => c.name === 'inbound_portal')?.value;
}

async function fresh(locale = 'en-US'): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ locale, viewport: { width: 1280, height: 800 } });
  return { context, page: await context.newPage() };
}

describe('portal accounts in a browser', () => {
  it('the invitation mail sets a password and signs in; sign out', async () => {
    const before = sink.mails.length;
    const r = await api.call('POST', '/portal-users', { email: 'ivy@customer.test', name: 'Ivy Invite' });
    expect(r.status).toBe(201);
    const link = linkIn(await mailTo('ivy@customer.test', before), 'password');
    const { context, page } = await fresh();
    await page.goto(link);
    expect(await page.locator('h1').textContent()).toBe('Choose your password');
    await shoot(page, 'password');
    // a mistake is said on the form, in an alert, and the fields are empty again
    await page.getByLabel('New password', { exact: true }).fill(PASSWORD);
    await page.getByLabel('New password, again').fill('something else entirely');
    await page.getByRole('button', { name: 'Save password and sign in' }).click();
    await expect.poll(() => page.getByRole('alert').textContent()).toContain('not the same');
    expect(await page.getByLabel('New password', { exact: true }).inputValue()).toBe('');
    expect(await page.locator('#repeat').getAttribute('aria-invalid')).toBe('true');
    await shoot(page, 'password-error');
    await page.getByLabel('New password', { exact: true }).fill(PASSWORD);
    await page.getByLabel('New password, again').fill(PASSWORD);
    await page.getByRole('button', { name: 'Save password and sign in' }).click();
    await page.waitForURL(`${web}/portal/tickets`);
    expect(await sessionCookie(context)).toBeDefined();
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL(/\/portal\/sign-in\?done=signed-out$/);
    expect(await page.getByRole('status').textContent()).toContain('You have signed out.');
    expect(await sessionCookie(context)).toBeUndefined();
    await shoot(page, 'sign-in');
    // the link was used: it says so and offers a new one, the address left for them to type
    await page.goto(link);
    expect(await page.locator('h1').textContent()).toBe('This link no longer works');
    expect(await page.getByLabel('Email address').inputValue()).toBe('');
    await shoot(page, 'link-gone');
    await context.close();
  });

  it('email me a sign-in link: opening it does not sign in, the button does', async () => {
    const id = (await api.call('POST', '/customers', { email: 'sam@customer.test', name: 'Sam Sign' })).body.id;
    await setPassword(t.db, id, PASSWORD);
    const { context, page } = await fresh();
    await page.goto(`${web}/portal/sign-in`);
    await page.getByRole('link', { name: 'Email me a sign-in link' }).click();
    await page.waitForURL(`${web}/portal/sign-in/mail`);
    await shoot(page, 'sign-in-mail');
    const before = sink.mails.length;
    await page.getByLabel('Email address').fill('sam@customer.test');
    await page.getByRole('button', { name: 'Email me a sign-in link' }).click();
    await expect.poll(() => page.getByRole('status').textContent()).toContain('If an account exists');
    await shoot(page, 'sign-in-mail-sent');
    const link = linkIn(await mailTo('sam@customer.test', before), 'sign-in/link');

    // what a mail scanner does: fetch the link (in another browser) - nothing is signed in or spent
    const scanner = await fresh();
    await scanner.page.goto(link);
    expect(await sessionCookie(scanner.context)).toBeUndefined();
    await scanner.context.close();
    await page.goto(link);
    expect(await sessionCookie(context)).toBeUndefined();
    const token = await t.db('tokens').where({ customer_id: id, purpose: 'sign_in' }).first('used_at');
    expect(token.used_at).toBeNull();
    await shoot(page, 'sign-in-link');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(`${web}/portal/tickets`);
    expect(await sessionCookie(context)).toBeDefined();
    // once only
    const again = await fresh();
    await again.page.goto(link);
    expect(await again.page.locator('h1').textContent()).toBe('This link no longer works');
    await again.context.close();
    await context.close();
  });

  it('forgot password, and an expired link offers a new one', async () => {
    const id = (await api.call('POST', '/customers', { email: 'fay@customer.test', name: 'Fay Forgot' })).body.id;
    await setPassword(t.db, id, PASSWORD);
    const expired = await issueToken(t.db, 'password_set', { customerId: id }, 3600);
    await t
      .db('tokens')
      .where({ id: expired.id })
      .update({ expires_at: t.db.raw(`now() - interval '1 hour'`) });
    const { context, page } = await fresh();
    await page.goto(`${web}/portal/password/${expired.secret}`);
    expect(await page.locator('h1').textContent()).toBe('This link no longer works');
    const before = sink.mails.length;
    await page.getByLabel('Email address').fill('fay@customer.test');
    await page.getByRole('button', { name: 'Send me the link' }).click();
    await expect.poll(() => page.getByRole('status').textContent()).toContain('If an account exists');
    await shoot(page, 'forgot-sent');
    const link = linkIn(await mailTo('fay@customer.test', before), 'password');
    await page.goto(`${web}/portal/sign-in`);
    await page.getByRole('link', { name: /Forgot your password/ }).click();
    await page.waitForURL(`${web}/portal/forgot`);
    await shoot(page, 'forgot');
    await page.goto(link);
    await page.getByLabel('New password', { exact: true }).fill(`${PASSWORD}!`);
    await page.getByLabel('New password, again').fill(`${PASSWORD}!`);
    await page.getByRole('button', { name: 'Save password and sign in' }).click();
    await page.waitForURL(`${web}/portal/tickets`);
    await context.close();
  });

  it('self sign-up, by keyboard, placed in the company of its domain', async () => {
    const company = (await api.call('POST', '/companies', { name: 'Acme', domains: ['acme.test'] })).body;
    const { context, page } = await fresh();
    await page.goto(`${web}/portal/sign-in`);
    await page.getByRole('link', { name: 'No account yet? Sign up' }).click();
    await page.waitForURL(`${web}/portal/sign-up`);
    await shoot(page, 'sign-up');
    const before = sink.mails.length;
    await page.getByLabel('Email address').focus();
    await page.keyboard.type('nina@acme.test');
    await page.keyboard.press('Enter');
    await expect.poll(() => page.getByRole('status').textContent()).toContain('If this address can sign up');
    const link = linkIn(await mailTo('nina@acme.test', before), 'sign-up');
    await page.goto(link);
    expect(await page.locator('h1').textContent()).toBe('Finish signing up');
    await shoot(page, 'sign-up-finish');
    await page.getByLabel('Your name').focus();
    await page.keyboard.press('ControlOrMeta+a');
    await page.keyboard.type('Nina Newbie');
    await page.keyboard.press('Tab');
    await page.keyboard.type(PASSWORD);
    await page.keyboard.press('Tab');
    await page.keyboard.type(PASSWORD);
    await page.keyboard.press('Enter');
    await page.waitForURL(`${web}/portal/tickets`);
    const row = await t
      .db('customers as c')
      .join('customer_emails as e', 'e.customer_id', 'c.id')
      .where('e.address', 'nina@acme.test')
      .first('c.name', 'c.company_id', 'c.portal_status');
    expect(row).toEqual({ name: 'Nina Newbie', company_id: company.id, portal_status: 'active' });
    await context.close();
  });

  it('a deactivated customer is signed out at once', async () => {
    const id = (await api.call('POST', '/customers', { email: 'dee@customer.test', name: 'Dee Deact' })).body.id;
    await setPassword(t.db, id, PASSWORD);
    const { context, page } = await fresh();
    await page.goto(`${web}/portal/sign-in`);
    await page.getByLabel('Email address').fill('dee@customer.test');
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(`${web}/portal/tickets`);
    expect((await api.call('POST', `/portal-users/${id}/deactivate`)).status).toBe(200);
    await page.reload();
    await page.waitForURL(`${web}/portal/sign-in`);
    expect(await page.locator('h1').textContent()).toBe('Sign in');
    await context.close();
  });

  it('speaks German to a German browser', async () => {
    const { context, page } = await fresh('de-DE');
    await page.goto(`${web}/portal/forgot`);
    expect(await page.locator('html').getAttribute('lang')).toBe('de');
    expect(await page.locator('h1').textContent()).toBe('Passwort-Link anfordern');
    await page.getByLabel('E-Mail-Adresse').fill('keiner@customer.test');
    await page.getByRole('button', { name: 'Link senden' }).click();
    await expect.poll(() => page.getByRole('status').textContent()).toContain('Falls es für diese Adresse');
    await shoot(page, 'forgot-de');
    await context.close();
  });
});
