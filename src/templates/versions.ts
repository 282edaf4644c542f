// The rows of template_versions as the store reads and appends them. A version is never changed
// nor deleted: saving, publishing a draft and rolling back each append the next one and point
// templates.published_version at it, so the history only grows.
import type { Knex } from 'knex';
import type { Db } from '../db/index.ts';
import { NotFoundError, ValidationError } from '../errors.ts';
import type { TemplateSource } from './compile.ts';
import { isTemplateName, type TemplateName } from './schemas.ts';

export interface TemplateVersion extends TemplateSource {
  /** 0 for the shipped default. */
  version: number;
  authorId: number | null;
  /** null for the default, and when the author's account is gone */
  authorName: string | null;
  createdAt: Date | null;
  /** A rollback: the version this one is a copy of. */
  rolledBackFrom: number | null;
}

export interface VersionRow {
  locale: string;
  version: number;
  subject: string;
  mjml: string;
  text: string;
  author_id: number | null;
  author_name: string | null;
  rolled_back_from: number | null;
  created_at: Date;
}

export function versionQuery(db: Db, name: TemplateName, locale: string) {
  return db('template_versions as v')
    .join('templates as t', 't.id', 'v.template_id')
    .leftJoin('agents as a', 'a.id', 'v.author_id')
    .where({ 't.name': name, 't.locale': locale })
    .select<VersionRow[]>(
      't.locale',
      'v.version',
      'v.subject',
      'v.mjml',
      'v.text',
      'v.author_id',
      'a.name as author_name',
      'v.rolled_back_from',
      'v.created_at',
    );
}

export function toVersion(name: TemplateName, r: VersionRow): TemplateVersion {
  return {
    name,
    locale: r.locale,
    subject: r.subject,
    mjml: r.mjml,
    text: r.text,
    version: r.version,
    authorId: r.author_id,
    authorName: r.author_name,
    createdAt: r.created_at,
    rolledBackFrom: r.rolled_back_from,
  };
}

/** The shipped default as version 0. */
export function defaultVersion(source: TemplateSource): TemplateVersion {
  return { ...source, version: 0, authorId: null, authorName: null, createdAt: null, rolledBackFrom: null };
}

/**
 * Appends the next version of (name, locale) and publishes it, in the caller's transaction. The
 * source must have been compiled already: what is published always compiles.
 */
export async function appendVersion(
  trx: Knex.Transaction,
  src: TemplateSource,
  authorId: number | null,
  rolledBackFrom: number | null = null,
): Promise<TemplateVersion> {
  const { name, locale } = src;
  await trx.raw('INSERT INTO templates (name, locale) VALUES (?, ?) ON CONFLICT (name, locale) DO NOTHING', [
    name,
    locale,
  ]);
  // the row lock hands out version numbers one append at a time
  const t = await trx('templates').where({ name, locale }).forUpdate().first<{ id: number }>('id');
  const { rows } = await trx.raw<{ rows: VersionRow[] }>(
    `WITH v AS (
       INSERT INTO template_versions (template_id, version, subject, mjml, text, author_id, rolled_back_from)
       SELECT :id, coalesce(max(version), 0) + 1, :subject, :mjml, :text, :author, :from
         FROM template_versions WHERE template_id = :id
       RETURNING version, subject, mjml, text, author_id, rolled_back_from, created_at)
     SELECT v.*, a.name AS author_name FROM v LEFT JOIN agents a ON a.id = v.author_id`,
    { id: t!.id, subject: src.subject, mjml: src.mjml, text: src.text, author: authorId, from: rolledBackFrom },
  );
  const row = rows[0]!;
  await trx('templates').where({ id: t!.id }).update({ published_version: row.version, updated_at: trx.fn.now() });
  return toVersion(name, { ...row, locale });
}

const LOCALE = /^[a-z]{2}(?:-[a-z]{2})?$/;

export function knownName(name: string): TemplateName {
  if (!isTemplateName(name)) throw new NotFoundError(`no mail template named ${name}`);
  return name;
}

export function knownLocale(locale: string): string {
  if (!LOCALE.test(locale)) throw new ValidationError(`not a locale: ${locale} (write it as en, de or de-at)`);
  return locale;
}
