// /help-articles: the portal's help docs, markdown in one language each. Agents read them (to link
// one in a reply); admins write them. The portal shows the published ones (web/portal/help.ts).
import { z } from 'zod';
import type { Knex } from 'knex';
import {
  articleHtml,
  createArticle,
  deleteArticle,
  getArticle,
  listArticles,
  updateArticle,
} from '../../portal/index.ts';
import { type ApiRoutes, idParam } from './route.ts';

const TAG = 'help articles';
const date = z.iso.datetime();
const locale = z
  .string()
  .trim()
  .toLowerCase()
  .regex(/^[a-z]{2}(-[a-z]{2})?$/, 'a language tag such as en or de-at');

const articleSummary = z.object({
  id: z.number().int(),
  locale: z.string().describe("the article's language: the portal shows it to visitors who speak it"),
  title: z.string(),
  published: z.boolean().describe('shown in the portal'),
  created_at: date,
  updated_at: date,
});

const articleItem = articleSummary.extend({
  rank: z.number().optional().describe('with q: how well it matches (higher first)'),
});

const article = articleSummary.extend({
  body: z.string().describe('markdown'),
  html: z.string().describe('the body as the portal shows it: markdown rendered, then sanitized as mail is'),
});

const articleCreate = z
  .object({
    title: z.string().min(1).max(300),
    body: z.string().max(200_000).describe('markdown (no raw script survives: it is sanitized when shown)'),
    locale: locale.default('en'),
    published: z.boolean().default(false),
  })
  .strict();

const articleUpdate = z
  .object({
    title: z.string().min(1).max(300).optional(),
    body: z.string().max(200_000).optional(),
    locale: locale.optional(),
    published: z.boolean().optional(),
  })
  .strict();

const withHtml = async <T extends { body: string }>(a: T) => ({ ...a, html: await articleHtml(a.body) });

export function helpArticleRoutes(api: ApiRoutes, { db }: { db: Knex }): void {
  api.add({
    method: 'GET',
    url: '/help-articles',
    tag: TAG,
    summary:
      'List help articles: with q, the best matches first (full-text, in each article’s language); else newest first',
    query: z.object({
      locale: locale.optional(),
      published: z
        .enum(['true', 'false'])
        .transform((v) => v === 'true')
        .optional()
        .describe('only published (true) or only drafts (false); both by default'),
      q: z.string().max(200).optional().describe('words to find, as people type them ("quotes", or, -word)'),
      limit: z.coerce.number().int().min(1).max(200).default(50).describe('at most this many, 1-200'),
    }),
    response: {
      status: 200,
      description: 'The articles, without their bodies',
      schema: z.object({ data: z.array(articleItem) }),
    },
    handler: async ({ query }) => {
      const rows = await listArticles(db, {
        locale: query.locale,
        published: query.published,
        query: query.q,
        limit: query.limit,
      });
      return { data: rows.map(({ body: _, ...summary }) => summary) };
    },
  });

  api.add({
    method: 'GET',
    url: '/help-articles/:id',
    tag: TAG,
    summary: 'Show a help article, its markdown and the HTML the portal shows',
    params: idParam,
    response: { status: 200, description: 'The article', schema: article },
    handler: async ({ params }) => withHtml(await getArticle(db, params.id)),
  });

  api.add({
    method: 'POST',
    url: '/help-articles',
    tag: TAG,
    admin: true,
    summary: 'Write a help article',
    body: articleCreate,
    response: { status: 201, description: 'The article', schema: article },
    handler: async ({ body }) => withHtml(await createArticle(db, body)),
  });

  api.add({
    method: 'PATCH',
    url: '/help-articles/:id',
    tag: TAG,
    admin: true,
    summary: 'Change a help article (publish it with published: true)',
    params: idParam,
    body: articleUpdate,
    response: { status: 200, description: 'The article', schema: article },
    handler: async ({ params, body }) => withHtml(await updateArticle(db, params.id, body)),
  });

  api.add({
    method: 'DELETE',
    url: '/help-articles/:id',
    tag: TAG,
    admin: true,
    summary: 'Delete a help article',
    params: idParam,
    response: { status: 204, description: 'Deleted' },
    handler: ({ params }) => deleteArticle(db, params.id),
  });
}
