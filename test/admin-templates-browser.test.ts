// The template editor in a real browser (Debian's chromium): an admin turns on TOTP and signs in
// with a code computed here, edits the ack, sees the live preview change, saves a broken version
// and sees the problem at its line, saves a draft that no mail uses, publishes it and a real ack
// through the SMTP sink carries it, publishes a second version, rolls back to the first and the
// next ack carries the first again, and sends a test mail to themself. An agent without the admin
// role is refused. Screenshots of the editor go to test-results/screenshots/admin/, and axe-core
// finds no serious or critical violation on the admin pages.
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { createTestDatabase, type TestDatabase } from './helpers/db.ts';
import { startTestApi } from './helpers/api.ts';
import {
  eventually,
  startBossFor,
  startTestIngest,
  startTestOutbound,
  startTestWorker,
  testInboundSettings,
} from './helpers/app.ts';
import { startBrowser } from './helpers/browser.ts';
import { axe, serious } from './helpers/axe.ts';
import { sendRaw } from './helpers/smtp-client.ts';
import { startSink, type Sink } from './helpers/sink.ts';
import { totp } from './helpers/totp.ts';
import { createAgent } from '../src/agents/index.ts';

const SHOTS = path.resolve(import.meta.dirname, '../test-results/screenshots/admin');
const PASSWORD = 'editor password 42';
const ADMIN = 'eva@admin.test';

let t: TestDatabase;
let web: string;
let sink: Sink;
let smtpPort: number;
let browser: Browser;
let context: BrowserContext;
let page: Page;
let seq = 0;
const checked: string[] = [];

beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true });
  t = await createTestDatabase();
  const api = await startTestApi(t.url);
  web = api.base.replace(/\/api\/v1$/, '');
  sink = await startSink();
  smtpPort = (await startTestIngest(t.url, { inboxes: ['support@localhost'] })).port;
  const boss = await startBossFor(t.url, true);
  await startTestWorker(t.url, boss, 1, testInboundSettings);
  await startTestOutbound(t.db, boss, sink.url, web);
  await createAgent(t.db, { email: ADMIN, name: 'Eva Editor', role: 'admin', password: PASSWORD });
  await createAgent(t.db, { email: 'aldo@agent.test', name: 'Aldo Agent', role: 'agent', password: PASSWORD });
  browser = await startBrowser();
  // bypassCSP: only so that the test can inject axe-core; the pages' own script is a file of ours
  context = await browser.newContext({ bypassCSP: true, viewport: { width: 1440, height: 1000 } });
  page = await context.newPage();
}, 60_000);

/** Checks the page with axe at desktop and phone width. */
async function accessible(name: string): Promise<void> {
  for (const [width, height] of [
    [1440, 1000],
    [390, 844],
  ] as const) {
    await page.setViewportSize({ width, height });
    const { violations, passed } = await axe(page);
    expect(passed, name).toBeGreaterThan(10);
    expect(serious(violations), `${name} at ${width}px`).toEqual([]);
    await page.screenshot({ path: path.join(SHOTS, `${name}-${width}.png`), fullPage: true });
  }
  await page.setViewportSize({ width: 1440, height: 1000 });
  checked.push(name);
}

/** A mail from a new customer; resolves with the ack the sink got for it. */
async function ackFor(): Promise<{ subject: string; html: string; text: string }> {
  const from = `customer${++seq}.${Date.now()}@sender.test`;
  const raw = [
    `From: Casey Customer <${from}>`,
    'To: support@localhost',
    `Subject: Printer ${seq} is on fire`,
    `Message-ID: <m${seq}.${Date.now()}@sender.test>`,
    '',
    'Please help.',
    '',
  ].join('\r\n');
  expect((await sendRaw(smtpPort, from, ['support@localhost'], raw)).code).toBe(250);
  const mail = await eventually(async () => sink.mails.find((m) => m.to.includes(from)), 20_000);
  return { subject: mail.mail.subject ?? '', html: String(mail.mail.html || ''), text: mail.mail.text ?? '' };
}

