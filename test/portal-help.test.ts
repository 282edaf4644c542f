// Help docs: the API (agents read, admins write; filters by language, published and words) and the
// portal's help center (open without signing in, published articles only, the visitor's language
// with English when there is none in it, full-text search, markdown rendered with no script left,
// nothing at all while help_docs is off).
import { beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './helpers/db.ts';
import { startTestApi, type TestApi } from './helpers/api.ts';
import { PortalClient } from './helpers/portal.ts';
import { setPassword, updatePortalSettings } from '../src/portal/index.ts';
import { excerpt } from '../src/web/portal/help.ts';

let t: TestDatabase;
let api: TestApi;
let web: string;
const ids: Record<string, number> = {};

const listed = (html: string) => [...html.matchAll(/data-article="(\d+)"/g)].map((m) => Number(m[1]));

beforeAll(async () => {
  t = await createTestDatabase();
  api = await startTestApi(t.url);
  web = api.base.replace(/\/api\/v1$/, '');
  await updatePortalSettings(api.db, { enabled: true });
});

describe('help articles API', () => {
  it('lets admins write and agents read, with the HTML the portal shows', async () => {
    const body = {
      title: 'Resetting the router',
      body: '# Steps\n\nHold **reset** for ten seconds.\n\n<script>alert(1)</script><img src=x onerror=alert(2)>\n\n[docs](javascript:alert(3))',
      published: true,
    };
    expect((await api.call('POST', '/help-articles', body, api.agentToken)).status).toBe(403);
    const created = await api.call('POST', '/help-articles', body);
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ title: 'Resetting the router', locale: 'en', published: true });
    expect(created.body.html).toContain('<strong>reset</strong>');
    expect(created.body.html).not.toMatch(/<script|onerror|javascript:/i);
    ids.router = created.body.id;

    const read = await api.call('GET', `/help-articles/${ids.router}`, undefined, api.agentToken);
    expect(read.status).toBe(200);
    expect(read.body.body).toBe(body.body);

    const agentPatch = await api.call('PATCH', `/help-articles/${ids.router}`, { title: 'x' }, api.agentToken);
    expect(agentPatch.status).toBe(403);
    const patched = await api.call('PATCH', `/help-articles/${ids.router}`, { title: 'Resetting your router' });
    expect(patched).toMatchObject({ status: 200, body: { title: 'Resetting your router' } });
    expect(new Date(patched.body.updated_at).getTime()).toBeGreaterThanOrEqual(
      new Date(created.body.updated_at).getTime(),
    );

    expect((await api.call('DELETE', `/help-articles/${ids.router}`, undefined, api.agentToken)).status).toBe(403);
    expect((await api.call('GET', '/help-articles/999999')).status).toBe(404);
    expect((await api.call('PATCH', '/help-articles/999999', { title: 'x' })).status).toBe(404);
    expect((await api.call('DELETE', '/help-articles/999999')).status).toBe(404);
  });

  it('refuses what is not an article', async () => {
    for (const bad of [
      { title: '', body: 'x' },
      { title: 'x' },
      { title: 'x', body: 'y', locale: 'english' },
      { title: 'x', body: 'y', author: 'me' },
      { title: 'x'.repeat(301), body: 'y' },
    ]) {
      const r = await api.call('POST', '/help-articles', bad);
      expect(r.status, JSON.stringify(bad)).toBe(422);
      expect(r.body.error.code).toBe('invalid');
    }
    expect((await api.call('GET', '/help-articles?locale=klingon')).status).toBe(400);
  });

  it('lists by language, published or not, and by words, best match first', async () => {
    const add = async (key: string, a: Record<string, unknown>) => {
      const r = await api.call('POST', '/help-articles', a);
      expect(r.status).toBe(201);
      ids[key] = r.body.id;
    };
    await add('invoices', { title: 'Where to find invoices', body: 'Invoices are under Billing.', published: true });
    await add('draft', { title: 'Invoice draft', body: 'Not yet.', published: false });
    await add('rechnung', {
      title: 'Rechnungen finden',
      body: 'Die Rechnungen stehen unter Abrechnung.',
      locale: 'de',
      published: true,
    });
    await add('austria', {
      title: 'Rechnungen in Österreich',
      body: 'Mit Umsatzsteuer.',
      locale: 'de-AT',
      published: true,
    });

    const all = await api.call('GET', '/help-articles', undefined, api.agentToken);
    expect(all.status).toBe(200);
    expect(all.body.data[0]).not.toHaveProperty('body');
    expect(all.body.data.map((a: { id: number }) => a.id)).toEqual(
      expect.arrayContaining([ids.router, ids.invoices, ids.draft, ids.rechnung, ids.austria]),
    );
    const german = await api.call('GET', '/help-articles?locale=de');
    expect(german.body.data.map((a: { id: number }) => a.id).sort()).toEqual([ids.rechnung, ids.austria].sort());
    expect((await api.call('GET', '/help-articles?locale=de-at')).body.data.map((a: { id: number }) => a.id)).toEqual([
      ids.austria,
    ]);
    const drafts = await api.call('GET', '/help-articles?published=false');
    expect(drafts.body.data.map((a: { id: number }) => a.id)).toEqual([ids.draft]);
    // full text: "invoice" finds "Invoices" (stemmed), in titles and bodies; German stems too
    const found = await api.call('GET', '/help-articles?q=invoice&published=true');
    expect(found.body.data.map((a: { id: number }) => a.id)).toEqual([ids.invoices]);
    expect(found.body.data[0].rank).toBeGreaterThan(0);
    const rechnung = await api.call('GET', `/help-articles?q=${encodeURIComponent('rechnung')}&locale=de`);
    expect(rechnung.body.data.map((a: { id: number }) => a.id)).toContain(ids.rechnung);
    // what people type never fails
    expect((await api.call('GET', `/help-articles?q=${encodeURIComponent('"unclosed -( or &|!')}`)).status).toBe(200);
  });

  it('is in the OpenAPI document', async () => {
    const doc = (await api.call('GET', '/openapi.json', undefined, null)).body;
    expect(Object.keys(doc.paths['/help-articles'])).toEqual(['get', 'post']);
    expect(Object.keys(doc.paths['/help-articles/{id}'])).toEqual(['get', 'patch', 'delete']);
  });
});

