// The template editor's side of the templates domain: drafts (checked when saved, published only
// after a preview of exactly their content, never rendered for a mail), append-only history and
// its diffs, preview variables (samples with each branch, a real ticket with placeholder links),
// the field list, previews, and test mails sent by the real outbound worker to a live SMTP sink.
import { beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './helpers/db.ts';
import { eventually, startBossFor, startTestOutbound } from './helpers/app.ts';
import { refusal, startSink, type Sink } from './helpers/sink.ts';
import { makeTicket } from './helpers/tickets.ts';
import {
  checkTemplate,
  contentHash,
  createTemplateStore,
  defaultSource,
  previewTemplate,
  publishedTemplate,
  renderTemplate,
  sampleVariables,
  TEMPLATE_NAMES,
  templateFields,
  TemplateError,
  ticketVariables,
  type TemplateStore,
} from '../src/templates/index.ts';
import { enqueueOutbound, enqueueTemplateTest } from '../src/outbound/index.ts';
import { storeAttachments } from '../src/attachments/index.ts';
import { ForbiddenError, NotFoundError, ValidationError } from '../src/errors.ts';
import type { Boss } from '../src/queue/index.ts';

let t: TestDatabase;
let store: TemplateStore;

const ADMIN = 21;
const OTHER_ADMIN = 22;

beforeAll(async () => {
  t = await createTestDatabase();
  store = createTemplateStore(t.db);
  await t.db.raw(
    `INSERT INTO agents (id, name, email, role) OVERRIDING SYSTEM VALUE VALUES
       (${ADMIN}, 'Dora Drafts', 'dora@example.test', 'admin'),
       (${OTHER_ADMIN}, 'Paul Publish', 'paul@example.test', 'admin'),
       (23, 'Avery Agent', 'avery@example.test', 'agent'),
       (24, 'No Reply Admin', 'noreply@example.test', 'admin')`,
  );
});

const MJML = (body: string) =>
  `<mjml lang="en"><mj-body><mj-section><mj-column>\n${body}\n</mj-column></mj-section></mj-body></mjml>`;
const draftOf = (marker: string, over: Record<string, unknown> = {}) => ({
  name: 'ack',
  locale: 'en',
  subject: `${marker} [#<%= it.ticket.number %>]`,
  mjml: MJML(`<mj-text>${marker} <%= it.customer.name %></mj-text>`),
  text: `${marker} <%= it.customer.name %>\n`,
  authorId: ADMIN,
  ...over,
});

describe('drafts', () => {
  it('are checked when saved: every problem with part, line and column, and nothing stored', async () => {
    const bad = draftOf('Bad', {
      subject: 'Re <%= it.ticket.nope %>',
      text: 'ok\n  <% process.exit() %>\n',
    });
    const err = await store.saveDraft(bad).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TemplateError);
    expect((err as TemplateError).problems.map(({ part, line, column }) => ({ part, line, column }))).toEqual([
      { part: 'subject', line: 1, column: 4 },
      { part: 'text', line: 2, column: 3 },
    ]);
    expect(await store.draft('ack', 'en')).toBeUndefined();
    await expect(store.saveDraft({ ...draftOf('x'), name: 'nope' })).rejects.toThrow(NotFoundError);
    await expect(store.saveDraft({ ...draftOf('x'), locale: 'EN_us' })).rejects.toThrow(ValidationError);
  });

  it('are stored one per template and locale, by their last author, not previewed until noted', async () => {
    const first = await store.saveDraft(draftOf('One'));
    expect(first).toMatchObject({
      name: 'ack',
      locale: 'en',
      authorId: ADMIN,
      authorName: 'Dora Drafts',
      previewed: false,
    });
    const second = await store.saveDraft(draftOf('Two', { authorId: OTHER_ADMIN }));
    expect(second).toMatchObject({ subject: 'Two [#<%= it.ticket.number %>]', authorName: 'Paul Publish' });
    expect(second.updatedAt.getTime()).toBeGreaterThanOrEqual(first.updatedAt.getTime());
    expect(await t.db('template_drafts').where({ name: 'ack', locale: 'en' })).toHaveLength(1);
    expect(await store.draft('ack', 'en')).toEqual(second);
  });

  it('are previewed only in the content the preview showed; new content clears it, the same keeps it', async () => {
    const d = draftOf('Three');
    await store.saveDraft(d);
    // a preview of other content (an edit not saved yet) says nothing about the stored draft
    expect(await store.notePreviewed({ ...d, text: 'Other\n' })).toBe(false);
    expect((await store.draft('ack', 'en'))!.previewed).toBe(false);
    // a browser's form sends CRLF: the same content
    expect(await store.notePreviewed({ ...d, text: d.text.replace(/\n/g, '\r\n') })).toBe(true);
    expect((await store.draft('ack', 'en'))!.previewed).toBe(true);
    expect(contentHash(d)).toBe(contentHash({ ...d, mjml: d.mjml.replace(/\n/g, '\r\n') }));
    expect(contentHash(d)).toMatch(/^[0-9a-f]{64}$/);
    expect(contentHash(d)).not.toBe(contentHash({ ...d, subject: `${d.subject} ` }));

    expect((await store.saveDraft(d)).previewed).toBe(true);
    expect((await store.saveDraft(draftOf('Four'))).previewed).toBe(false);
    expect((await store.saveDraft(d)).previewed).toBe(false); // previewed as Three once, but not since
  });

  it('are never rendered for a mail', async () => {
    const d = draftOf('Never');
    await store.saveDraft(d);
    await store.notePreviewed(d);
    const mail = await renderTemplate(t.db, 'ack', 'en', sampleVariables('ack'));
    expect(mail.version).toBe(0);
    expect(mail.subject).not.toContain('Never');
    expect((await publishedTemplate(t.db, 'ack', 'en')).version).toBe(0);
    expect((await store.published('ack', 'en')).version).toBe(0);
  });

  it('publishing refuses: no draft, a draft changed since its preview, one that no longer compiles', async () => {
    await expect(store.publishDraft('ack', 'de', ADMIN)).rejects.toThrow(/there is no draft of ack \(de\)/);
    await store.saveDraft(draftOf('Unseen'));
    const unseen = await store.publishDraft('ack', 'en', ADMIN).catch((e: unknown) => e);
    expect(unseen).toBeInstanceOf(ValidationError);
    expect((unseen as Error).message).toMatch(/changed since it was last previewed: preview it, then publish/);

    // a draft that compiled when it was saved and previewed, but not with this version's fields
    const broken = { ...draftOf('Broken'), text: 'Gone: <%= it.ticket.priority %>\n' };
    await t
      .db('template_drafts')
      .where({ name: 'ack', locale: 'en' })
      .update({ text: broken.text, subject: broken.subject, mjml: broken.mjml });
    expect(await store.notePreviewed(broken)).toBe(true);
    const stale = await store.publishDraft('ack', 'en', ADMIN).catch((e: unknown) => e);
    expect(stale).toBeInstanceOf(ValidationError);
    expect((stale as Error).message).toMatch(/no longer compiles: text line 1: unknown field it\.ticket\.priority/);
    expect((stale as ValidationError).details?.problems).toEqual([
      expect.objectContaining({ part: 'text', line: 1, column: 7 }),
    ]);
    expect(await store.versions('ack', 'en')).toEqual([]);
    expect((await store.draft('ack', 'en'))!.text).toBe(broken.text);
  });

  it('a previewed draft is published as the next version, by who publishes, and is gone', async () => {
    const d = draftOf('Five');
    await store.saveDraft(d);
    await store.notePreviewed(d);
    const v = await store.publishDraft('ack', 'en', OTHER_ADMIN);
    expect(v).toMatchObject({ version: 1, subject: d.subject, authorId: OTHER_ADMIN, authorName: 'Paul Publish' });
    expect(await store.draft('ack', 'en')).toBeUndefined();
    expect(await renderTemplate(t.db, 'ack', 'en', sampleVariables('ack'))).toMatchObject({
      subject: 'Five [#1042]',
      version: 1,
    });
    await expect(store.publishDraft('ack', 'en', ADMIN)).rejects.toThrow(/no draft/);

    // the next draft is not used either, while version 1 is published
    await store.saveDraft(draftOf('Six'));
    expect((await renderTemplate(t.db, 'ack', 'en', sampleVariables('ack'))).subject).toBe('Five [#1042]');
  });

  it('live beside save(): a version saved meanwhile leaves the draft, which then comes after it', async () => {
    const saved = await store.save(draftOf('Saved'));
    expect(saved.version).toBe(2);
    const d = (await store.draft('ack', 'en'))!;
    expect(d.subject).toMatch(/^Six/);
    await store.notePreviewed(d);
    expect((await store.publishDraft('ack', 'en', ADMIN)).version).toBe(3);
    expect((await store.versions('ack', 'en')).map((v) => v.subject.split(' ')[0])).toEqual(['Six', 'Saved', 'Five']);
  });

  it('a save between preview and publish makes publishing refuse', async () => {
    const d = draftOf('Seven');
    await store.saveDraft(d);
    await store.notePreviewed(d);
    await store.saveDraft({ ...d, text: 'Changed <%= it.customer.name %>\n' });
    await expect(store.publishDraft('ack', 'en', ADMIN)).rejects.toThrow(/changed since it was last previewed/);
  });

  it('are discarded; the list says which templates have one, also a locale with nothing else', async () => {
    await store.saveDraft(draftOf('Merci', { locale: 'fr' }));
    const list = await store.list();
    expect(list.find((s) => s.name === 'ack' && s.locale === 'en')).toMatchObject({
      hasDraft: true,
      publishedVersion: 3,
    });
    expect(list.find((s) => s.name === 'ack' && s.locale === 'fr')).toMatchObject({
      hasDraft: true,
      hasDefault: false,
      publishedVersion: null,
      latestVersion: null,
    });
    expect(list.find((s) => s.name === 'ack' && s.locale === 'de')).toMatchObject({ hasDraft: false });
    expect(await store.discardDraft('ack', 'fr')).toBe(true);
    expect(await store.discardDraft('ack', 'fr')).toBe(false);
    expect((await store.list()).some((s) => s.locale === 'fr')).toBe(false);
    expect(await renderTemplate(t.db, 'ack', 'fr', sampleVariables('ack'))).toMatchObject({ locale: 'en', version: 3 });
  });
});

