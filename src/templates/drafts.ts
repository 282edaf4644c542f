// Drafts: what an admin is editing, one per template and locale. A draft is never rendered for a
// mail (the renderer reads versions only). It is checked when saved, and published only after it
// was previewed in exactly the content it has: publishing appends it as the next version.
import { createHash } from 'node:crypto';
import type { Db } from '../db/index.ts';
import { ValidationError } from '../errors.ts';
import { checkTemplate, compileTemplate } from './compile.ts';
import type { TemplateSourceLike } from './diff.ts';
import type { TemplateName } from './schemas.ts';
import { appendVersion, knownLocale, knownName, type TemplateVersion } from './versions.ts';

export interface TemplateDraft {
  name: TemplateName;
  locale: string;
  subject: string;
  mjml: string;
  text: string;
  authorId: number | null;
  authorName: string | null;
  updatedAt: Date;
  /** Previewed in the content it has now; only then can it be published. */
  previewed: boolean;
}

export interface DraftInput extends TemplateSourceLike {
  name: string;
  locale: string;
}

export interface SaveDraftInput extends DraftInput {
  authorId: number | null;
}

interface DraftRow {
  subject: string;
  mjml: string;
  text: string;
  author_id: number | null;
  author_name: string | null;
  updated_at: Date;
  previewed_hash: Buffer | null;
}

/**
 * The sha256 (hex) of a template's content: subject, MJML and text, line ends as LF (a browser's
 * form sends CRLF). The preview page and the draft it previews agree on content by this hash.
 */
export function contentHash(source: TemplateSourceLike): string {
  const { subject, mjml, text } = normalized(source);
  return createHash('sha256')
    .update(JSON.stringify([subject, mjml, text]))
    .digest('hex');
}

function normalized(s: TemplateSourceLike): TemplateSourceLike {
  const lf = (v: string) => v.replace(/\r\n?/g, '\n');
  return { subject: lf(s.subject), mjml: lf(s.mjml), text: lf(s.text) };
}

export function draftMethods(db: Db) {
  const select = (name: TemplateName, locale: string) =>
    db('template_drafts as d')
      .leftJoin('agents as a', 'a.id', 'd.author_id')
      .where({ 'd.name': name, 'd.locale': locale })
      .first<DraftRow | undefined>(
        'd.subject',
        'd.mjml',
        'd.text',
        'd.author_id',
        'a.name as author_name',
        'd.updated_at',
        'd.previewed_hash',
      );

  return {
    /** The draft of this template and locale, if there is one. */
    async draft(name: string, locale: string): Promise<TemplateDraft | undefined> {
      const n = knownName(name);
      const row = await select(n, locale);
      return row && toDraft(n, locale, row);
    },

    /**
     * Stores the draft (replacing the one before) after checking it: a TemplateError with every
     * problem, and nothing stored, when it does not compile. New content is not previewed yet.
     */
    async saveDraft(input: SaveDraftInput): Promise<TemplateDraft> {
      const name = knownName(input.name);
      const locale = knownLocale(input.locale);
      const content = normalized(input);
      await compileTemplate({ name, locale, ...content });
      const { rows } = await db.raw<{ rows: DraftRow[] }>(
        `WITH d AS (
           INSERT INTO template_drafts AS d (name, locale, subject, mjml, text, author_id)
           VALUES (:name, :locale, :subject, :mjml, :text, :author)
           ON CONFLICT (name, locale) DO UPDATE SET
             subject = excluded.subject, mjml = excluded.mjml, text = excluded.text,
             author_id = excluded.author_id, updated_at = now(),
             -- the preview stands only for the content it showed
             previewed_hash = CASE WHEN (d.subject, d.mjml, d.text) = (excluded.subject, excluded.mjml, excluded.text)
                                   THEN d.previewed_hash END
           RETURNING subject, mjml, text, author_id, updated_at, previewed_hash)
         SELECT d.*, a.name AS author_name FROM d LEFT JOIN agents a ON a.id = d.author_id`,
        { name, locale, ...content, author: input.authorId },
      );
      return toDraft(name, locale, rows[0]!);
    },

    /**
     * Marks the draft previewed, if its stored content is this content (the preview page calls it
     * after rendering exactly that). Whether it did.
     */
    async notePreviewed(input: DraftInput): Promise<boolean> {
      const name = knownName(input.name);
      const content = normalized(input);
      const marked = await db('template_drafts')
        .where({ name, locale: input.locale, ...content })
        .update({ previewed_hash: Buffer.from(contentHash(content), 'hex') });
      return marked > 0;
    },

    /**
     * Publishes the draft as the next version and deletes it, in one transaction. A
     * ValidationError when there is no draft, when it was not previewed as it is, or when it no
     * longer compiles (`details.problems`).
     */
    async publishDraft(name: string, locale: string, authorId: number | null): Promise<TemplateVersion> {
      const n = knownName(name);
      const row = await select(n, locale);
      if (!row) throw new ValidationError(`there is no draft of ${n} (${locale}) to publish`);
      const hash = contentHash(row);
      if (row.previewed_hash?.toString('hex') !== hash)
        throw new ValidationError(
          `the draft of ${n} (${locale}) changed since it was last previewed: preview it, then publish`,
        );
      const source = { name: n, locale, subject: row.subject, mjml: row.mjml, text: row.text };
      const { problems } = await checkTemplate(source);
      if (problems.length) {
        const list = problems.map((p) => `${p.part}${p.line ? ` line ${p.line}` : ''}: ${p.message}`).join('; ');
        throw new ValidationError(`the draft of ${n} (${locale}) no longer compiles: ${list}`, { problems });
      }
      return db.transaction(async (trx) => {
        // taken only as it was checked: a save in between makes this delete nothing
        const taken = await trx('template_drafts')
          .where({ name: n, locale, subject: row.subject, mjml: row.mjml, text: row.text })
          .where('previewed_hash', Buffer.from(hash, 'hex'))
          .delete();
        if (!taken)
          throw new ValidationError(`the draft of ${n} (${locale}) changed while it was published: preview it again`);
        return appendVersion(trx, source, authorId);
      });
    },

    /** Throws the draft away; whether there was one. */
    async discardDraft(name: string, locale: string): Promise<boolean> {
      return (
        (await db('template_drafts')
          .where({ name: knownName(name), locale })
          .delete()) > 0
      );
    },
  };
}

function toDraft(name: TemplateName, locale: string, r: DraftRow): TemplateDraft {
  return {
    name,
    locale,
    subject: r.subject,
    mjml: r.mjml,
    text: r.text,
    authorId: r.author_id,
    authorName: r.author_name,
    updatedAt: r.updated_at,
    previewed: r.previewed_hash !== null && r.previewed_hash.toString('hex') === contentHash(r),
  };
}
