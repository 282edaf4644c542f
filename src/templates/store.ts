// Admin overrides of the mail templates: versions in template_versions, the one in use named by
// templates.published_version. A version is checked and compiled before it is stored, and again
// before an older one is published, so what is published always compiles.
import type { Db } from '../db/index.ts';
import { NotFoundError, ValidationError } from '../errors.ts';
import { compileTemplate, type TemplateSource } from './compile.ts';
import { DEFAULT_LOCALES, defaultSource } from './defaults.ts';
import { isTemplateName, TEMPLATE_NAMES, type TemplateName } from './schemas.ts';

export interface TemplateSummary {
  name: TemplateName;
  locale: string;
  /** Whether templates/mail ships this locale. */
  hasDefault: boolean;
  /** null: the default is in use. */
  publishedVersion: number | null;
  latestVersion: number | null;
  updatedAt: Date | null;
}

export interface TemplateVersion extends TemplateSource {
  /** 0 for the shipped default. */
  version: number;
  authorId: number | null;
  createdAt: Date | null;
}

export interface SaveTemplateInput {
  name: string;
  locale: string;
  subject: string;
  mjml: string;
  text: string;
  authorId?: number | null;
}

const LOCALE = /^[a-z]{2}(?:-[a-z]{2})?$/;

export function createTemplateStore(db: Db) {
  return {
    /** Every template and locale: the shipped ones and those with stored versions. */
    async list(): Promise<TemplateSummary[]> {
      const rows = await db('templates as t')
        .leftJoin('template_versions as v', 'v.template_id', 't.id')
        .groupBy('t.id')
        .select<
          { name: string; locale: string; published_version: number | null; latest: number | null; updated_at: Date }[]
        >('t.name', 't.locale', 't.published_version', db.raw('max(v.version) AS latest'), 't.updated_at');
      const out = new Map<string, TemplateSummary>();
      for (const name of TEMPLATE_NAMES) {
        for (const locale of DEFAULT_LOCALES) {
          out.set(`${name}/${locale}`, {
            name,
            locale,
            hasDefault: true,
            publishedVersion: null,
            latestVersion: null,
            updatedAt: null,
          });
        }
      }
      for (const r of rows) {
        if (!isTemplateName(r.name)) continue; // a template this version no longer sends
        out.set(`${r.name}/${r.locale}`, {
          name: r.name,
          locale: r.locale,
          hasDefault: defaultSource(r.name, r.locale) !== undefined,
          publishedVersion: r.published_version,
          latestVersion: r.latest,
          updatedAt: r.updated_at,
        });
      }
      return [...out.values()].sort((a, b) => a.name.localeCompare(b.name) || a.locale.localeCompare(b.locale));
    },

    /** What is in use for exactly this name and locale (no fallback): the published version or the default. */
    async published(name: string, locale: string): Promise<TemplateVersion> {
      const n = knownName(name);
      const row = await versionQuery(db, n, locale).whereRaw('v.version = t.published_version').first();
      if (row) return toVersion(n, row);
      const source = defaultSource(n, locale);
      if (!source) throw new NotFoundError(`no ${name} template for locale ${locale}`);
      return { ...source, version: 0, authorId: null, createdAt: null };
    },

    /** The stored versions, newest first. */
    async versions(name: string, locale: string): Promise<TemplateVersion[]> {
      const n = knownName(name);
      const rows = await versionQuery(db, n, locale).orderBy('v.version', 'desc');
      return rows.map((r) => toVersion(n, r));
    },

    /** Stores and publishes a new version; a TemplateError, with every problem, if it does not compile. */
    async save(input: SaveTemplateInput): Promise<TemplateVersion> {
      const name = knownName(input.name);
      const locale = knownLocale(input.locale);
      await compileTemplate({ name, locale, subject: input.subject, mjml: input.mjml, text: input.text });
      return db.transaction(async (trx) => {
        await trx.raw('INSERT INTO templates (name, locale) VALUES (?, ?) ON CONFLICT (name, locale) DO NOTHING', [
          name,
          locale,
        ]);
        // the row lock hands out version numbers one save at a time
        const t = await trx('templates').where({ name, locale }).forUpdate().first<{ id: number }>('id');
        const { rows } = await trx.raw<{ rows: Omit<VersionRow, 'locale'>[] }>(
          `INSERT INTO template_versions (template_id, version, subject, mjml, text, author_id)
           SELECT :id, coalesce(max(version), 0) + 1, :subject, :mjml, :text, :author FROM template_versions WHERE template_id = :id
           RETURNING version, subject, mjml, text, author_id, created_at`,
          { id: t!.id, subject: input.subject, mjml: input.mjml, text: input.text, author: input.authorId ?? null },
        );
        await trx('templates')
          .where({ id: t!.id })
          .update({ published_version: rows[0]!.version, updated_at: trx.fn.now() });
        return toVersion(name, { ...rows[0]!, locale });
      });
    },

    /** Publishes a stored version again (a rollback), after checking it still compiles. */
    async publish(name: string, locale: string, version: number): Promise<void> {
      const n = knownName(name);
      const row = await versionQuery(db, n, locale).where('v.version', version).first();
      if (!row) throw new NotFoundError(`${name} (${locale}) has no version ${version}`);
      await compileTemplate(toVersion(n, row));
      await db('templates').where({ name: n, locale }).update({ published_version: version, updated_at: db.fn.now() });
    },

    /** Goes back to the shipped default; the stored versions stay. */
    async useDefault(name: string, locale: string): Promise<void> {
      const n = knownName(name);
      if (!defaultSource(n, locale))
        throw new ValidationError(`there is no default ${name} template for locale ${locale}`);
      await db('templates').where({ name: n, locale }).update({ published_version: null, updated_at: db.fn.now() });
    },
  };
}

export type TemplateStore = ReturnType<typeof createTemplateStore>;

interface VersionRow {
  locale: string;
  version: number;
  subject: string;
  mjml: string;
  text: string;
  author_id: number | null;
  created_at: Date;
}

function versionQuery(db: Db, name: TemplateName, locale: string) {
  return db('template_versions as v')
    .join('templates as t', 't.id', 'v.template_id')
    .where({ 't.name': name, 't.locale': locale })
    .select<VersionRow[]>('t.locale', 'v.version', 'v.subject', 'v.mjml', 'v.text', 'v.author_id', 'v.created_at');
}

function toVersion(name: TemplateName, r: VersionRow): TemplateVersion {
  return {
    name,
    locale: r.locale,
    subject: r.subject,
    mjml: r.mjml,
    text: r.text,
    version: r.version,
    authorId: r.author_id,
    createdAt: r.created_at,
  };
}

function knownName(name: string): TemplateName {
  if (!isTemplateName(name)) throw new NotFoundError(`no mail template named ${name}`);
  return name;
}

function knownLocale(locale: string): string {
  if (!LOCALE.test(locale)) throw new ValidationError(`not a locale: ${locale} (write it as en, de or de-at)`);
  return locale;
}
