// The admin pages that set up the portal and the inboxes, in chromium: each page (and its error
// states) at desktop (1280) and phone (375) widths, checked by axe-core in the page (no serious or
// critical violation) and for sideways scrolling; the settings form by keyboard alone; the
// portal preview showing what was typed before it is saved. The admin area's CSP forbids inline
// script, so this test's browser context alone bypasses it to inject axe. A screenshot of each
// page and width goes to test-results/screenshots/admin/ (not kept in git: every run makes them
// anew).
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { createTestDatabase, type TestDatabase } from './helpers/db.ts';
import { startTestApi, type TestApi } from './helpers/api.ts';
import { startBrowser } from './helpers/browser.ts';
import { axe } from './helpers/axe.ts';
import { createAgent } from '../src/agents/index.ts';
import { createInboxStore } from '../src/inboxes/index.ts';
import { createArticle, setPassword, updatePortalSettings } from '../src/portal/index.ts';

const SHOTS = path.resolve(import.meta.dirname, '../test-results/screenshots/admin');
const PASSWORD = 'admin password 123';
const WIDTHS = [
  [1280, 800],
  [375, 812],
] as const;

let t: TestDatabase;
let api: TestApi;
let browser: Browser;
let web: string;
let inboxId: number;
let articleId: number;

beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true });
  t = await createTestDatabase();
  api = await startTestApi(t.url);
  web = api.base.replace(/\/api\/v1$/, '');
  await createAgent(t.db, { email: 'ada@areas.test', name: 'Ada Admin', role: 'admin', password: PASSWORD });
  const store = createInboxStore(t.db);
  inboxId = Number((await store.add('support@example.test', 'Example Support')).id);
  const billing = await store.add('billing-and-invoices-department@a-rather-long-domain-name.example.test', 'Billing');
  await store.update(Number(billing.id), { from_name: 'Example Billing', locale: 'de', ack: false, enabled: false });
  await updatePortalSettings(t.db, {
    enabled: true,
    help_docs: true,
    inbox_ids: [inboxId],
    branding: { name: 'Example Support', footer_html: '<p>Example Ltd</p>' },
  });
  articleId = (
    await createArticle(t.db, {
      title: 'The printer shows an error',
      body: '## What to do\n\n1. Switch the **printer** off.\n2. Wait ten seconds.\n\n> Still broken? Open a ticket.\n\n`E42` means paper jam.',
      published: true,
    })
  ).id;
  await createArticle(t.db, { title: 'Drucker-Treiber', body: 'Wo Sie die Treiber finden.', locale: 'de' });
  const rita = (await api.call('POST', '/customers', { name: 'Rita Requester', email: 'rita@acme.test' })).body.id;
  await setPassword(t.db, rita, 'correct horse battery staple');
  await t
    .db('customers')
    .where({ id: rita })
    .update({ last_sign_in_at: new Date('2026-12-01T09:30:00Z') });
  await api.call('POST', '/portal-users', {
    email: 'a.very.long.address.for.the.phone.layout@subsidiary.example-customer.test',
    name: 'Maximilian Long-Name',
    invite: false,
  });
  const carl = (await api.call('POST', '/customers', { name: 'Carl Colleague', email: 'carl@acme.test' })).body.id;
  await api.call('POST', '/portal-users', { customer_id: carl, invite: false });
  await api.call('POST', `/portal-users/${carl}/deactivate`);
  browser = await startBrowser();
});

const found: Record<string, string[]> = {};