describe('the portal help center', () => {
  it('lists the published articles without signing in, in the visitor’s language', async () => {
    const visitor = new PortalClient(web);
    const en = await visitor.get('/portal/help');
    expect(en.status).toBe(200);
    expect(listed(en.html).sort()).toEqual([ids.router, ids.invoices].sort());
    expect(en.html).toContain('href="/portal/help"'); // the header links the help center for everyone
    expect(en.html).not.toContain('data-fallback');
    const de = await visitor.get('/portal/help', { 'accept-language': 'de-DE,de;q=0.9' });
    expect(listed(de.html).sort()).toEqual([ids.rechnung, ids.austria].sort());
    expect(de.html).toContain('<html lang="de">');
    expect(de.html).toContain('Hilfeartikel durchsuchen');
  });

  it('searches with full-text search, and says when nothing matches', async () => {
    const visitor = new PortalClient(web);
    const r = await visitor.get('/portal/help?q=invoice');
    expect(listed(r.html)).toEqual([ids.invoices]);
    expect(r.html).toContain('value="invoice"');
    const none = await visitor.get('/portal/help?q=zebra');
    expect(listed(none.html)).toEqual([]);
    expect(none.html).toContain('No article matches “zebra”');
    const xss = await visitor.get(`/portal/help?q=${encodeURIComponent('"><script>alert(1)</script>')}`);
    expect(xss.status).toBe(200);
    expect(xss.html).not.toContain('<script>alert(1)');
  });

  it('shows an article rendered from markdown, with no script left', async () => {
    const visitor = new PortalClient(web);
    const r = await visitor.get(`/portal/help/${ids.router}`);
    expect(r.status).toBe(200);
    expect(r.html).toContain('<h1>Resetting your router</h1>');
    expect(r.html).toContain('<strong>reset</strong>');
    const body = r.html.slice(r.html.indexOf('data-article-body'));
    expect(body).not.toMatch(/<script|onerror|javascript:/i);
    expect(r.html).toContain('href="/portal/sign-in"'); // "still need help?" when not signed in
  });

  it('answers drafts, unknown ids and junk ids with 404', async () => {
    const visitor = new PortalClient(web);
    for (const path of [`/portal/help/${ids.draft}`, '/portal/help/999999', '/portal/help/1x', '/portal/help/0'])
      expect((await visitor.get(path)).status, path).toBe(404);
  });

  it('falls back to English for a language with no articles', async () => {
    const de = { 'accept-language': 'de' };
    // German has articles: a German search that finds none finds none
    const miss = await new PortalClient(web).get('/portal/help?q=router', de);
    expect(listed(miss.html)).toEqual([]);
    expect(miss.html).not.toContain('data-fallback');
    await t.db('help_articles').where('locale', 'like', 'de%').update({ published: false });
    const all = await new PortalClient(web).get('/portal/help', de);
    expect(listed(all.html).sort()).toEqual([ids.router, ids.invoices].sort());
    expect(all.html).toContain('data-fallback');
    expect(all.html).toMatch(/data-article="\d+" lang="en"/);
    const found = await new PortalClient(web).get('/portal/help?q=router', de);
    expect(listed(found.html)).toEqual([ids.router]);
    await t.db('help_articles').where('locale', 'like', 'de%').update({ published: true });
  });

  it('offers a new ticket to a signed-in customer', async () => {
    const c = await api.call('POST', '/customers', { name: 'Hana Help', email: 'hana@help.test' });
    await setPassword(t.db, c.body.id, 'correct horse battery staple');
    const client = new PortalClient(web);
    await client.signIn('hana@help.test', 'correct horse battery staple');
    const r = await client.get(`/portal/help/${ids.invoices}`);
    expect(r.html).toContain('href="/portal/tickets/new"');
  });

  it('is not there while help_docs is off', async () => {
    await api.call('PATCH', '/portal-settings', { help_docs: false });
    const visitor = new PortalClient(web);
    const list = await visitor.get('/portal/help');
    expect(list.status).toBe(404);
    expect((await visitor.get(`/portal/help/${ids.invoices}`)).status).toBe(404);
    expect((await visitor.get('/portal/sign-in')).html).not.toContain('href="/portal/help"');
    await api.call('PATCH', '/portal-settings', { help_docs: true });
    expect((await visitor.get('/portal/help')).status).toBe(200);
  });
});

describe('excerpt', () => {
  it.each([
    ['# Title\n\nSome **bold** and _em_ text.', 'Title Some bold and em text.'],
    ['See [the docs](https://example.com) and ![a cat](cat.png).', 'See the docs and a cat.'],
    ['> quoted\n- item one\n1. first', 'quoted item one first'],
    ['<b>html</b> stays text', 'html stays text'],
  ])('%s', (md, want) => expect(excerpt(md)).toBe(want));

  it('cuts long text at a word', () => {
    const e = excerpt('word '.repeat(100));
    expect(e.length).toBeLessThanOrEqual(181);
    expect(e.endsWith('word…')).toBe(true);
  });
});
