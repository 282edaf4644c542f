// The help center: the published articles in the visitor's language (English when there are none
// in theirs), searched with PostgreSQL's full-text search, and one article rendered from markdown
// and sanitized as mail is. Only while the portal's help_docs setting is on.
//
// Open without signing in, as the help centers of the help desks customers know are: the articles
// are written to be read by anyone (only published ones are shown, and they hold no customer's
// data), and a visitor who cannot sign in, or has no account yet, is the one who most needs them
// before writing to us. Nothing here reads or writes a customer's data, so nothing needs a session.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { articleHtml, getArticle, type HelpArticle, listArticles } from '../../portal/index.ts';
import { NotFoundError } from '../../errors.ts';
import type { PortalContext } from './context.ts';
import { formatTime } from './customer.ts';
import type { Language } from './i18n.ts';

const QUERY_MAX = 200;
const LIST_MAX = 100;
const EXCERPT = 180;

export async function helpPages(app: FastifyInstance, ctx: PortalContext): Promise<void> {
  const { db } = ctx.deps;
  const off = (request: FastifyRequest) => !request.visitor.settings.help_docs;

  /**
   * The published articles in `lang` that match; the English ones when `lang` has no published
   * article at all (a search that finds nothing in a language that has articles finds nothing).
   */
  async function articles(lang: Language, query: string): Promise<{ list: HelpArticle[]; fallback: boolean }> {
    const find = (locale: string) => listArticles(db, { locale, published: true, query, limit: LIST_MAX });
    const list = await find(lang);
    if (list.length || lang === 'en') return { list, fallback: false };
    if (query && (await listArticles(db, { locale: lang, published: true, limit: 1 })).length)
      return { list, fallback: false };
    const english = await find('en');
    return { list: english, fallback: english.length > 0 };
  }

  app.get<{ Querystring: Record<string, unknown> }>('/portal/help', async (request, reply) => {
    if (off(request)) return ctx.notFound(request, reply);
    const raw = request.query.q;
    const q = typeof raw === 'string' ? raw.trim().slice(0, QUERY_MAX) : '';
    const { list, fallback } = await articles(request.visitor.lang, q);
    return ctx.page(request, reply, 'help', {
      title: ctx.t(request, 'help.title'),
      q,
      queryMax: QUERY_MAX,
      fallback,
      articles: list.map((a) => ({ id: a.id, title: a.title, excerpt: excerpt(a.body), lang: a.locale })),
      ...links(request),
    });
  });

  app.get<{ Params: { id: string } }>('/portal/help/:id', async (request, reply) => {
    if (off(request) || !/^[1-9]\d{0,14}$/.test(request.params.id)) return ctx.notFound(request, reply);
    const article = await getArticle(db, Number(request.params.id), { published: true }).catch((err: unknown) => {
      if (err instanceof NotFoundError) return undefined;
      throw err;
    });
    if (!article) return ctx.notFound(request, reply);
    return ctx.page(request, reply, 'help-article', {
      title: article.title,
      article: { id: article.id, title: article.title, lang: article.locale, html: await articleHtml(article.body) },
      updated: article.updated_at,
      fmt: formatTime(request.visitor.lang),
      ...links(request),
    });
  });
}

/** Where "still need help?" leads: a new ticket when signed in, else signing in. */
function links(request: FastifyRequest): { contact: { href: string; label: 'help.newTicket' | 'help.signIn' } } {
  return request.visitor.session
    ? { contact: { href: '/portal/tickets/new', label: 'help.newTicket' } }
    : { contact: { href: '/portal/sign-in', label: 'help.signIn' } };
}

/** The start of an article's text, without markdown's marks, for the list. */
export function excerpt(markdown: string): string {
  const text = markdown
    .slice(0, 2000)
    .replace(/<[^>]*>/g, ' ')
    .replace(/!\[([^\]]*)\]\([^)]*\)/g, '$1')
    .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
    .replace(/^\s{0,3}(#{1,6}|>|[-*+]|\d+\.)\s+/gm, '')
    .replace(/[*_`~|]+/g, '')
    .replace(/\s+/g, ' ')
    .trim();
  return text.length > EXCERPT ? `${text.slice(0, EXCERPT).replace(/\s+\S*$/, '')}…` : text;
}