describe('history', () => {
  it('versions name their author and date, and what a rollback copied', async () => {
    const rolled = await store.publish('ack', 'en', 1, ADMIN);
    expect(rolled).toMatchObject({ version: 4, rolledBackFrom: 1, authorName: 'Dora Drafts' });
    const versions = await store.versions('ack', 'en');
    expect(versions.map((v) => [v.version, v.rolledBackFrom, v.authorName])).toEqual([
      [4, 1, 'Dora Drafts'],
      [3, null, 'Dora Drafts'],
      [2, null, 'Dora Drafts'],
      [1, null, 'Paul Publish'],
    ]);
    for (const v of versions) expect(v.createdAt).toBeInstanceOf(Date);
    // the author's account goes; the version stays, unnamed
    await t.db.raw(
      `INSERT INTO agents (id, name, email, role) OVERRIDING SYSTEM VALUE VALUES (29, 'Gone', 'gone@example.test', 'admin')`,
    );
    await store.save(draftOf('Orphan', { authorId: 29 }));
    await t.db('agents').where({ id: 29 }).delete();
    expect((await store.published('ack', 'en')).authorName).toBeNull();
  });

  it('diffs versions, drafts and the shipped default (version 0) line by line', async () => {
    await store.useDefault('ack', 'en');
    const shipped = await store.published('ack', 'en');
    expect(shipped.version).toBe(0);
    const changed = { ...shipped, text: shipped.text.replace(/^Hello/m, 'Good day'), subject: 'New subject' };
    const d = store.diff(shipped, changed);
    expect(d.subject).toEqual([
      { kind: 'removed', text: shipped.subject.trimEnd() },
      { kind: 'added', text: 'New subject' },
    ]);
    const edits = d.text.filter((l) => l.kind !== 'same');
    expect(edits).toEqual([
      { kind: 'removed', text: expect.stringMatching(/^Hello/) },
      { kind: 'added', text: expect.stringMatching(/^Good day/) },
    ]);
    expect(d.text.filter((l) => l.kind === 'same').length).toBe(shipped.text.trimEnd().split('\n').length - 1);
    expect(d.mjml.every((l) => l.kind === 'same')).toBe(true);
    // the same content with CRLF line ends and without the last newline is no change
    const crlf = store.diff(shipped, { ...shipped, mjml: shipped.mjml.replace(/\n/g, '\r\n').trimEnd() });
    expect(crlf.mjml.every((l) => l.kind === 'same')).toBe(true);
    expect(
      store
        .diff(await store.version('ack', 'en', 1), await store.version('ack', 'en', 4))
        .text.every((l) => l.kind === 'same'),
    ).toBe(true);
  });

  it('a diff of two large unrelated texts stays quick', async () => {
    const a = Array.from({ length: 20_000 }, (_, i) => `a line ${i} ${(i * 7919) % 10007}`).join('\n');
    const b = Array.from({ length: 20_000 }, (_, i) => `b line ${i} ${(i * 104729) % 10007}`).join('\n');
    const started = performance.now();
    const d = store.diff({ subject: 's', mjml: a, text: '' }, { subject: 's', mjml: b, text: '' });
    expect(performance.now() - started).toBeLessThan(2000);
    expect(d.mjml.filter((l) => l.kind === 'removed')).toHaveLength(20_000);
    expect(d.mjml.filter((l) => l.kind === 'added')).toHaveLength(20_000);
  });
});

