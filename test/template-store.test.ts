// Admin overrides in the database: saving validates before storing, a published version takes
// effect at once and replaces what the cache held, a rollback appends a copy of the older version
// (the history only grows), the default comes back, and a locale without a template falls back
// to English.
import { beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './helpers/db.ts';
import {
  createTemplateStore,
  defaultSource,
  publishedTemplate,
  renderTemplate,
  sampleVariables,
  TEMPLATE_NAMES,
  TemplateError,
  type TemplateStore,
} from '../src/templates/index.ts';
import { NotFoundError, ValidationError } from '../src/errors.ts';

let t: TestDatabase;
let store: TemplateStore;

beforeAll(async () => {
  t = await createTestDatabase();
  store = createTemplateStore(t.db);
  // versions name their author: an agent that exists
  await t.db.raw(
    `INSERT INTO agents (id, name, email, role) OVERRIDING SYSTEM VALUE VALUES (7, 'Tess Templates', 'tess@example.test', 'admin')`,
  );
});

const override = (marker: string) => ({
  name: 'ack',
  locale: 'de',
  subject: `${marker} [#<%= it.ticket.number %>]`,
  mjml: `<mjml lang="de"><mj-body><mj-section><mj-column><mj-text>${marker} <%= it.customer.name %></mj-text></mj-column></mj-section></mj-body></mjml>`,
  text: `${marker} <%= it.customer.name %>\n`,
  authorId: 7,
});

describe('template store', () => {
  it('renders the shipped default while nothing is stored', async () => {
    const mail = await renderTemplate(t.db, 'ack', 'de', sampleVariables('ack'));
    expect(mail).toMatchObject({ locale: 'de', version: 0 });
    expect(mail.text).toContain('Vielen Dank');
    expect((await store.published('ack', 'de')).version).toBe(0);
  });

  it('a saved version is published and used at once; the next one replaces it', async () => {
    const v1 = await store.save(override('Eins'));
    expect(v1).toMatchObject({
      version: 1,
      locale: 'de',
      authorId: 7,
      authorName: 'Tess Templates',
      rolledBackFrom: null,
    });
    expect(v1.createdAt).toBeInstanceOf(Date);
    const first = await renderTemplate(t.db, 'ack', 'de', sampleVariables('ack'));
    expect(first).toMatchObject({ subject: 'Eins [#1042]', text: 'Eins Jane Doe\n', version: 1 });
    expect(first.html).toContain('Eins Jane Doe');

    // same process, same cache: the new version number is a new key
    await store.save(override('Zwei'));
    const second = await renderTemplate(t.db, 'ack', 'de', sampleVariables('ack'));
    expect(second).toMatchObject({ subject: 'Zwei [#1042]', version: 2 });
    expect((await store.versions('ack', 'de')).map((v) => v.version)).toEqual([2, 1]);
    expect((await store.published('ack', 'de')).subject).toContain('Zwei');
  });

  it('other locales and templates are untouched by an override', async () => {
    expect((await renderTemplate(t.db, 'ack', 'en', sampleVariables('ack'))).text).toContain(
      'Thank you for contacting',
    );
    expect((await renderTemplate(t.db, 'ticket_closed', 'de', sampleVariables('ticket_closed'))).version).toBe(0);
  });

  it('refuses a version that fails validation, with every problem, and stores nothing', async () => {
    const bad = { ...override('Drei'), subject: '<%= it.ticket.nope %>', text: '<% process.exit() %>' };
    const err = await store.save(bad).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TemplateError);
    expect((err as TemplateError).problems.map((p) => `${p.part}:${p.line}`)).toEqual(['subject:1', 'text:1']);
    expect((err as Error).message).toMatch(/ack \(de\) subject line 1, column \d+: unknown field it\.ticket\.nope/);
    expect((await store.versions('ack', 'de')).length).toBe(2);
    expect((await renderTemplate(t.db, 'ack', 'de', sampleVariables('ack'))).version).toBe(2);
  });

  it('refuses MJML errors', async () => {
    const bad = {
      ...override('Vier'),
      mjml: '<mjml><mj-body><mj-section><mj-text>x</mj-text></mj-section></mj-body></mjml>',
    };
    await expect(store.save(bad)).rejects.toThrow(
      /ack \(de\) html line 1: MJML: mj-text cannot be used inside mj-section/,
    );
  });

  it('a rollback appends a copy of the older version and publishes it; the default comes back', async () => {
    await t.db.raw(
      `INSERT INTO agents (id, name, email, role) OVERRIDING SYSTEM VALUE VALUES (8, 'Rolf Rollback', 'rolf@example.test', 'admin')`,
    );
    const v3 = await store.publish('ack', 'de', 1, 8);
    expect(v3).toMatchObject({ version: 3, rolledBackFrom: 1, authorId: 8, authorName: 'Rolf Rollback' });
    expect(v3.subject).toBe((await store.version('ack', 'de', 1)).subject);
    expect(await renderTemplate(t.db, 'ack', 'de', sampleVariables('ack'))).toMatchObject({
      subject: 'Eins [#1042]',
      version: 3,
    });
    // nothing was rewritten: 1 and 2 are as they were, 3 is new
    expect((await store.versions('ack', 'de')).map((v) => [v.version, v.rolledBackFrom, v.authorName])).toEqual([
      [3, 1, 'Rolf Rollback'],
      [2, null, 'Tess Templates'],
      [1, null, 'Tess Templates'],
    ]);
    await store.useDefault('ack', 'de');
    expect((await renderTemplate(t.db, 'ack', 'de', sampleVariables('ack'))).version).toBe(0);
    await expect(store.publish('ack', 'de', 9)).rejects.toThrow(NotFoundError);
    await expect(store.publish('ack', 'de', 0)).rejects.toThrow(ValidationError);
    expect((await store.version('ack', 'de', 0)).text).toBe(defaultSource('ack', 'de')!.text);
  });

  it('falls back from a region to its language, then to English', async () => {
    expect(await renderTemplate(t.db, 'ack', 'de-AT', sampleVariables('ack'))).toMatchObject({
      locale: 'de',
      version: 0,
    });
    expect(await renderTemplate(t.db, 'ack', 'fr', sampleVariables('ack'))).toMatchObject({ locale: 'en', version: 0 });
    // a stored French version is used for French only
    await store.save({ ...override('Merci'), locale: 'fr' });
    expect(await renderTemplate(t.db, 'ack', 'fr-ca', sampleVariables('ack'))).toMatchObject({
      locale: 'fr',
      subject: 'Merci [#1042]',
    });
    expect(defaultSource('ack', 'fr')).toBeUndefined();
    await expect(store.useDefault('ack', 'fr')).rejects.toThrow(ValidationError);
  });

  it('lists shipped and stored templates', async () => {
    const list = await store.list();
    expect(list).toHaveLength(TEMPLATE_NAMES.length * 2 + 1);
    expect(list.find((s) => s.name === 'ack' && s.locale === 'de')).toMatchObject({
      hasDefault: true,
      publishedVersion: null,
      latestVersion: 3,
      hasDraft: false,
    });
    expect(list.find((s) => s.name === 'ack' && s.locale === 'fr')).toMatchObject({
      hasDefault: false,
      publishedVersion: 1,
      latestVersion: 1,
    });
  });

  it('compiles a version once, and again after a new one is published', async () => {
    await store.save(override('Fünf'));
    const a = await publishedTemplate(t.db, 'ack', 'de');
    const b = await publishedTemplate(t.db, 'ack', 'de');
    expect(b.compiled).toBe(a.compiled);
    await store.save(override('Sechs'));
    const c = await publishedTemplate(t.db, 'ack', 'de');
    expect(c.compiled).not.toBe(a.compiled);
    expect(c.version).toBe(a.version + 1);
    // a rollback is a new version: compiled anew, though its source is an older one's
    await store.publish('ack', 'de', a.version, 7);
    const d = await publishedTemplate(t.db, 'ack', 'de');
    expect(d.version).toBe(c.version + 1);
    expect(d.compiled).not.toBe(a.compiled);
    expect(d.compiled.render(sampleVariables('ack')).subject).toBe('Fünf [#1042]');
  });

  it('rejects unknown templates, bad locales and bad variables', async () => {
    await expect(renderTemplate(t.db, 'nope', 'en', {})).rejects.toThrow(NotFoundError);
    await expect(store.save({ ...override('x'), name: 'nope' })).rejects.toThrow(NotFoundError);
    await expect(store.save({ ...override('x'), locale: 'DE_de' })).rejects.toThrow(ValidationError);
    await expect(
      renderTemplate(t.db, 'ack', 'en', { ...sampleVariables('ack'), link: 'javascript:alert(1)' }),
    ).rejects.toThrow(/it\.link/);
  });

  it('parallel saves get distinct version numbers', async () => {
    const invite = (i: number) => ({
      ...override(`P${i}`),
      name: 'portal_invite',
      subject: `P${i} <%= it.inbox.name %>`,
    });
    const saved = await Promise.all([1, 2, 3].map((i) => store.save(invite(i))));
    expect(saved.map((v) => v.version).sort()).toEqual([1, 2, 3]);
  });
});
