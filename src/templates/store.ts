// Admin overrides of the mail templates: versions in template_versions, the one in use named by
// templates.published_version, and one draft per template and locale (drafts.ts). A version is
// checked and compiled before it is stored, so what is published always compiles; the history is
// append-only: a rollback appends a copy of the older version (versions.ts).
import type { Db } from '../db/index.ts';
import { NotFoundError, ValidationError } from '../errors.ts';
import { compileTemplate } from './compile.ts';
import { DEFAULT_LOCALES, defaultSource } from './defaults.ts';
import { diffTemplates } from './diff.ts';
import { draftMethods } from './drafts.ts';
import { isTemplateName, TEMPLATE_NAMES, type TemplateName } from './schemas.ts';
import {
  appendVersion,
  defaultVersion,
  knownLocale,
  knownName,
  toVersion,
  versionQuery,
  type TemplateVersion,
} from './versions.ts';

export interface TemplateSummary {
  name: TemplateName;
  locale: string;
  /** Whether templates/mail ships this locale. */
  hasDefault: boolean;
  /** null: the default is in use. */
  publishedVersion: number | null;
  latestVersion: number | null;
  updatedAt: Date | null;
  /** Whether an admin has a draft of it. */
  hasDraft: boolean;
}

export interface SaveTemplateInput {
  name: string;
  locale: string;
  subject: string;
  mjml: string;
  text: string;
  authorId?: number | null;
}

export function createTemplateStore(db: Db) {
  return {
    /** Every template and locale: the shipped ones, those with stored versions, and those with a draft. */
    async list(): Promise<TemplateSummary[]> {
      const { rows } = await db.raw<{
        rows: {
          name: string;
          locale: string;
          published_version: number | null;
          latest: number | null;
          updated_at: Date | null;
          has_draft: boolean;
        }[];
      }>(
        `SELECT coalesce(t.name, d.name) AS name, coalesce(t.locale, d.locale) AS locale, t.published_version,
                (SELECT max(v.version) FROM template_versions v WHERE v.template_id = t.id) AS latest,
                t.updated_at, d.id IS NOT NULL AS has_draft
           FROM templates t FULL JOIN template_drafts d ON d.name = t.name AND d.locale = t.locale`,
      );
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
            hasDraft: false,
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
          hasDraft: r.has_draft,
        });
      }
      return [...out.values()].sort((a, b) => a.name.localeCompare(b.name) || a.locale.localeCompare(b.locale));
    },

    /** What is in use for exactly this name and locale (no fallback): the published version or the default (0). */
    async published(name: string, locale: string): Promise<TemplateVersion> {
      const n = knownName(name);
      const row = await versionQuery(db, n, locale).whereRaw('v.version = t.published_version').first();
      if (row) return toVersion(n, row);
      const source = defaultSource(n, locale);
      if (!source) throw new NotFoundError(`no ${name} template for locale ${locale}`);
      return defaultVersion(source);
    },

    /** One version; 0 is the shipped default. */
    async version(name: string, locale: string, version: number): Promise<TemplateVersion> {
      const n = knownName(name);
      if (version === 0) {
        const source = defaultSource(n, locale);
        if (!source) throw new NotFoundError(`there is no default ${name} template for locale ${locale}`);
        return defaultVersion(source);
      }
      const row = await versionQuery(db, n, locale).where('v.version', version).first();
      if (!row) throw new NotFoundError(`${name} (${locale}) has no version ${version}`);
      return toVersion(n, row);
    },

    /** The stored versions, newest first. */
    async versions(name: string, locale: string): Promise<TemplateVersion[]> {
      const n = knownName(name);
      const rows = await versionQuery(db, n, locale).orderBy('v.version', 'desc');
      return rows.map((r) => toVersion(n, r));
    },

    /**
     * Stores and publishes a new version at once (the API's way; the editor's is a draft); a
     * TemplateError, with every problem, if it does not compile. A draft is left as it is.
     */
    async save(input: SaveTemplateInput): Promise<TemplateVersion> {
      const name = knownName(input.name);
      const locale = knownLocale(input.locale);
      const source = { name, locale, subject: input.subject, mjml: input.mjml, text: input.text };
      await compileTemplate(source);
      return db.transaction((trx) => appendVersion(trx, source, input.authorId ?? null));
    },

    /**
     * A rollback: appends a copy of stored version `version` as the next version, by `authorId`,
     * and publishes it, after checking it still compiles. The history only grows. To go back to
     * the shipped default (version 0), useDefault.
     */
    async publish(name: string, locale: string, version: number, authorId?: number | null): Promise<TemplateVersion> {
      const n = knownName(name);
      if (version === 0)
        throw new ValidationError('version 0 is the shipped default: go back to it with "use the default"');
      const row = await versionQuery(db, n, locale).where('v.version', version).first();
      if (!row) throw new NotFoundError(`${name} (${locale}) has no version ${version}`);
      const source = { name: n, locale: row.locale, subject: row.subject, mjml: row.mjml, text: row.text };
      await compileTemplate(source);
      return db.transaction((trx) => appendVersion(trx, source, authorId ?? null, version));
    },

    /** Goes back to the shipped default; the stored versions stay. */
    async useDefault(name: string, locale: string): Promise<void> {
      const n = knownName(name);
      if (!defaultSource(n, locale))
        throw new ValidationError(`there is no default ${name} template for locale ${locale}`);
      await db('templates').where({ name: n, locale }).update({ published_version: null, updated_at: db.fn.now() });
    },

    ...draftMethods(db),

    /** Line by line, per part: `a` is the older side. Versions, drafts and the default (version 0) alike. */
    diff: diffTemplates,
  };
}

export type TemplateStore = ReturnType<typeof createTemplateStore>;