describe('preview variables', () => {
  it('samples show each branch: files or none, a name or none, a long subject', async () => {
    const ack = sampleVariables('ack');
    const long = sampleVariables('ack', { longSubject: true });
    expect(long.ticket.subject.length).toBeGreaterThanOrEqual(200);
    expect(long.ticket.subject).toMatch(/[^\x00-\x7f]/);
    expect(sampleVariables('ack', { customerName: false }).customer.name).toBe('');
    expect(ack.customer.name).toBe('Jane Doe');
    // options for data a template does not have change nothing
    expect(sampleVariables('password_reset', { longSubject: true, attachments: false })).toEqual(
      sampleVariables('password_reset'),
    );

    const reply = (await checkTemplate(defaultSource('agent_reply', 'en')!)).compiled!;
    const withFiles = reply.render(sampleVariables('agent_reply'));
    const without = reply.render(sampleVariables('agent_reply', { attachments: false }));
    expect(withFiles.text).toContain('invoice-2026-118.pdf');
    expect(without.text).not.toContain('invoice-2026-118.pdf');
    expect(without.text).not.toContain('Attachments');
    const ackTemplate = (await checkTemplate(defaultSource('ack', 'en')!)).compiled!;
    expect(ackTemplate.render(sampleVariables('ack', { customerName: false })).text).toMatch(/^Hello,$/m);
    const longMail = ackTemplate.render(long);
    expect(longMail.subject).toContain(long.ticket.subject);
    expect(longMail.subject).not.toContain('\n');
  });

  describe('from a real ticket', () => {
    let ticketNumber: number;
    beforeAll(async () => {
      const [inbox] = await t
        .db('inboxes')
        .insert({ address: 'help@vars.test', name: 'Vars Help', from_name: 'Vars Support' })
        .returning('id');
      const [customer] = await t.db('customers').insert({ name: 'Rhea Real', portal_status: 'active' }).returning('id');
      await t.db('customer_emails').insert([
        { customer_id: customer.id, address: 'rhea.other@customer.test' },
        { customer_id: customer.id, address: 'rhea@customer.test', is_primary: true },
      ]);
      const ticket = await makeTicket(t.db, {
        inboxId: inbox.id,
        requesterId: customer.id,
        companyId: null,
        subject: 'Printer <b>on fire</b>',
      });
      ticketNumber = (await t.db('tickets').where({ id: ticket.id }).first('number')).number;
      const message = (direction: string, author: string, text: string, extra = {}) => ({
        ticket_id: ticket.id,
        direction,
        author_type: author,
        text,
        ...extra,
      });
      await t.db('messages').insert(message('inbound', 'customer', 'It burns'));
      const [reply] = await t
        .db('messages')
        .insert(message('outbound', 'agent', 'Use the extinguisher.\n\nThen call us.', { author_agent_id: ADMIN }))
        .returning('id');
      await t
        .db('messages')
        .insert(message('outbound', 'agent', 'internal: VIP', { internal: true, author_agent_id: ADMIN }));
      await t.db.transaction((trx) =>
        storeAttachments(trx, reply.id, [
          { filename: 'manual.pdf', content_type: 'application/pdf', content: Buffer.alloc(3000, 1) },
        ]),
      );
    });

    it("carry the ticket's data, the latest public agent reply and its files, and placeholder links only", async () => {
      const tokensBefore = await t.db('tokens').count<{ count: string }[]>({ count: '*' });
      const vars = await ticketVariables(t.db, 'agent_reply', ticketNumber, { baseUrl: 'https://help.example.test/' });
      expect(vars).toMatchObject({
        customer: { name: 'Rhea Real', email: 'rhea@customer.test' },
        inbox: { name: 'Vars Support', address: 'help@vars.test' },
        ticket: { number: ticketNumber, subject: 'Printer <b>on fire</b>', status: 'open' },
        link: 'https://help.example.test/t/preview',
        agent: { name: 'Dora Drafts' },
        message: {
          text: 'Use the extinguisher.\n\nThen call us.',
          html: '<p>Use the extinguisher.</p>\n<p>Then call us.</p>',
          attachments: [
            {
              name: 'manual.pdf',
              size: '3 KB',
              url: expect.stringMatching(
                /^https:\/\/help\.example\.test\/t\/preview\/attachments\/[0-9a-f]{64}\?name=manual\.pdf$/,
              ),
            },
          ],
        },
      });
      const mail = (await checkTemplate(defaultSource('agent_reply', 'en')!)).compiled!.render(vars);
      expect(mail.html).toContain('Printer &lt;b&gt;on fire&lt;/b&gt;');
      expect(mail.text).toContain('manual.pdf');
      // no link was issued for a preview
      expect(await t.db('tokens').count<{ count: string }[]>({ count: '*' })).toEqual(tokensBefore);
    });

    it('fit every template, with the link of its kind', async () => {
      for (const name of TEMPLATE_NAMES) {
        const vars = await ticketVariables(t.db, name, ticketNumber, { baseUrl: 'https://help.example.test' });
        const mail = (await checkTemplate(defaultSource(name, 'en')!)).compiled!.render(vars);
        expect(mail.text).toContain('https://help.example.test/');
        expect((vars as { link: string }).link).toMatch(/\/preview$/);
      }
      expect(await ticketVariables(t.db, 'signup_link', ticketNumber, { baseUrl: 'https://h.test' })).toMatchObject({
        account_exists: true,
        link: 'https://h.test/portal/password/preview',
        sign_in_link: 'https://h.test/portal/sign-in',
      });
      expect((await ticketVariables(t.db, 'sign_in_link', ticketNumber, { baseUrl: 'https://h.test' })).link).toBe(
        'https://h.test/portal/sign-in/link/preview',
      );
    });

    it('a ticket no agent answered yet keeps the sample reply; no such ticket is NotFound', async () => {
      const [inbox] = await t.db('inboxes').insert({ address: 'other@vars.test', name: 'Other' }).returning('id');
      const fresh = await makeTicket(t.db, { inboxId: inbox.id, requesterId: null, companyId: null, subject: 'New' });
      const number = (await t.db('tickets').where({ id: fresh.id }).first('number')).number;
      const vars = await ticketVariables(t.db, 'agent_reply', number, { baseUrl: 'https://h.test', inboxId: inbox.id });
      expect(vars.ticket.subject).toBe('New');
      expect(vars.customer).toEqual({ name: '', email: '' });
      expect(vars.message).toEqual(sampleVariables('agent_reply').message);
      await expect(ticketVariables(t.db, 'ack', 99_999, { baseUrl: 'https://h.test' })).rejects.toThrow(NotFoundError);
      for (const odd of [0, -1, 1.5, 2 ** 31, Number.NaN])
        await expect(ticketVariables(t.db, 'ack', odd, { baseUrl: 'https://h.test' })).rejects.toThrow(NotFoundError);
      await expect(ticketVariables(t.db, 'ack', number, { baseUrl: 'https://h.test', inboxId: -1 })).rejects.toThrow(
        NotFoundError,
      );
      await expect(ticketVariables(t.db, 'nope' as 'ack', number, { baseUrl: 'https://h.test' })).rejects.toThrow(
        NotFoundError,
      );
    });
  });
});

