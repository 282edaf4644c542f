// Help articles: markdown in one locale each, published or not, found with PostgreSQL's full-text
// search in the article's language (the help_articles.search column). Markdown becomes HTML
// through marked and then the same sanitizer as mail: an article can hold no script.
import { marked } from 'marked';
import type { Db } from '../db/index.ts';
import { NotFoundError, ValidationError } from '../errors.ts';
import { sanitizeHtml } from '../mail/index.ts';

export interface HelpArticle {
  id: number;
  locale: string;
  title: string;
  body: string;
  published: boolean;
  created_at: Date;
  updated_at: Date;
}

export interface HelpArticleInput {
  locale?: string;
  title?: string;
  body?: string;
  published?: boolean;
}

const COLUMNS = ['id', 'locale', 'title', 'body', 'published', 'created_at', 'updated_at'];
const LOCALE = /^[a-z]{2}(-[a-z]{2})?$/;

function clean(input: HelpArticleInput): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (input.locale !== undefined) {
    const locale = input.locale.trim().toLowerCase();
    if (!LOCALE.test(locale)) throw new ValidationError('locale: a language tag such as en or de-at');
    out.locale = locale;
  }
  if (input.title !== undefined) {
    const title = input.title.trim();
    if (!title || title.length > 300) throw new ValidationError('title: 1 to 300 characters');
    out.title = title;
  }
  if (input.body !== undefined) {
    if (input.body.length > 200_000) throw new ValidationError('body: at most 200,000 characters');
    out.body = input.body.replace(/\r\n?/g, '\n');
  }
  if (input.published !== undefined) out.published = input.published;
  return out;
}

export async function createArticle(db: Db, input: HelpArticleInput): Promise<HelpArticle> {
  if (input.title === undefined || input.body === undefined) throw new ValidationError('title and body are needed');
  const [row] = await db('help_articles').insert(clean(input)).returning(COLUMNS);
  return row;
}

export async function updateArticle(db: Db, id: number, input: HelpArticleInput): Promise<HelpArticle> {
  const [row] = await db('help_articles')
    .where({ id })
    .update({ ...clean(input), updated_at: db.fn.now() })
    .returning(COLUMNS);
  if (!row) throw new NotFoundError(`no help article ${id}`);
  return row;
}

export async function deleteArticle(db: Db, id: number): Promise<void> {
  if ((await db('help_articles').where({ id }).delete()) === 0) throw new NotFoundError(`no help article ${id}`);
}

export async function getArticle(db: Db, id: number, opts: { published?: boolean } = {}): Promise<HelpArticle> {
  const q = db('help_articles').where({ id });
  if (opts.published) q.where({ published: true });
  const row = await q.first(COLUMNS);
  if (!row) throw new NotFoundError(`no help article ${id}`);
  return row;
}

export interface ArticleFilter {
  /** a language (de: de, de-at, de-ch, ...) or one regional variant (de-at) */
  locale?: string;
  published?: boolean;
  /** words to find (full-text, in the articles' language); the best matches first */
  query?: string;
  limit?: number;
}

/** Articles by filter: with a query, the best matches first; without, the newest first. */
export async function listArticles(db: Db, f: ArticleFilter = {}): Promise<(HelpArticle & { rank?: number })[]> {
  const q = db('help_articles')
    .select(COLUMNS)
    .limit(Math.min(f.limit ?? 50, 200));
  const locale = f.locale?.toLowerCase();
  if (locale) q.where((w) => w.where('locale', locale).orWhere('locale', 'like', `${locale}-%`));
  if (f.published !== undefined) q.where('published', f.published);
  const words = f.query?.trim().slice(0, 200);
  if (words) {
    // websearch_to_tsquery reads what people type (quotes, or, -word) and never fails on it; the
    // query is parsed in both configurations the column is built with
    const tsq = `(websearch_to_tsquery('english', ?) || websearch_to_tsquery('german', ?))`;
    q.whereRaw(`search @@ ${tsq}`, [words, words])
      .select(db.raw(`ts_rank(search, ${tsq}) AS rank`, [words, words]))
      .orderBy('rank', 'desc');
  }
  return q.orderBy('updated_at', 'desc');
}

/** An article's body as safe HTML. */
export async function articleHtml(body: string): Promise<string> {
  return sanitizeHtml(await marked.parse(body, { gfm: true }));
}
