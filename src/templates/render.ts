// Rendering a mail: find what is published for the template in the reader's language (an admin's
// version, else the shipped default, else English), then run its cached compiled functions.
import type { Db } from '../db/index.ts';
import { NotFoundError } from '../errors.ts';
import { cachedDefault, cachedVersion } from './cache.ts';
import { compileTemplate, type CompiledTemplate, type RenderedMail } from './compile.ts';
import { defaultSource } from './defaults.ts';
import { isTemplateName, type TemplateName } from './schemas.ts';

const FALLBACK_LOCALE = 'en';

export interface RenderedTemplate extends RenderedMail {
  /** The locale that was used, after falling back. */
  locale: string;
  /** The published version that was used; 0 for the shipped default. */
  version: number;
}

/** 'de-AT' -> ['de-at', 'de', 'en']: the most specific first, English last. */
function localeCandidates(locale: string): string[] {
  const full = locale.trim().toLowerCase().replace(/_/g, '-');
  const base = full.split('-')[0]!;
  return [...new Set([full, base, FALLBACK_LOCALE])].filter((l) => /^[a-z]{2}(?:-[a-z]{2})?$/.test(l));
}

export async function renderTemplate(db: Db, name: string, locale: string, vars: unknown): Promise<RenderedTemplate> {
  const { compiled, version } = await publishedTemplate(db, name, locale);
  return { ...compiled.render(vars), locale: compiled.locale, version };
}

/** The compiled template the next mail of this name and locale is rendered with. */
export async function publishedTemplate(
  db: Db,
  name: string,
  locale: string,
): Promise<{ compiled: CompiledTemplate; version: number }> {
  if (!isTemplateName(name)) throw new NotFoundError(`no mail template named ${name}`);
  const candidates = localeCandidates(locale);
  const { rows } = await db.raw<{ rows: { locale: string; version: number; version_id: number }[] }>(
    `SELECT t.locale, t.published_version AS version, v.id AS version_id
       FROM templates t JOIN template_versions v ON v.template_id = t.id AND v.version = t.published_version
      WHERE t.name = ? AND t.locale = ANY(?)`,
    [name, candidates],
  );
  for (const candidate of candidates) {
    const row = rows.find((r) => r.locale === candidate);
    if (row) {
      const t = { name, locale: row.locale, version: row.version, versionId: row.version_id };
      return { compiled: await cachedVersion(db, t, () => loadVersion(db, name, t.versionId)), version: row.version };
    }
    const source = defaultSource(name, candidate);
    if (source) return { compiled: await cachedDefault(name, candidate, () => compileTemplate(source)), version: 0 };
  }
  throw new NotFoundError(`no ${name} template for ${locale} nor ${FALLBACK_LOCALE}`);
}

async function loadVersion(db: Db, name: TemplateName, versionId: number): Promise<CompiledTemplate> {
  const row = await db('template_versions as v')
    .join('templates as t', 't.id', 'v.template_id')
    .where('v.id', versionId)
    .first<{ locale: string; subject: string; mjml: string; text: string } | undefined>(
      't.locale',
      'v.subject',
      'v.mjml',
      'v.text',
    );
  if (!row) throw new NotFoundError(`template version ${versionId} is gone`);
  return compileTemplate({ name, ...row });
}