describe('the field list', () => {
  it('names every field with its type, whether optional, whether raw, and a list’s loop fields', () => {
    const fields = templateFields('agent_reply');
    const by = new Map(fields.map((f) => [f.path, f]));
    expect(by.get('it.ticket.subject')).toMatchObject({
      type: 'text',
      optional: false,
      raw: false,
      snippet: '<%= it.ticket.subject %>',
    });
    expect(by.get('it.ticket.number')).toMatchObject({ type: 'number' });
    expect(by.get('it.link')).toMatchObject({ type: 'link' });
    expect(by.get('it.link_expires_days')).toMatchObject({ type: 'number', optional: true });
    expect(by.get('it.message.html')).toMatchObject({ type: 'html', raw: true, snippet: '<%~ it.message.html %>' });
    expect(by.get('it.message.attachments')).toMatchObject({
      type: 'list',
      snippet: '<% for (const attachment of it.message.attachments) { %><%= attachment.name %><% } %>',
      item: [
        expect.objectContaining({ path: 'attachment.name', type: 'text' }),
        expect.objectContaining({ path: 'attachment.size', type: 'text' }),
        expect.objectContaining({ path: 'attachment.url', type: 'link' }),
      ],
    });
    expect(by.has('it.customer')).toBe(false); // groups are flattened
    expect(templateFields('signup_link').find((f) => f.path === 'it.account_exists')).toMatchObject({
      type: 'boolean',
      snippet: '<% if (it.account_exists) { %>…<% } %>',
    });
    expect(() => templateFields('nope')).toThrow(NotFoundError);
  });

  it('every snippet is accepted by the checker, in the part it is for', async () => {
    for (const name of TEMPLATE_NAMES) {
      const fields = templateFields(name);
      const text = fields
        .filter((f) => !f.raw)
        .map((f) => f.snippet)
        .join('\n');
      const html = fields
        .filter((f) => f.raw)
        .map((f) => f.snippet)
        .join('\n');
      const { problems } = await checkTemplate({
        name,
        locale: 'en',
        subject: 'x',
        mjml: MJML(`<mj-text>${html || 'x'}</mj-text>`),
        text,
      });
      expect(problems).toEqual([]);
    }
  });
});

