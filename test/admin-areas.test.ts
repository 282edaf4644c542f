// The admin pages that set up the portal and the inboxes, over HTTP as a browser without script
// would use them: every page renders, every form does what it says and writes its admin event,
// a form without its token is refused (403) with nothing changed, bad input comes back (422) with
// the message on the form, what was typed kept, and nothing changed. A deactivated portal user's
// session ends at once; what customers and admins typed (article titles, customer names, inbox
// names) is shown inert.
import { crc32, deflateSync } from 'node:zlib';
import { beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './helpers/db.ts';
import { startTestApi, type TestApi } from './helpers/api.ts';
import { PortalClient as WebClient } from './helpers/portal.ts';
import { createAgent } from '../src/agents/index.ts';
import { createInboxStore } from '../src/inboxes/index.ts';
import { getArticle, getPortalSettings, setPassword, updatePortalSettings } from '../src/portal/index.ts';

let t: TestDatabase;
let api: TestApi;
let web: string;
let admin: WebClient;
let inboxId: number;
const PASSWORD = 'admin password 123';
const XSS = '<img src=x onerror="alert(1)"><script>alert(2)</script>';

/** A real PNG of w x h pixels of one colour. */
function png(w: number, h: number): Buffer {
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
  ihdr.set([8, 2, 0, 0, 0], 8);
  const row = Buffer.concat([Buffer.from([0]), Buffer.from(Array.from({ length: w * 3 }, (_, i) => (i * 7) % 256))]);
  return Buffer.concat([
    Buffer.from('\x89PNG\r\n\x1a\n', 'latin1'),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(Buffer.concat(Array.from({ length: h }, () => row)), { level: 0 })),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

const articleCount = async () => Number((await t.db('help_articles').count({ n: '*' }))[0]!.n);

/** The admin events of a type, oldest first. */
async function events(type: string): Promise<Record<string, unknown>[]> {
  const rows = await t
    .db('events')
    .where({ type: `admin.${type}` })
    .orderBy('id')
    .select('data', 'agent_id');
  return rows.map((r) => ({ ...r.data, agent_id: Number(r.agent_id) }));
}

let adminId: number;

beforeAll(async () => {
  t = await createTestDatabase();
  api = await startTestApi(t.url);
  web = api.base.replace(/\/api\/v1$/, '');
  adminId = (await createAgent(t.db, { email: 'ada@areas.test', name: 'Ada', role: 'admin', password: PASSWORD })).id;
  admin = new WebClient(web);
  const r = await admin.submit('/admin/sign-in', '/admin/sign-in', { email: 'ada@areas.test', password: PASSWORD });
  expect(r).toMatchObject({ status: 303, location: '/admin' });
  inboxId = Number((await createInboxStore(t.db).add('support@areas.test', 'Areas Support')).id);
});

describe('who may open the pages', () => {
  it('sends the signed-out to sign in and refuses agents without the admin role', async () => {
    const paths = ['/admin/portal', '/admin/help', '/admin/portal-users', '/admin/inboxes', '/admin/portal/preview'];
    for (const path of paths)
      expect(await new WebClient(web).get(path), path).toMatchObject({ status: 303, location: '/admin/sign-in' });
    await createAgent(t.db, { email: 'alan@areas.test', role: 'agent', password: PASSWORD });
    const agent = new WebClient(web);
    await agent.submit('/admin/sign-in', '/admin/sign-in', { email: 'alan@areas.test', password: PASSWORD });
    for (const path of paths) expect((await agent.get(path)).status, path).toBe(403);
  });
});

describe('/admin/portal: settings and branding', () => {
  const form = (over: Record<string, string> = {}) => ({
    enabled: 'on',
    self_signup: 'on',
    help_docs: 'on',
    language: 'browser',
    [`inbox_${inboxId}`]: 'on',
    name: 'Areas Help',
    primary_color: '#1d4ed8',
    background_color: '#f3f4f6',
    text_color: '#1f2937',
    custom_css: '.brand { letter-spacing: .02em; }',
    header_html: '<p>We answer within a day.</p>',
    footer_html: '<p>Areas Ltd</p>',
    ...over,
  });

  it('renders the form, the preview frame and the logo upload', async () => {
    const r = await admin.get('/admin/portal');
    expect(r.status).toBe(200);
    expect(r.html).toContain('aria-label="Portal settings"');
    expect(r.html).toContain('Areas Support &lt;support@areas.test&gt;');
    expect(r.html).toContain('<iframe class="portal-preview" name="portal-preview"');
    expect(r.html).toContain('action="/admin/portal/logo" enctype="multipart/form-data"');
    expect(r.html).toContain('aria-current="page">Portal</a>');
  });

  it('saves every setting and records which changed', async () => {
    const r = await admin.submit('/admin/portal', '/admin/portal', form());
    expect(r).toMatchObject({ status: 303, location: '/admin/portal?done=saved' });
    const s = await getPortalSettings(t.db, { fresh: true });
    expect(s).toMatchObject({
      enabled: true,
      self_signup: true,
      auto_invite: false,
      help_docs: true,
      language: 'browser',
      inbox_ids: [inboxId],
      branding: { name: 'Areas Help', footer_html: '<p>Areas Ltd</p>' },
    });
    const [e] = await events('portal_settings_changed');
    expect(e).toMatchObject({ agent_id: adminId });
    expect(e!.changed).toEqual(
      expect.arrayContaining(['enabled', 'self_signup', 'inbox_ids', 'branding.name', 'branding.footer_html']),
    );
    const page = await admin.get('/admin/portal?done=saved');
    expect(page.html).toContain('role="status">Saved.');
    expect(page.html).toContain('value="Areas Help"');
  });

  it('refuses colours people could not read: the pairs on the form, the typed values kept, nothing saved', async () => {
    const before = await getPortalSettings(t.db, { fresh: true });
    const count = (await events('portal_settings_changed')).length;
    const r = await admin.submit(
      '/admin/portal',
      '/admin/portal',
      form({ primary_color: '#ffff00', text_color: '#eeeeee', name: 'Unreadable Co' }),
    );
    expect(r.status).toBe(422);
    expect(r.html).toContain('Some colours are too close to read. Nothing was saved.');
    expect(r.html).toMatch(
      /<ul class="problems" id="colour-problems"><li>text colour on background colour: contrast [\d.]+:1/,
    );
    expect(r.html).toContain('white button text on primary colour');
    expect(r.html).toContain('value="#ffff00"');
    expect(r.html).toContain('value="Unreadable Co"');
    expect(r.html).toContain('aria-invalid="true"');
    expect(await getPortalSettings(t.db, { fresh: true })).toEqual(before);
    expect(await events('portal_settings_changed')).toHaveLength(count);
  });

  it('refuses a malformed colour, an unknown language and CSS that loads from elsewhere, each at its field', async () => {
    const before = await getPortalSettings(t.db, { fresh: true });
    const bad = await admin.submit('/admin/portal', '/admin/portal', form({ background_color: 'blue' }));
    expect(bad.status).toBe(422);
    expect(bad.html).toContain('id="background_color-error">a colour as #rrggbb');
    expect(bad.html).toContain('value="blue"');
    const lang = await admin.submit('/admin/portal', '/admin/portal', form({ language: 'fr' }));
    expect(lang.status).toBe(422);
    expect(lang.html).toContain('id="language-error"');
    const css = await admin.submit(
      '/admin/portal',
      '/admin/portal',
      form({ custom_css: '@import url(https://evil.test/x.css);' }),
    );
    expect(css.status).toBe(422);
    expect(css.html).toContain('id="custom_css-error">the portal loads nothing from elsewhere');
    expect(css.html).toContain('@import url(https://evil.test/x.css);</textarea>');
    expect(await getPortalSettings(t.db, { fresh: true })).toEqual(before);
  });

  it('refuses the form without its token', async () => {
    const before = await getPortalSettings(t.db, { fresh: true });
    expect((await admin.post('/admin/portal', form({ name: 'Forged' }))).status).toBe(403);
    expect((await admin.post('/admin/portal', { ...form({ name: 'Forged' }), csrf: 'x'.repeat(43) })).status).toBe(403);
    expect((await admin.post('/admin/portal/preview', form())).status).toBe(403);
    expect(await getPortalSettings(t.db, { fresh: true })).toEqual(before);
  });

  it('previews the portal layout with the branding as typed, sanitized as the portal does, saving nothing', async () => {
    const before = await getPortalSettings(t.db, { fresh: true });
    const saved = await admin.get('/admin/portal/preview');
    expect(saved.status).toBe(200);
    expect(saved.html).toContain('<title>Preview · Areas Help</title>');
    const csrf = await admin.csrf('/admin/portal', '/admin/portal');
    const r = await fetch(`${web}/admin/portal/preview`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        cookie: `inbound_admin=${admin.cookie('inbound_admin')}`,
      },
      body: new URLSearchParams({
        csrf,
        ...form({
          name: 'Preview <b>Co</b>',
          primary_color: '#7c2d12',
          header_html: `<p>Hello</p>${XSS}<a href="javascript:alert(3)">x</a>`,
          custom_css: '</style><script>alert(4)</script>',
          background_color: 'nope',
        }),
      }).toString(),
    });
    expect(r.status).toBe(200);
    // framed by the admin area only, no script
    expect(r.headers.get('content-security-policy')).toContain("frame-ancestors 'self'");
    expect(r.headers.get('content-security-policy')).not.toContain('script-src');
    expect(r.headers.get('x-frame-options')).toBe('SAMEORIGIN');
    const html = await r.text();
    expect(html).toContain('Preview &lt;b&gt;Co&lt;/b&gt;');
    expect(html).toContain('--primary: #7c2d12');
    expect(html).toContain('<p>Hello</p>');
    expect(html).not.toMatch(/<script>alert|onerror|javascript:|<\/style><script/);
    // the colour that would not validate is left as saved, and said
    expect(html).toContain(`--bg: ${before.branding.background_color}`);
    expect(html).toContain('Background colour: a colour as #rrggbb');
    expect(await getPortalSettings(t.db, { fresh: true })).toEqual(before);
  });

  it('uploads the logo (type by its bytes, size checked), shows it, removes it; each with its event', async () => {
    const upload = async (bytes: Buffer, type: string, token?: string) => {
      const f = new FormData();
      f.append('csrf', token ?? (await admin.csrf('/admin/portal', '/admin/portal/logo')));
      f.append('file', new Blob([new Uint8Array(bytes)], { type }), 'logo.png');
      return admin.postMultipart('/admin/portal/logo', f);
    };
    expect((await upload(png(8, 8), 'image/png', 'x'.repeat(43))).status).toBe(403);
    // sent with no file chosen (a browser sends an empty part with no name), or with no file part:
    // said on the form, not taken for an expired form
    for (const withPart of [true, false]) {
      const f = new FormData();
      f.append('csrf', await admin.csrf('/admin/portal', '/admin/portal/logo'));
      if (withPart) f.append('file', new Blob([], { type: 'application/octet-stream' }), '');
      const none = await admin.postMultipart('/admin/portal/logo', f);
      expect(none.status, `with an empty part: ${withPart}`).toBe(400);
      expect(none.html).toContain('Choose an image file to upload.');
    }
    const svg = await upload(Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>'), 'image/png');
    expect(svg.status).toBe(422);
    expect(svg.html).toContain('id="logo-error">The logo must be a PNG, JPEG, GIF or WebP image');
    const big = png(300, 300);
    expect(big.length).toBeGreaterThan(256 * 1024);
    const large = await upload(big, 'image/png');
    expect(large.status).toBe(413);
    expect(large.html).toContain('The logo is over 256 KB');
    expect((await getPortalSettings(t.db, { fresh: true })).logo).toBeNull();
    expect(await events('portal_logo_set')).toHaveLength(0);

    const ok = await upload(png(16, 16), 'application/octet-stream');
    expect(ok).toMatchObject({ status: 303, location: '/admin/portal?done=logo' });
    const logo = (await getPortalSettings(t.db, { fresh: true })).logo!;
    expect(logo.type).toBe('image/png');
    expect(await events('portal_logo_set')).toEqual([{ agent_id: adminId, type: 'image/png', bytes: logo.bytes }]);
    const page = await admin.get('/admin/portal');
    expect(page.html).toContain(`<img src="/admin/portal/logo?v=${logo.version}" alt="The current logo"`);
    const img = await fetch(`${web}/admin/portal/logo?v=${logo.version}`, {
      headers: { cookie: `inbound_admin=${admin.cookie('inbound_admin')}` },
    });
    expect(img.headers.get('content-type')).toBe('image/png');
    expect(img.headers.get('x-content-type-options')).toBe('nosniff');
    expect((await new WebClient(web).get('/admin/portal/logo')).status).toBe(303);
    // the preview shows it too
    expect((await admin.get('/admin/portal/preview')).html).toContain(`/admin/portal/logo?v=${logo.version}`);

    expect((await admin.post('/admin/portal/logo/remove', {})).status).toBe(403);
    const removed = await admin.submit('/admin/portal', '/admin/portal/logo/remove');
    expect(removed).toMatchObject({ status: 303, location: '/admin/portal?done=logo-removed' });
    expect((await getPortalSettings(t.db, { fresh: true })).logo).toBeNull();
    expect(await events('portal_logo_removed')).toHaveLength(1);
  });
});

describe('/admin/help: help articles', () => {
  let id: number;

  it('renders the list and the new-article form', async () => {
    const list = await admin.get('/admin/help');
    expect(list.status).toBe(200);
    expect(list.html).toContain('No articles yet.');
    const page = await admin.get('/admin/help/new');
    expect(page.status).toBe(200);
    expect(page.html).toContain('aria-label="Write an article"');
  });

  it('previews markdown as the portal renders it, creating nothing', async () => {
    const r = await admin.submit('/admin/help/new', '/admin/help', {
      title: 'Printer',
      locale: 'en',
      body: `## Steps\n\n1. Switch it **off**.\n\n${XSS}\n\n[x](javascript:alert(5))`,
      intent: 'preview',
    });
    expect(r.status).toBe(200);
    const preview = r.html.slice(r.html.indexOf('data-preview'));
    expect(preview).toContain('<h2>Steps</h2>');
    expect(preview).toContain('<strong>off</strong>');
    expect(preview).not.toMatch(/<script>alert|onerror|javascript:/);
    // the typed text stays in the form
    expect(r.html).toContain('## Steps');
    expect(await articleCount()).toBe(0);
  });

  it('refuses a missing title or a bad language with the message on the form, creating nothing', async () => {
    const r = await admin.submit('/admin/help/new', '/admin/help', { title: '  ', locale: 'en', body: 'Kept text' });
    expect(r.status).toBe(422);
    expect(r.html).toContain('id="title-error">1 to 300 characters.');
    expect(r.html).toContain('Kept text</textarea>');
    const l = await admin.submit('/admin/help/new', '/admin/help', { title: 'T', locale: 'english', body: 'b' });
    expect(l.status).toBe(422);
    expect(l.html).toContain('id="locale-error">A language tag such as en or de-at.');
    expect(l.html).toContain('value="english"');
    expect(await articleCount()).toBe(0);
    expect((await admin.post('/admin/help', { title: 'Forged', locale: 'en', body: 'x' })).status).toBe(403);
    expect(await events('help_article_created')).toHaveLength(0);
  });

  it('creates, edits, publishes and unpublishes, each with its event', async () => {
    const r = await admin.submit('/admin/help/new', '/admin/help', {
      title: `Printer ${XSS}`,
      locale: 'EN',
      body: 'Switch it **off**.',
      intent: 'save',
    });
    expect(r.status).toBe(303);
    id = Number(/^\/admin\/help\/(\d+)\?done=created$/.exec(r.location!)![1]);
    expect(await getArticle(t.db, id)).toMatchObject({ locale: 'en', published: false });
    expect(await events('help_article_created')).toEqual([
      { agent_id: adminId, article_id: id, title: `Printer ${XSS}`, locale: 'en', published: false },
    ]);

    const edit = await admin.get(`/admin/help/${id}?done=created`);
    expect(edit.status).toBe(200);
    expect(edit.html).toContain('role="status">The article is saved.');
    expect(edit.html).toContain('<strong>off</strong>');

    const saved = await admin.submit(`/admin/help/${id}`, `/admin/help/${id}`, {
      title: `Printer ${XSS}`,
      locale: 'de',
      body: 'Schalten Sie ihn **aus**.',
      intent: 'save',
    });
    expect(saved).toMatchObject({ status: 303, location: `/admin/help/${id}?done=saved` });
    expect(await getArticle(t.db, id)).toMatchObject({ locale: 'de', body: 'Schalten Sie ihn **aus**.' });
    expect(await events('help_article_changed')).toHaveLength(1);

    const bad = await admin.submit(`/admin/help/${id}`, `/admin/help/${id}`, { title: '', locale: 'de', body: 'Neu' });
    expect(bad.status).toBe(422);
    expect(bad.html).toContain('Neu</textarea>');
    expect((await getArticle(t.db, id)).body).toBe('Schalten Sie ihn **aus**.');

    const pub = await admin.submit(`/admin/help/${id}`, `/admin/help/${id}/publish`, { published: 'true' });
    expect(pub).toMatchObject({ status: 303, location: `/admin/help/${id}?done=published` });
    expect((await getArticle(t.db, id)).published).toBe(true);
    expect(await events('help_article_published')).toHaveLength(1);
    const unpub = await admin.submit('/admin/help', `/admin/help/${id}/publish`, { published: 'false', back: 'list' });
    expect(unpub).toMatchObject({ status: 303, location: '/admin/help?done=unpublished' });
    expect((await getArticle(t.db, id)).published).toBe(false);
    expect(await events('help_article_unpublished')).toHaveLength(1);
    expect((await admin.post(`/admin/help/${id}/publish`, { published: 'true' })).status).toBe(403);
    expect((await getArticle(t.db, id)).published).toBe(false);
  });

  it('lists by language and state, the titles inert', async () => {
    await admin.submit('/admin/help/new', '/admin/help', {
      title: 'Drucker',
      locale: 'en',
      body: 'x',
      published: 'on',
      intent: 'save',
    });
    const all = await admin.get('/admin/help');
    expect(all.html).toContain('Printer &lt;img src=x onerror=&quot;alert(1)&quot;&gt;&lt;script&gt;');
    expect(all.html).not.toMatch(/<img src=x|<script>alert/);
    const de = await admin.get('/admin/help?locale=de');
    expect(de.html).toContain(`/admin/help/${id}"`);
    expect(de.html).not.toContain('Drucker');
    const published = await admin.get('/admin/help?state=published');
    expect(published.html).toContain('Drucker');
    expect(published.html).not.toContain(`/admin/help/${id}"`);
    const edit = await admin.get(`/admin/help/${id}`);
    expect(edit.html).not.toMatch(/<img src=x|<script>alert/);
    // the record of it is inert too
    expect((await admin.get('/admin/events')).html).not.toMatch(/<img src=x|<script>alert/);
  });

  it('deletes after a confirmation page', async () => {
    const confirm = await admin.get(`/admin/help/${id}/delete`);
    expect(confirm.status).toBe(200);
    expect(confirm.html).toContain('Delete this article?');
    expect(confirm.html).not.toMatch(/<img src=x|<script>alert/);
    expect((await admin.post(`/admin/help/${id}/delete`, {})).status).toBe(403);
    await getArticle(t.db, id);
    const r = await admin.submit(`/admin/help/${id}/delete`, `/admin/help/${id}/delete`);
    expect(r).toMatchObject({ status: 303, location: '/admin/help?done=deleted' });
    await expect(getArticle(t.db, id)).rejects.toThrow('no help article');
    expect(await events('help_article_deleted')).toEqual([
      { agent_id: adminId, article_id: id, title: `Printer ${XSS}`, locale: 'de' },
    ]);
    expect((await admin.get(`/admin/help/${id}`)).status).toBe(404);
    expect((await admin.get('/admin/help/abc')).status).toBe(404);
  });
});

describe('/admin/portal-users: portal users', () => {
  let rita: number;

  beforeAll(async () => {
    await updatePortalSettings(t.db, { enabled: true });
    rita = (await api.call('POST', '/customers', { name: 'Rita Requester', email: 'rita@acme.test' })).body.id;
    await setPassword(t.db, rita, 'correct horse battery staple');
    const mallory = await api.call('POST', '/customers', { name: XSS, email: 'mallory@evil.test' });
    await api.call('POST', '/portal-users', { customer_id: mallory.body.id, invite: false });
  });

  it('lists accounts with status and last sign-in, searches, and pages', async () => {
    for (let i = 0; i < 50; i++)
      expect((await api.call('POST', '/portal-users', { email: `many${i}@bulk.test`, invite: false })).status).toBe(
        201,
      );
    const first = await admin.get('/admin/portal-users');
    expect(first.status).toBe(200);
    expect(first.html).toContain('Rita Requester');
    expect(first.html).toContain('<span class="badge active">Active</span>');
    expect(first.html).toContain('Last sign-in: </span>never');
    const next = /<a href="(\/admin\/portal-users\?after=\d+)">Next page<\/a>/.exec(first.html)![1]!;
    const second = await admin.get(next);
    expect(second.html).toContain('many49@bulk.test');
    expect(second.html).not.toContain('Rita Requester');
    expect(second.html).toContain('>First page</a>');
    expect(second.html).not.toContain('>Next page</a>');
    const found = await admin.get('/admin/portal-users?q=RITA');
    expect(found.html).toContain('rita@acme.test');
    expect(found.html).not.toContain('many1@bulk.test');
    const invited = await admin.get('/admin/portal-users?status=invited&q=bulk');
    expect(invited.html).toContain('many1@bulk.test');
    expect(invited.html).not.toContain('rita@acme.test');
  });

  it('shows customer names inert', async () => {
    const r = await admin.get('/admin/portal-users?q=mallory');
    expect(r.html).toContain('&lt;img src=x onerror=&quot;alert(1)&quot;&gt;&lt;script&gt;alert(2)&lt;/script&gt;');
    expect(r.html).not.toMatch(/<img src=x|<script>alert/);
  });

  it('adds a portal user by address with the invitation, and refuses what it cannot do on the form', async () => {
    const r = await admin.submit('/admin/portal-users', '/admin/portal-users', {
      email: 'newbie@acme.test',
      name: 'New Bie',
      invite: 'on',
    });
    expect(r.status).toBe(303);
    const id = Number(/who=(\d+)/.exec(r.location!)![1]);
    expect((await api.call('GET', `/portal-users/${id}`)).body).toMatchObject({
      name: 'New Bie',
      portal_status: 'invited',
    });
    expect(await t.db('outbound_messages').where({ customer_id: id, kind: 'portal_invite' })).toHaveLength(1);
    expect(await events('portal_user_added')).toEqual([
      { agent_id: adminId, customer_id: id, email: 'newbie@acme.test', invitation_mailed: true },
    ]);
    expect((await admin.get(r.location!)).html).toContain('New Bie &lt;newbie@acme.test&gt; is invited');

    const bad = await admin.submit('/admin/portal-users', '/admin/portal-users', {
      email: 'not an address',
      invite: 'on',
    });
    expect(bad.status).toBe(422);
    expect(bad.html).toContain('id="add-error">');
    expect(bad.html).toContain('value="not an address"');
    const again = await admin.submit('/admin/portal-users', '/admin/portal-users', { email: 'rita@acme.test' });
    expect(again.status).toBe(409);
    expect(again.html).toContain('has a portal account already (active)');
    expect((await admin.post('/admin/portal-users', { email: 'forged@acme.test' })).status).toBe(403);
    expect(await events('portal_user_added')).toHaveLength(1);
    expect(await t.db('customer_emails').where({ address: 'forged@acme.test' })).toHaveLength(0);
  });

  it('deactivates a user: their portal session ends at once; activates them again', async () => {
    const customer = new WebClient(web);
    await customer.signIn('rita@acme.test', 'correct horse battery staple');
    expect((await customer.get('/portal/tickets')).status).toBe(200);

    expect((await admin.post(`/admin/portal-users/${rita}/deactivate`, {})).status).toBe(403);
    expect((await customer.get('/portal/tickets')).status).toBe(200);

    const r = await admin.submit('/admin/portal-users?q=rita', `/admin/portal-users/${rita}/deactivate`, { q: 'rita' });
    expect(r).toMatchObject({ status: 303, location: `/admin/portal-users?q=rita&done=deactivate&who=${rita}` });
    const gone = await customer.get('/portal/tickets');
    expect(gone.status).toBe(303);
    expect(gone.location).toContain('/portal/sign-in');
    expect(await t.db('portal_sessions').where({ customer_id: rita }).whereNull('ended_at')).toHaveLength(0);
    expect(await events('portal_user_deactivated')).toEqual([
      { agent_id: adminId, customer_id: rita, email: 'rita@acme.test' },
    ]);
    const page = await admin.get(r.location!);
    expect(page.html).toContain('is deactivated and signed out everywhere');
    expect(page.html).toContain('<span class="badge disabled">Deactivated</span>');

    const a = await admin.submit('/admin/portal-users?q=rita', `/admin/portal-users/${rita}/activate`);
    expect(a.status).toBe(303);
    expect((await api.call('GET', `/portal-users/${rita}`)).body.portal_status).toBe('active');
    expect(await events('portal_user_activated')).toHaveLength(1);
    // an action that does not fit the account is said on the page
    const no = await admin.post(`/admin/portal-users/${rita}/reinvite`, {
      csrf: await admin.csrf('/admin/portal-users?q=rita', `/admin/portal-users/${rita}/deactivate`),
    });
    expect(no.status).toBe(409);
    expect(no.html).toContain('is active already');
  });

  it('invites a customer without an account, and invites again', async () => {
    const carl = (await api.call('POST', '/customers', { name: 'Carl', email: 'carl@acme.test' })).body.id;
    const list = await admin.get('/admin/portal-users?status=none&q=carl');
    expect(list.html).toContain(`action="/admin/portal-users/${carl}/invite"`);
    expect((await admin.submit('/admin/portal-users?status=none', `/admin/portal-users/${carl}/invite`)).status).toBe(
      303,
    );
    expect(await events('portal_user_invited')).toEqual([
      { agent_id: adminId, customer_id: carl, email: 'carl@acme.test' },
    ]);
    const again = await admin.submit('/admin/portal-users?q=carl', `/admin/portal-users/${carl}/reinvite`);
    expect(again.status).toBe(303);
    expect(await events('portal_user_reinvited')).toHaveLength(1);
    expect(await t.db('outbound_messages').where({ customer_id: carl, kind: 'portal_invite' })).toHaveLength(2);
  });

  it('exports the accounts as CSV, with status and last sign-in', async () => {
    const r = await fetch(`${web}/admin/portal-users/export`, {
      headers: { cookie: `inbound_admin=${admin.cookie('inbound_admin')}` },
    });
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toBe('text/csv; charset=utf-8');
    expect(r.headers.get('content-disposition')).toBe('attachment; filename="portal-users.csv"');
    const csv = await r.text();
    const [header, ...rows] = csv.trim().split('\n');
    expect(header).toContain('"portal_status","last_sign_in_at"');
    expect(rows.find((l) => l.includes('rita@acme.test'))).toMatch(/"active","\d{4}-\d\d-\d\dT/);
    expect(await events('portal_users_exported')).toHaveLength(1);
  });
});

describe('/admin/inboxes: inboxes and their settings', () => {
  let id: number;

  it('lists and adds an inbox, with its event', async () => {
    const list = await admin.get('/admin/inboxes');
    expect(list.status).toBe(200);
    expect(list.html).toContain('support@areas.test');
    const r = await admin.submit('/admin/inboxes', '/admin/inboxes', { address: 'Billing@Areas.test', name: XSS });
    expect(r.status).toBe(303);
    id = Number(/^\/admin\/inboxes\/(\d+)\?done=added$/.exec(r.location!)![1]);
    expect(await createInboxStore(t.db).get(id)).toMatchObject({ address: 'billing@areas.test', name: XSS });
    expect(await events('inbox_added')).toEqual([{ agent_id: adminId, inbox_id: id, address: 'billing@areas.test' }]);
  });

  it('refuses a bad or taken address on the form, adding nothing', async () => {
    const bad = await admin.submit('/admin/inboxes', '/admin/inboxes', { address: 'help+x@areas.test', name: 'Kept' });
    expect(bad.status).toBe(422);
    expect(bad.html).toContain('An inbox address cannot contain &#39;+&#39;');
    expect(bad.html).toContain('value="help+x@areas.test"');
    expect(bad.html).toContain('value="Kept"');
    const taken = await admin.submit('/admin/inboxes', '/admin/inboxes', { address: 'support@areas.test' });
    expect(taken.status).toBe(409);
    expect(taken.html).toContain('exists already');
    expect((await admin.post('/admin/inboxes', { address: 'forged@areas.test' })).status).toBe(403);
    expect(await createInboxStore(t.db).list()).toHaveLength(2);
    expect(await events('inbox_added')).toHaveLength(1);
  });

  it('changes the settings the mail reads, with the event naming what changed', async () => {
    const page = await admin.get(`/admin/inboxes/${id}`);
    expect(page.status).toBe(200);
    expect(page.html).toContain('name="ack" checked');
    const r = await admin.submit(`/admin/inboxes/${id}`, `/admin/inboxes/${id}`, {
      name: 'Billing',
      from_name: 'Areas Billing',
      locale: 'DE',
      portal_welcome: 'on',
      enabled: 'on',
    });
    expect(r).toMatchObject({ status: 303, location: `/admin/inboxes/${id}?done=saved` });
    expect(await createInboxStore(t.db).get(id)).toMatchObject({
      name: 'Billing',
      from_name: 'Areas Billing',
      enabled: true,
      settings: { ack: false, portal_welcome: true, locale: 'de' },
    });
    // as inbound/write.ts and outbound/send.ts read them
    const [row] = await t
      .db('inboxes')
      .where({ id })
      .select(
        t.db.raw(`settings->>'ack' AS ack, settings->>'portal_welcome' AS welcome, settings->>'locale' AS locale`),
      );
    expect(row).toEqual({ ack: 'false', welcome: 'true', locale: 'de' });
    expect(await events('inbox_changed')).toEqual([
      {
        agent_id: adminId,
        inbox_id: id,
        address: 'billing@areas.test',
        changed: ['name', 'from_name', 'ack', 'portal_welcome', 'locale'],
      },
    ]);
    // the language removed again; the sender name emptied; mail refused
    await admin.submit(`/admin/inboxes/${id}`, `/admin/inboxes/${id}`, {
      name: 'Billing',
      from_name: '',
      locale: '',
      ack: 'on',
    });
    expect(await createInboxStore(t.db).get(id)).toMatchObject({
      from_name: null,
      enabled: false,
      settings: { ack: true, portal_welcome: false, locale: null },
    });
    expect((await t.db('inboxes').where({ id }).first('settings')).settings).not.toHaveProperty('locale');
  });

  it('refuses a bad language or a sender name of two lines, changing nothing', async () => {
    const before = await createInboxStore(t.db).get(id);
    const bad = await admin.submit(`/admin/inboxes/${id}`, `/admin/inboxes/${id}`, {
      name: 'Billing',
      locale: 'german',
      enabled: 'on',
    });
    expect(bad.status).toBe(422);
    expect(bad.html).toContain('id="locale-error">A language tag such as en or de-at.');
    expect(bad.html).toContain('value="german"');
    const header = await admin.submit(`/admin/inboxes/${id}`, `/admin/inboxes/${id}`, {
      name: 'Billing',
      from_name: 'Billing\r\nBcc: all@evil.test',
      enabled: 'on',
    });
    expect(header.status).toBe(422);
    expect(header.html).toContain('id="from_name-error">One line of at most 200 characters.');
    const empty = await admin.submit(`/admin/inboxes/${id}`, `/admin/inboxes/${id}`, { name: ' ' });
    expect(empty.status).toBe(422);
    expect(empty.html).toContain('id="name-error"');
    expect((await admin.post(`/admin/inboxes/${id}`, { name: 'Forged', enabled: 'on' })).status).toBe(403);
    expect(await createInboxStore(t.db).get(id)).toEqual(before);
    expect((await admin.get('/admin/inboxes/999999')).status).toBe(404);
  });

  it('shows inbox names inert on every admin page that names them', async () => {
    await createInboxStore(t.db).update(id, { name: XSS, from_name: XSS });
    for (const path of ['/admin/inboxes', `/admin/inboxes/${id}`, '/admin/portal']) {
      const r = await admin.get(path);
      expect(r.status, path).toBe(200);
      expect(r.html, path).toContain('&lt;img src=x onerror=&quot;alert(1)&quot;&gt;');
      expect(r.html, path).not.toMatch(/<img src=x|<script>alert/);
    }
  });
});