/** The page as it is, at both widths: axe, no sideways scrolling, a screenshot. */
async function sweep(page: Page, name: string): Promise<void> {
  for (const [width, height] of WIDTHS) {
    await page.setViewportSize({ width, height });
    await page.screenshot({ path: path.join(SHOTS, `${name}-${width}.png`), fullPage: true });
    const { violations, passed } = await axe(page);
    expect(passed, `${name} at ${width}px`).toBeGreaterThan(10);
    const lines = violations.map(
      (v) => `${v.impact} ${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join(', ')})`,
    );
    if (lines.length) found[`${name}@${width}`] = lines;
    expect(
      lines.filter((l) => l.startsWith('serious') || l.startsWith('critical')),
      `${name} at ${width}px`,
    ).toEqual([]);
    const wide = await page.evaluate('document.documentElement.scrollWidth - window.innerWidth');
    expect(wide, `${name} at ${width}px scrolls sideways`).toBeLessThanOrEqual(0);
  }
}

async function signedIn(): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({
    bypassCSP: true,
    locale: 'en-US',
    viewport: { width: 1280, height: 800 },
  });
  const page = await context.newPage();
  await page.goto(`${web}/admin/sign-in`);
  await page.fill('#email', 'ada@areas.test');
  await page.fill('#password', PASSWORD);
  await page.click('main button[type=submit]');
  await page.waitForURL(`${web}/admin`);
  return { context, page };
}

async function open(page: Page, url: string, status = 200): Promise<void> {
  const r = await page.goto(web + url);
  expect(r?.status(), url).toBe(status);
}