describe('previews', () => {
  it('render a source with variables, uncached, or give its problems with line and column', async () => {
    const src = {
      name: 'ack' as const,
      locale: 'en',
      subject: 'P [#<%= it.ticket.number %>]',
      mjml: MJML('<mj-text>Hi <%= it.customer.name %></mj-text>'),
      text: 'Hi <%= it.customer.name %>',
    };
    const ok = await previewTemplate(src, sampleVariables('ack', { customerName: false }));
    expect(ok).toMatchObject({ subject: 'P [#1042]', text: 'Hi ' });
    expect('html' in ok && ok.html).toMatch(/^<!doctype html>/i);
    const bad = await previewTemplate(
      { ...src, mjml: MJML('<mj-text>\n  x <%= it.nope %></mj-text>') },
      sampleVariables('ack'),
    );
    expect(bad).toEqual({
      problems: [expect.objectContaining({ name: 'ack', locale: 'en', part: 'html', line: 3, column: 5 })],
    });
    await expect(previewTemplate(src, { ...sampleVariables('ack'), link: 'javascript:x' })).rejects.toThrow(
      ValidationError,
    );
  });
});

describe('test mails', () => {
  let sink: Sink;
  let boss: Boss;
  const source = {
    name: 'agent_reply' as const,
    locale: 'en',
    subject: 'Re: <%= it.ticket.subject %>',
    mjml: MJML('<mj-text>Draft for <%= it.customer.name %>: <%~ it.message.html %></mj-text>'),
    text: 'Draft for <%= it.customer.name %>\n<% for (const f of it.message.attachments) { %>- <%= f.name %>\n<% } %>',
  };

  beforeAll(async () => {
    sink = await startSink();
    boss = await startBossFor(t.url, true);
    await t
      .db('inboxes')
      .insert({ address: 'support@tests.test', name: 'Test Support' })
      .onConflict('address')
      .ignore();
    await startTestOutbound(t.db, boss, sink.url, 'http://help.inbound.test');
  });

  const mailTo = (address: string, after: number) =>
    eventually(async () => sink.mails.slice(after).find((m) => m.to.includes(address)), 15_000);

  it('go through the outbound worker to the admin, rendered from the stored source and variables', async () => {
    const before = sink.mails.length;
    const tokens = await t.db('tokens').count<{ count: string }[]>({ count: '*' });
    const vars = sampleVariables('agent_reply');
    const id = await enqueueTemplateTest(boss, t.db, { source, vars, agentId: ADMIN, recipient: 'Dora@Example.test' });
    const m = await mailTo('dora@example.test', before);
    expect(m.mail.subject).toBe(`[Test] Re: ${vars.ticket.subject}`);
    expect(m.mail.text).toBe('Draft for Jane Doe\n- invoice-2026-118.pdf\n');
    expect(m.mail.html).toContain(vars.message.html);
    expect(m.mail.headers.get('auto-submitted')).toBe('auto-replied');
    expect(m.mail.attachments).toEqual([]);
    const row = await t.db('outbound_messages').where({ id }).first();
    expect(row).toMatchObject({
      kind: 'template_test',
      status: 'sent',
      attempts: 1,
      customer_id: null,
      ticket_id: null,
      locale: 'en',
    });
    expect(row.subject).toBe(m.mail.subject);
    expect(await t.db('template_test_mails').where({ outbound_id: id }).first()).toMatchObject({
      name: 'agent_reply',
      agent_id: ADMIN,
      vars,
    });
    expect(await t.db('tokens').count<{ count: string }[]>({ count: '*' })).toEqual(tokens);
  });

  it('are refused before anything is queued: not an admin, another address, a broken source, bad variables', async () => {
    const count = async () =>
      Number((await t.db('outbound_messages').where({ kind: 'template_test' }).count({ n: '*' }))[0]!.n);
    const before = await count();
    const vars = sampleVariables('agent_reply');
    await expect(enqueueTemplateTest(boss, t.db, { source, vars, agentId: 23 })).rejects.toThrow(ForbiddenError);
    await expect(enqueueTemplateTest(boss, t.db, { source, vars, agentId: 999 })).rejects.toThrow(NotFoundError);
    await expect(
      enqueueTemplateTest(boss, t.db, { source, vars, agentId: ADMIN, recipient: 'victim@elsewhere.test' }),
    ).rejects.toThrow(/your own address, dora@example\.test/);
    await expect(
      enqueueTemplateTest(boss, t.db, { source: { ...source, text: '<%= it.nope %>' }, vars, agentId: ADMIN }),
    ).rejects.toThrow(TemplateError);
    await expect(
      enqueueTemplateTest(boss, t.db, { source, vars: { ...vars, link: 'javascript:x' }, agentId: ADMIN }),
    ).rejects.toThrow(ValidationError);
    expect(await count()).toBe(before);
  });

  it('join the caller’s transaction: rolled back, nothing is sent', async () => {
    const before = await t.db('outbound_messages').where({ kind: 'template_test' }).count({ n: '*' });
    await t.db
      .transaction(async (trx) => {
        await enqueueTemplateTest(boss, trx, { source, vars: sampleVariables('agent_reply'), agentId: ADMIN });
        throw new Error('roll back');
      })
      .catch(() => undefined);
    expect(await t.db('outbound_messages').where({ kind: 'template_test' }).count({ n: '*' })).toEqual(before);
  });

  it('a refused mail is retried after a 451, and marked failed at once after a 550', async () => {
    let refusals = 0;
    sink.answer = (to) =>
      to.includes('paul@example.test') && refusals++ === 0 ? refusal(451, '4.3.0 try later') : undefined;
    const before = sink.mails.length;
    const id = await enqueueTemplateTest(boss, t.db, {
      source,
      vars: sampleVariables('agent_reply'),
      agentId: OTHER_ADMIN,
    });
    const deferred = await eventually(() => t.db('outbound_messages').where({ id }).where('attempts', '>=', 1).first());
    expect(deferred).toMatchObject({ status: 'queued' });
    expect(deferred.last_error).toMatch(/451/);
    // the queue's backoff would wait 30 s and more: bring the retry forward
    await eventually(
      async () =>
        (
          await t.db.raw(
            `UPDATE pgboss.job SET start_after = now() WHERE name = 'outbound.send' AND data->>'outboundId' = ? AND state = 'retry'`,
            [String(id)],
          )
        ).rowCount,
    );
    await mailTo('paul@example.test', before);
    // the row is marked sent after the relay's 250, so a moment after the sink has the mail
    const sent = await eventually(() => t.db('outbound_messages').where({ id, status: 'sent' }).first(), 15_000);
    expect(sent).toMatchObject({ status: 'sent', attempts: 2 });

    sink.answer = (to) => (to.includes('paul@example.test') ? refusal(550, '5.1.1 no such user') : undefined);
    const failed = await enqueueTemplateTest(boss, t.db, {
      source,
      vars: sampleVariables('agent_reply'),
      agentId: OTHER_ADMIN,
    });
    const row = await eventually(
      () => t.db('outbound_messages').where({ id: failed, status: 'failed' }).first(),
      15_000,
    );
    expect(row.last_error).toMatch(/550.*no such user/);
    sink.answer = () => undefined;
  });

  it('a source that no longer compiles when it is sent fails for good, recorded', async () => {
    // written as enqueueTemplateTest would, with a source its check would have refused
    const id = await t.db.transaction(async (trx) => {
      const outboundId = await enqueueOutbound(boss, trx, { kind: 'template_test', recipient: 'dora@example.test' });
      await trx('template_test_mails').insert({
        outbound_id: outboundId,
        ...source,
        text: '<%= it.ticket.priority %>',
        vars: JSON.stringify(sampleVariables('agent_reply')),
        agent_id: ADMIN,
      });
      return outboundId;
    });
    const row = await eventually(() => t.db('outbound_messages').where({ id, status: 'failed' }).first(), 15_000);
    expect(row.last_error).toMatch(/unknown field it\.ticket\.priority/);
    expect(row.attempts).toBe(1);
  });

  it('to a no-reply address is refused by the sender, as every mail is', async () => {
    const before = sink.mails.length;
    const id = await enqueueTemplateTest(boss, t.db, { source, vars: sampleVariables('agent_reply'), agentId: 24 });
    const row = await eventually(() => t.db('outbound_messages').where({ id, status: 'suppressed' }).first(), 15_000);
    expect(row.last_error).toMatch(/no-reply|noreply/i);
    await new Promise((r) => setTimeout(r, 300));
    expect(sink.mails.slice(before).some((m) => m.to.includes('noreply@example.test'))).toBe(false);
  });
});
