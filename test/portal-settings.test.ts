// Portal settings through the API (admins only): a patch validated whole, colour pairs people could
// not read refused with the pair named, custom CSS that would load from elsewhere refused; the
// logo (size, type by its bytes, never SVG) stored, served with its type, nosniff and cache
// headers, shown in the header, removed. In a real browser: stored XSS through every branding field
// stays inert, and custom CSS that reaches other hosts anyway (written to the database directly) is
// stopped by the page's CSP.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { crc32, deflateSync } from 'node:zlib';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { createTestDatabase, type TestDatabase } from './helpers/db.ts';
import { startTestApi, type TestApi } from './helpers/api.ts';
import { startBrowser } from './helpers/browser.ts';
import { PortalClient } from './helpers/portal.ts';
import { createInboxStore } from '../src/inboxes/index.ts';
import { cssRemoteLoads, getPortalSettings, setPassword, sniffImageType } from '../src/portal/index.ts';

let t: TestDatabase;
let api: TestApi;
let web: string;
let inboxId: number;

/** A real PNG of w x h pixels of one colour. */
function png(w: number, h: number, rgb: [number, number, number] = [29, 78, 216]): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(body));
    return Buffer.concat([len, body, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr.set([8, 2, 0, 0, 0], 8); // 8-bit RGB
  const row = Buffer.concat([Buffer.from([0]), Buffer.from(Array.from({ length: w }, () => rgb).flat())]);
  return Buffer.concat([
    Buffer.from('\x89PNG\r\n\x1a\n', 'latin1'),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(Buffer.concat(Array.from({ length: h }, () => row)))),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

const JPEG = Buffer.from('ffd8ffe000104a46494600010100000100010000ffd9', 'hex');
const GIF = Buffer.from('GIF89a\x01\x00\x01\x00\x00\x00\x00;', 'latin1');
const WEBP = Buffer.concat([Buffer.from('RIFF\x1a\x00\x00\x00WEBPVP8L', 'latin1'), Buffer.alloc(14)]);
const SVG = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>');

async function put(body: Uint8Array | FormData | string, contentType?: string, token: string | null = api.adminToken) {
  const r = await fetch(`${api.base}/portal-settings/logo`, {
    method: 'PUT',
    headers: {
      ...(token && { authorization: `Bearer ${token}` }),
      ...(contentType && { 'content-type': contentType }),
    },
    body,
  });
  const text = await r.text();
  return { status: r.status, body: text ? JSON.parse(text) : undefined };
}

function form(bytes: Buffer, name: string, type: string): FormData {
  const f = new FormData();
  f.append('file', new Blob([new Uint8Array(bytes)], { type }), name);
  return f;
}

beforeAll(async () => {
  t = await createTestDatabase();
  api = await startTestApi(t.url);
  web = api.base.replace(/\/api\/v1$/, '');
  inboxId = Number((await createInboxStore(t.db).add('support@localhost', 'Support')).id);
});

describe('portal settings API', () => {
  it('is for admins only', async () => {
    expect((await api.call('GET', '/portal-settings', undefined, api.agentToken)).status).toBe(403);
    expect((await api.call('PATCH', '/portal-settings', { enabled: true }, api.agentToken)).status).toBe(403);
    expect((await api.call('GET', '/portal-settings', undefined, null)).status).toBe(401);
    const r = await api.call('GET', '/portal-settings');
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ enabled: false, help_docs: true, language: 'browser', logo: null });
    expect(r.body.branding).toMatchObject({ name: 'Support', primary_color: '#1d4ed8' });
  });

  it('changes what the patch names and keeps the rest', async () => {
    const r = await api.call('PATCH', '/portal-settings', {
      enabled: true,
      inbox_ids: [inboxId],
      branding: { name: 'Example Help', primary_color: '#0F766E' },
    });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ enabled: true, inbox_ids: [inboxId], help_docs: true });
    expect(r.body.branding).toMatchObject({ name: 'Example Help', primary_color: '#0f766e', text_color: '#1f2937' });
    const again = await api.call('PATCH', '/portal-settings', { branding: { footer_html: '<p>Footer</p>' } });
    expect(again.body.branding).toMatchObject({ name: 'Example Help', primary_color: '#0f766e' });
    expect((await api.call('GET', '/portal-settings')).body).toEqual(again.body);
  });

  it('refuses colour pairs under WCAG AA, naming the pair', async () => {
    const cases: [Record<string, string>, string][] = [
      [{ text_color: '#9ca3af' }, 'text_color on background_color'],
      [{ primary_color: '#fde047' }, 'white button text on primary_color'],
      [{ background_color: '#111827', text_color: '#f9fafb' }, 'text_color on white panels'],
      [{ background_color: '#d1d5db', primary_color: '#2563eb' }, 'primary_color links on background_color'],
    ];
    for (const [branding, pair] of cases) {
      const r = await api.call('PATCH', '/portal-settings', { branding });
      expect(r.status, pair).toBe(422);
      expect(r.body.error.message).toContain(pair);
      expect(r.body.error.problems.join(' ')).toMatch(/contrast \d+\.\d\d:1, at least 4\.5:1/);
    }
    expect((await api.call('GET', '/portal-settings')).body.branding.primary_color).toBe('#0f766e');
  });

  it('refuses what is not a setting', async () => {
    for (const bad of [
      { branding: { primary_color: 'red' } },
      { branding: { primary_color: '#12345' } },
      { language: 'fr' },
      { enabled: 'yes' },
      { colour: '#000000' },
      { branding: { logo: 'x' } },
      { inbox_ids: [inboxId + 1000] },
      { branding: { name: '' } },
    ]) {
      const r = await api.call('PATCH', '/portal-settings', bad);
      expect(r.status, JSON.stringify(bad)).toBe(422);
    }
  });

  it('refuses custom CSS that would load from elsewhere, and keeps what stays home', async () => {
    for (const css of [
      '@import url(https://evil.test/x.css);',
      "@import 'https://evil.test/x.css';",
      'body { background: url(https://evil.test/bg.png) }',
      'body { background: url( "//evil.test/bg.png" ) }',
      "@font-face { font-family: x; src: url('http://evil.test/f.woff') }",
    ]) {
      const r = await api.call('PATCH', '/portal-settings', { branding: { custom_css: css } });
      expect(r.status, css).toBe(422);
      expect(r.body.error.message).toContain('custom_css');
    }
    const ok = 'h1 { letter-spacing: .01em } .x { background: url(data:image/png;base64,AAAA) url(/portal/logo) }';
    expect((await api.call('PATCH', '/portal-settings', { branding: { custom_css: ok } })).status).toBe(200);
    expect(cssRemoteLoads(ok)).toEqual([]);
    await api.call('PATCH', '/portal-settings', { branding: { custom_css: '' } });
  });
});