// each page is checked at two widths: a machine shared with other work needs more than the default
describe('the admin set-up pages in chromium', { timeout: 120_000 }, () => {
  it('(the check finds what it should: a page with known faults)', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.setContent('<html><body><input id="x"><p style="color:#bbb;background:#fff">faint</p></body></html>');
    const ids = (await axe(page)).violations.map((v) => `${v.impact} ${v.id}`);
    expect(ids).toEqual(expect.arrayContaining(['critical label', 'serious color-contrast']));
    await context.close();
  });

  it('portal settings: the form, the preview of what was typed, refused colours, the logo', async () => {
    const { context, page } = await signedIn();
    await open(page, '/admin/portal');
    await page.frameLocator('iframe[name="portal-preview"]').locator('h1').waitFor();
    await sweep(page, 'portal');

    // Preview shows the typed branding in the frame, saves nothing
    await page.setViewportSize({ width: 1280, height: 800 });
    await page.fill('#name', 'Typed Name Ltd');
    await page.fill('#primary_color', '#7c2d12');
    await page.click('button[formaction="/admin/portal/preview"]');
    const frame = page.frameLocator('iframe[name="portal-preview"]');
    await frame.locator('a.brand', { hasText: 'Typed Name Ltd' }).waitFor();
    // the test's types know no DOM: the page's getComputedStyle, named by what is used of it
    type Styles = { getComputedStyle(e: unknown): { backgroundColor: string } };
    const primary = await frame
      .locator('button')
      .first()
      .evaluate((b) => (globalThis as unknown as Styles).getComputedStyle(b).backgroundColor);
    expect(primary).toBe('rgb(124, 45, 18)');
    expect(page.url()).toBe(`${web}/admin/portal`);
    await sweep(page, 'portal-preview');

    // unreadable colours: refused, said at the colours, typed values kept
    await page.fill('#text_color', '#dddddd');
    await page.click('form[action="/admin/portal"] button:not([formaction])');
    await page.waitForSelector('#colour-problems');
    expect(await page.inputValue('#text_color')).toBe('#dddddd');
    expect(await page.inputValue('#name')).toBe('Typed Name Ltd');
    await sweep(page, 'portal-refused');

    // the logo: a file that is no image is refused on the page
    await open(page, '/admin/portal');
    await page.setInputFiles('#logo-file', {
      name: 'logo.svg',
      mimeType: 'image/svg+xml',
      buffer: Buffer.from('<svg/>'),
    });
    await page.click('form[action="/admin/portal/logo"] button[type=submit]');
    await page.waitForSelector('#logo-error');
    await sweep(page, 'portal-logo-refused');
    await context.close();
  });

  it('portal settings by keyboard alone: every control reached by Tab, saved with Enter', async () => {
    const { context, page } = await signedIn();
    await open(page, '/admin/portal');
    await page.focus('input[name="enabled"]');
    const reached: string[] = [];
    for (let i = 0; i < 40; i++) {
      reached.push(
        (await page.evaluate(
          `(() => { const e = document.activeElement; return e.id || e.name || e.getAttribute('formaction') || e.textContent.trim(); })()`,
        )) as string,
      );
      if (reached.at(-1) === '/admin/portal/preview') break;
      await page.keyboard.press('Tab');
    }
    for (const control of [
      'enabled',
      'self_signup',
      'auto_invite',
      'help_docs',
      'language',
      `inbox_${inboxId}`,
      'name',
      'primary_color',
      'background_color',
      'text_color',
      'header_html',
      'footer_html',
      'custom_css',
      'Save',
      '/admin/portal/preview',
    ])
      expect(reached, control).toContain(control);
    // a switch by keyboard, then the form sent with Enter in a text field
    await page.focus('input[name="self_signup"]');
    await page.keyboard.press('Space');
    await page.focus('#name');
    await page.keyboard.press('Enter');
    await page.waitForSelector('p.notice');
    expect(await page.isChecked('input[name="self_signup"]')).toBe(true);
    await context.close();
  });

  it('help articles: the list, writing one with its preview, a refusal, deleting', async () => {
    const { context, page } = await signedIn();
    await open(page, '/admin/help');
    await sweep(page, 'help-list');
    await open(page, '/admin/help/new');
    await sweep(page, 'help-new');
    await page.fill('#title', 'Resetting your password');
    await page.fill(
      '#body',
      '## Steps\n\n1. Open **Sign in**.\n2. Choose *Forgot your password*.\n\n| Step | Time |\n| --- | --- |\n| Mail | 1 min |',
    );
    await page.click('button[value="preview"]');
    await page.waitForSelector('[data-preview] h2');
    await sweep(page, 'help-preview');
    await page.fill('#title', '');
    await page.click('button[value="preview"]');
    // Save with an empty title: the browser's own check stops it first; the server's answer, as
    // a browser without that check would get it, is the 422 page
    await page.evaluate(`document.querySelector('#title').removeAttribute('required')`);
    await page.click('button[value="save"]');
    await page.waitForSelector('#title-error');
    expect(await page.inputValue('#body')).toContain('## Steps');
    await sweep(page, 'help-refused');
    await open(page, `/admin/help/${articleId}`);
    await sweep(page, 'help-edit');
    await open(page, `/admin/help/${articleId}/delete`);
    await sweep(page, 'help-delete');
    await context.close();
  });

  it('portal users: the list, a search, a refused address', async () => {
    const { context, page } = await signedIn();
    await open(page, '/admin/portal-users');
    await sweep(page, 'portal-users');
    await open(page, '/admin/portal-users?status=none');
    await sweep(page, 'portal-users-none');
    await open(page, '/admin/portal-users');
    await page.fill('#add-email', 'rita@acme.test');
    await page.click('form[action="/admin/portal-users"][method="post"] button[type=submit]');
    await page.waitForSelector('#add-error');
    await sweep(page, 'portal-users-refused');
    await context.close();
  });

  it('inboxes: the list, one inbox, a refusal', async () => {
    const { context, page } = await signedIn();
    await open(page, '/admin/inboxes');
    await sweep(page, 'inboxes');
    await open(page, `/admin/inboxes/${inboxId}`);
    await sweep(page, 'inbox');
    // past the browser's own checks, to the server's answer
    await page.evaluate(`document.querySelector('main form').noValidate = true`);
    await page.fill('#locale', 'e1');
    await page.click('main button[type=submit]');
    await page.waitForSelector('#locale-error');
    await sweep(page, 'inbox-refused');
    await context.close();
  });

  it('(what axe found below serious, for the record)', () => {
    if (Object.keys(found).length) console.log(JSON.stringify(found, null, 2));
  });
});