async function signIn(email: string): Promise<void> {
  await page.goto(`${web}/admin/sign-in`);
  await page.getByLabel('Email address').fill(email);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

async function signOut(): Promise<void> {
  await page.getByRole('button', { name: /^Sign out/ }).click();
  await page.waitForURL(/\/admin\/sign-in\?done=signed-out$/);
}

/** Replaces the MJML body's words "Thank you" with `marker` in the editor, as a person types. */
async function editAck(marker: string): Promise<void> {
  await page.goto(`${web}/admin/templates/ack/en`);
  const mjml = page.locator('#mjml');
  const source = await mjml.inputValue();
  // the first mj-text with content (mj-attributes holds self-closing ones)
  const open = /<mj-text\b(?:[^>/]|\/(?!>))*>/;
  expect(source).toMatch(open);
  await mjml.fill(source.replace(open, (tag) => `${tag}${marker} `));
  const text = page.locator('#text');
  await text.fill(`${marker}\n${await text.inputValue()}`);
}

describe('the template editor', { timeout: 180_000 }, () => {
  it('refuses an agent without the admin role', async () => {
    await signIn('aldo@agent.test');
    await expect.poll(() => page.locator('h1').textContent()).toBe('Admins only');
    const r = await page.goto(`${web}/admin/templates`);
    expect(r!.status()).toBe(403);
    await signOut();
  });

  it('turns on TOTP and signs in with a code computed in the test', async () => {
    await page.goto(`${web}/admin/sign-in`);
    await accessible('sign-in');
    await signIn(ADMIN);
    await page.waitForURL(`${web}/admin`);
    await accessible('home');
    await page.goto(`${web}/admin/account`);
    await page.getByRole('button', { name: 'Set up a second factor' }).click();
    const key = (await page.getByTestId('totp-secret').textContent())!;
    await accessible('account-totp-setup');
    await page.getByLabel('Code from the app').fill(totp(key));
    await page.getByRole('button', { name: 'Turn on' }).click();
    await expect.poll(() => page.getByTestId('recovery-codes').locator('li').count()).toBe(10);
    await signOut();

    await signIn(ADMIN);
    await page.waitForURL(/\/admin\/sign-in\/code$/);
    await accessible('sign-in-code');
    // the step after the one used to turn it on: a code works once
    await page.getByLabel('Code from your authenticator app').fill(totp(key, Date.now() + 30_000));
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.waitForURL(`${web}/admin`);
    expect(await page.locator('h1').textContent()).toBe('Hello, Eva Editor');
  });

  it('previews as one types, and shows a broken template at its line on saving', async () => {
    await page.goto(`${web}/admin/templates`);
    await accessible('templates');
    await editAck('LIVE-PREVIEW-MARK');
    const desktop = page.frameLocator('#preview-desktop');
    await expect.poll(() => desktop.locator('body').textContent(), { timeout: 10_000 }).toContain('LIVE-PREVIEW-MARK');
    await expect.poll(() => page.locator('#preview-text').textContent()).toContain('LIVE-PREVIEW-MARK');
    expect(await page.frameLocator('#preview-phone').locator('body').textContent()).toContain('LIVE-PREVIEW-MARK');

    // line 3 of the text body names a field the ack does not have
    await page.locator('#text').fill('Hello <%= it.customer.name %>,\n\nYour ticket: <%= it.ticket.numbr %>\n');
    await expect
      .poll(() => page.locator('#problems').textContent(), { timeout: 10_000 })
      .toContain('Text body, line 3, column 14');
    await page.getByRole('button', { name: 'Save draft' }).click();
    await page.waitForLoadState();
    expect(await page.locator('[role=alert]').first().textContent()).toContain('Not saved');
    const problem = page.locator('#problems li').first();
    expect(await problem.textContent()).toContain('Text body, line 3, column 14: unknown field it.ticket.numbr');
    // the typed text came back, not lost
    expect(await page.locator('#text').inputValue()).toContain('it.ticket.numbr');
    // "Go there" selects the place
    await problem.getByRole('button', { name: 'Go there' }).click();
    // (a string: the tests are not compiled with the DOM's types)
    const selected = await page.evaluate(
      `(() => { const el = document.getElementById('text'); return el.value.slice(0, el.selectionStart).split('\\n').length; })()`,
    );
    expect(selected).toBe(3);
    await page.screenshot({ path: path.join(SHOTS, 'editor-problem-1440.png'), fullPage: true });
    expect(Number((await t.db('template_drafts').count('* as n'))[0]!.n)).toBe(0);
  });

  it('keeps a draft out of every mail; publishing puts it in the next one', async () => {
    await editAck('VERSION-ONE');
    await page.getByRole('button', { name: 'Save draft' }).click();
    await page.waitForURL(/done=saved/);
    expect(await page.locator('[role=status]').first().textContent()).toContain('Draft saved');
    await page.screenshot({ path: path.join(SHOTS, 'editor-1440.png'), fullPage: true });
    // the phone-width preview on its own, scrolled into view (a full-page shot leaves frames below the fold unpainted)
    await page.locator('#preview-phone').scrollIntoViewIfNeeded();
    await page.locator('#preview-phone').screenshot({ path: path.join(SHOTS, 'editor-phone-preview.png') });
    await accessible('editor');

    // the draft is saved and previewed, but the ack is still the shipped one
    const before = await ackFor();
    expect(before.text).not.toContain('VERSION-ONE');
    expect(before.html).not.toContain('VERSION-ONE');
    expect(before.text).toContain('Thank you');

    // and the test mail carries the draft, to the admin alone
    await page.getByRole('button', { name: 'Send a test mail to me' }).click();
    await page.waitForURL(/done=tested/);
    const test = await eventually(async () => sink.mails.find((m) => m.to.includes(ADMIN)), 20_000);
    expect(test.mail.subject).toMatch(/^\[Test\] /);
    expect(test.mail.text).toContain('VERSION-ONE');

    await page.getByRole('button', { name: 'Publish the draft' }).click();
    await page.waitForURL(/done=published/);
    const after = await ackFor();
    expect(after.text).toContain('VERSION-ONE');
    expect(after.html).toContain('VERSION-ONE');
  });

  it('publishes a second version, rolls back to the first, and the next mail has the first again', async () => {
    await editAck('VERSION-TWO');
    await page.getByRole('button', { name: 'Save draft' }).click();
    await page.waitForURL(/done=saved/);
    await page.getByRole('button', { name: 'Publish the draft' }).click();
    await page.waitForURL(/done=published/);
    expect((await ackFor()).text).toContain('VERSION-TWO');

    await page.goto(`${web}/admin/templates/ack/en/versions`);
    await accessible('versions');
    await page.getByRole('button', { name: 'Compare' }).click();
    await page.waitForURL(/\/diff\?/);
    expect(await page.locator('.diff .added').first().textContent()).toContain('VERSION-TWO');
    expect(await page.locator('.diff .removed').first().textContent()).toContain('VERSION-ONE');
    await accessible('diff');

    await page.goto(`${web}/admin/templates/ack/en/versions`);
    await page.locator('tr', { hasText: 'version 1' }).getByRole('button', { name: 'Publish this again' }).click();
    await page.waitForURL(/done=rolled-back/);
    expect(await page.locator('tr', { hasText: 'version 3' }).textContent()).toContain('a copy of version 1');
    const rolledBack = await ackFor();
    expect(rolledBack.text).toContain('VERSION-ONE');
    expect(rolledBack.text).not.toContain('VERSION-TWO');

    const events = await t.db('events').whereNotNull('agent_id').pluck('type');
    expect(events).toEqual(
      expect.arrayContaining([
        'admin.template.draft_saved',
        'admin.template.published',
        'admin.template.rolled_back',
        'admin.template.test_sent',
        'admin.second_factor_on',
      ]),
    );
    await page.goto(`${web}/admin/events`);
    await accessible('events');
  });

  it('(the pages checked with axe)', () => {
    expect(checked).toEqual(
      expect.arrayContaining(['sign-in', 'sign-in-code', 'home', 'templates', 'editor', 'versions', 'diff']),
    );
  });
});