describe('the logo', () => {
  it('reads the type from the bytes, never the declared one', () => {
    expect(sniffImageType(png(1, 1))).toBe('image/png');
    expect(sniffImageType(JPEG)).toBe('image/jpeg');
    expect(sniffImageType(GIF)).toBe('image/gif');
    expect(sniffImageType(WEBP)).toBe('image/webp');
    expect(sniffImageType(SVG)).toBeUndefined();
    expect(sniffImageType(Buffer.from('RIFF\0\0\0\0WAVE'))).toBeUndefined();
    expect(sniffImageType(Buffer.alloc(0))).toBeUndefined();
  });

  it('is uploaded as the raw body or multipart, by admins only', async () => {
    expect((await put(new Uint8Array(png(4, 4)), 'image/png', api.agentToken)).status).toBe(403);
    expect((await put(new Uint8Array(png(4, 4)), 'image/png', null)).status).toBe(401);
    const raw = await put(new Uint8Array(png(4, 4)), 'image/png');
    expect(raw).toMatchObject({ status: 200, body: { content_type: 'image/png' } });
    expect(raw.body.url).toMatch(/^\/portal\/logo\?v=[0-9a-f]{16}$/);
    // a JPEG sent as "image/png" in a form is a JPEG
    const multi = await put(form(JPEG, 'logo.png', 'image/png'));
    expect(multi).toMatchObject({ status: 200, body: { content_type: 'image/jpeg', bytes: JPEG.length } });
    for (const [bytes, type] of [
      [GIF, 'image/gif'],
      [WEBP, 'application/octet-stream'],
    ] as const)
      expect((await put(new Uint8Array(bytes), type)).body.content_type).toBe(sniffImageType(bytes));
  });

  it('refuses SVG, other files and anything over 256 KB', async () => {
    for (const r of [
      await put(new Uint8Array(SVG), 'image/svg+xml'),
      await put(form(SVG, 'logo.svg', 'image/svg+xml')),
      await put(form(Buffer.from('just text'), 'logo.png', 'image/png')),
      await put(new Uint8Array(Buffer.concat([Buffer.from('<?xml version="1.0"?>'), SVG])), 'image/png'),
    ]) {
      expect(r.status).toBe(422);
      expect(r.body.error.message).toContain('SVG is refused');
    }
    const big = Buffer.concat([png(1, 1), Buffer.alloc(256 * 1024)]);
    expect((await put(new Uint8Array(big), 'image/png')).status).toBe(413);
    const bigForm = await put(form(big, 'big.png', 'image/png'));
    expect(bigForm.status).toBe(413);
    expect(bigForm.body.error.code).toBe('too_large');
    expect((await put('{}', 'application/json')).status).toBe(400);
    // the logo before these is still there
    expect((await api.call('GET', '/portal-settings')).body.logo.content_type).toBe('image/webp');
  });

  it('is served with its type, nosniff and cache headers, and shown in the header', async () => {
    const logo = await put(new Uint8Array(png(64, 32)), 'image/png');
    await getPortalSettings(api.db, { fresh: true });
    const bare = await fetch(`${web}/portal/logo`);
    expect(bare.status).toBe(200);
    expect(bare.headers.get('content-type')).toBe('image/png');
    expect(bare.headers.get('x-content-type-options')).toBe('nosniff');
    expect(bare.headers.get('cache-control')).toBe('public, max-age=300');
    expect(Buffer.from(await bare.arrayBuffer()).equals(png(64, 32))).toBe(true);
    const versioned = await fetch(web + logo.body.url);
    expect(versioned.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    const etag = versioned.headers.get('etag')!;
    const again = await fetch(web + logo.body.url, { headers: { 'if-none-match': etag } });
    expect(again.status).toBe(304);
    const page = await new PortalClient(web).get('/portal/sign-in');
    expect(page.html).toContain(`<img src="${logo.body.url}" alt=""`);
    const doc = (await api.call('GET', '/openapi.json', undefined, null)).body;
    expect(Object.keys(doc.paths['/portal-settings/logo']).sort()).toEqual(['delete', 'put']);
  });

  it('is removed', async () => {
    expect((await api.call('DELETE', '/portal-settings/logo', undefined, api.agentToken)).status).toBe(403);
    expect((await api.call('DELETE', '/portal-settings/logo')).status).toBe(204);
    expect((await api.call('GET', '/portal-settings')).body.logo).toBeNull();
    await getPortalSettings(api.db, { fresh: true });
    expect((await fetch(`${web}/portal/logo`)).status).toBe(404);
    expect((await new PortalClient(web).get('/portal/sign-in')).html).not.toContain('/portal/logo');
  });
});

describe('branding in a browser', () => {
  const XSS = `"><img src=x onerror="window.__xss=1;alert(1)"><script>window.__xss=2;alert(2)</script>`;
  let browser: Browser;
  let other: Server;
  let otherHits: string[];
  let otherOrigin: string;

  beforeAll(async () => {
    browser = await startBrowser();
    otherHits = [];
    other = createServer((req, res) => {
      otherHits.push(req.url ?? '');
      res.writeHead(200, { 'content-type': req.url?.endsWith('.css') ? 'text/css' : 'image/png' });
      res.end(req.url?.endsWith('.css') ? 'body { display: none }' : png(1, 1));
    });
    await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve));
    // another origin: the same host on another port
    otherOrigin = `http://127.0.0.1:${(other.address() as AddressInfo).port}`;
    const c = await api.call('POST', '/customers', { name: 'Bea Brand', email: 'bea@brand.test' });
    await setPassword(t.db, c.body.id, 'correct horse battery staple');
    return () => new Promise<void>((resolve) => other.close(() => resolve()));
  });

  /** What of an attack made it into the page: injected elements, a set flag, dialogs. */
  async function injected(page: Page, url: string): Promise<Record<string, number>> {
    let dialogs = 0;
    page.on('dialog', (d) => {
      dialogs++;
      void d.dismiss();
    });
    await page.goto(url);
    await page.waitForTimeout(300);
    const found = await page.evaluate(`({
      scripts: document.scripts.length,
      handlers: document.querySelectorAll('[onerror], [onload], [onclick], [onmouseover]').length,
      frames: document.querySelectorAll('iframe, object, embed, meta[http-equiv], base, form[action^="http"]').length,
      styles: document.querySelectorAll('style').length,
      flag: window.__xss ?? 0,
    })`);
    return { ...(found as Record<string, number>), dialogs };
  }

  it('renders stored XSS in every branding field inert', async () => {
    const r = await api.call('PATCH', '/portal-settings', {
      branding: {
        name: `Brand ${XSS}`,
        header_html: `<p>Header</p>${XSS}<a href="javascript:window.__xss=3">x</a><iframe src="javascript:alert(4)"></iframe><meta http-equiv="refresh" content="0;url=https://evil.test"><form action="https://evil.test"><button>go</button></form><base href="https://evil.test/">`,
        footer_html: `<p>Footer</p>${XSS}<svg onload="window.__xss=5"></svg><object data="x"></object><style>@import url(https://evil.test/x.css)</style>`,
        custom_css: `h1 { color: inherit } </style>${XSS}<style> </st</styleyle><img src=x onerror="window.__xss=6"> </STYLE ><script>window.__xss=7</script>`,
      },
    });
    expect(r.status).toBe(200);
    await getPortalSettings(api.db, { fresh: true });
    const context = await browser.newContext();
    const page = await context.newPage();
    for (const path of ['/portal/sign-in', '/portal/help', '/portal/help/999999']) {
      const found = await injected(page, web + path);
      // the layout's one <style> (the sign-in page has no style of its own; help has one)
      expect(found, path).toMatchObject({ scripts: 0, handlers: 0, frames: 0, flag: 0, dialogs: 0 });
      expect(found.styles, path).toBeLessThanOrEqual(2);
      expect(await page.locator('a.brand').textContent(), path).toBe(`Brand ${XSS}`);
      expect(await page.title(), path).toContain(`Brand ${XSS}`);
      expect(await page.locator('header.site .custom').textContent(), path).toContain('Header');
      expect(await page.locator('footer.site').textContent(), path).toContain('Footer');
      // the page is still there after the custom CSS: nothing closed the style element
      expect(await page.locator('main h1').isVisible(), path).toBe(true);
    }
    await context.close();
    await api.call('PATCH', '/portal-settings', {
      branding: { name: 'Example Help', header_html: '', footer_html: '', custom_css: '' },
    });
  });

  it('lets the CSP stop custom CSS that reaches another host', async () => {
    // the API refuses such CSS; written to the database directly, the CSP is what stops it
    const current = await getPortalSettings(api.db, { fresh: true });
    const { logo: _, ...settings } = current;
    settings.branding.custom_css = [
      `@import url(${otherOrigin}/import.css);`,
      `@import "${otherOrigin}/import2.css";`,
      `body { background-image: url(${otherOrigin}/bg.png) }`,
      `@font-face { font-family: Remote; src: url(${otherOrigin}/font.woff2) }`,
      `h1 { font-family: Remote; cursor: url(${otherOrigin}/cursor.png), auto }`,
      `main::before { content: url(${otherOrigin}/before.png) }`,
    ].join('\n');
    await t.db('portal_settings').update({ settings });
    await getPortalSettings(api.db, { fresh: true });
    const context = await browser.newContext();
    const page = await context.newPage();
    const refused: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error' && /Content Security Policy/i.test(m.text())) refused.push(m.text());
    });
    await page.goto(`${web}/portal/sign-in`);
    await page.waitForTimeout(500);
    expect(otherHits).toEqual([]);
    expect(refused.length).toBeGreaterThanOrEqual(3);
    expect(refused.join('\n')).toContain(otherOrigin);
    // the page shows (the remote "display: none" never arrived)
    expect(await page.locator('#email').isVisible()).toBe(true);
    await context.close();
    await t
      .db('portal_settings')
      .update({ settings: { ...settings, branding: { ...settings.branding, custom_css: '' } } });
    await getPortalSettings(api.db, { fresh: true });
  });
});
