// /admin/help: the portal's help articles. A list by language and state; writing one (markdown,
// with a preview rendered by the portal domain's articleHtml, as the portal shows it); publishing
// and unpublishing; deleting after a confirmation page.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { recordAdminEvent } from '../../admin/index.ts';
import { NotFoundError } from '../../errors.ts';
import {
  articleHtml,
  createArticle,
  deleteArticle,
  getArticle,
  type HelpArticle,
  listArticles,
  updateArticle,
} from '../../portal/index.ts';
import type { AdminContext } from './context.ts';
import {
  badToken,
  checked,
  fieldOf,
  type Form,
  idParam,
  notFound,
  pick,
  refusal,
  sentence,
  text,
} from './area-forms.ts';

const LIST_MAX = 200;
const LOCALE = /^[a-z]{2}(-[a-z]{2})?$/;

interface Draft {
  title: string;
  locale: string;
  body: string;
  published: boolean;
}

const DONE: Record<string, string> = {
  created: 'The article is saved.',
  saved: 'Saved.',
  published: 'Published: the portal shows it.',
  unpublished: 'Unpublished: the portal no longer shows it.',
  deleted: 'The article is deleted.',
};

const FIELDS: Record<string, string> = { title: 'Title', locale: 'Language', body: 'Text' };

type IdRoute = { Params: { id: string } } & Form;

export async function helpPages(app: FastifyInstance, ctx: AdminContext): Promise<void> {
  const { db } = ctx.deps;

  /** The article of a path, or undefined (the page then answers 404). */
  const articleOf = async (raw: string): Promise<HelpArticle | undefined> => {
    const id = idParam(raw);
    if (id === undefined) return undefined;
    return getArticle(db, id).catch((err: unknown) => {
      if (err instanceof NotFoundError) return undefined;
      throw err;
    });
  };

  const editPage = async (
    request: FastifyRequest,
    reply: FastifyReply,
    o: { article?: HelpArticle; draft: Draft; preview?: boolean; errors?: Record<string, string>; notice?: string },
    status = 200,
  ) =>
    ctx.page(
      request,
      reply,
      'help-edit',
      {
        title: o.article ? `Edit: ${o.article.title}` : 'New help article',
        nav: 'help',
        article: o.article,
        draft: o.draft,
        preview: o.preview ? await articleHtml(o.draft.body) : undefined,
        errors: o.errors ?? {},
        notice: o.notice,
        csrf: {
          edit: ctx.csrf(request, reply, 'help-article'),
          publish: ctx.csrf(request, reply, 'help-publish'),
        },
      },
      status,
    );

  const draftOf = (request: FastifyRequest<Form>, published = false): Draft => ({
    title: text(request.body, 'title'),
    locale: text(request.body, 'locale').trim().toLowerCase(),
    body: text(request.body, 'body'),
    published,
  });

  /** A refusal of the domain on the form: the field it names, with what was typed. */
  const refused = (err: unknown) => {
    const { status, message } = refusal(err);
    const { field, text: said } = fieldOf(message);
    const errors: Record<string, string> =
      field && FIELDS[field] ? { [field]: sentence(said) } : { form: sentence(message) };
    return { status, errors };
  };

  app.get<{ Querystring: { locale?: string; state?: string; done?: string } }>(
    '/admin/help',
    async (request, reply) => {
      const q = request.query;
      const locale = typeof q.locale === 'string' && LOCALE.test(q.locale) ? q.locale : '';
      const state = q.state === 'published' || q.state === 'draft' ? q.state : '';
      const [articles, every] = await Promise.all([
        listArticles(db, {
          ...(locale && { locale }),
          ...(state && { published: state === 'published' }),
          limit: LIST_MAX,
        }),
        listArticles(db, { limit: LIST_MAX }),
      ]);
      const locales = [...new Set(['en', 'de', ...every.map((a) => a.locale), ...(locale ? [locale] : [])])].sort();
      return ctx.page(request, reply, 'help-list', {
        title: 'Help articles',
        nav: 'help',
        articles: articles.sort((a, b) => a.locale.localeCompare(b.locale)),
        locales,
        filter: { locale, state },
        full: articles.length === LIST_MAX,
        notice: pick(DONE, q.done),
        csrf: ctx.csrf(request, reply, 'help-publish'),
      });
    },
  );

  app.get('/admin/help/new', async (request, reply) =>
    editPage(request, reply, { draft: { title: '', locale: 'en', body: '', published: false } }),
  );

  app.post<Form>('/admin/help', async (request, reply) => {
    const bad = badToken(ctx, request, reply, 'help-article');
    if (bad) return bad;
    const draft = draftOf(request, checked(request.body, 'published'));
    if (text(request.body, 'intent') === 'preview') return editPage(request, reply, { draft, preview: true });
    try {
      const article = await db.transaction(async (trx) => {
        const a = await createArticle(trx, draft);
        await recordAdminEvent(trx, ctx.agent(request).id, 'help_article_created', {
          article_id: Number(a.id),
          title: a.title,
          locale: a.locale,
          published: a.published,
        });
        return a;
      });
      return reply.redirect(`/admin/help/${article.id}?done=created`, 303);
    } catch (err) {
      const { status, errors } = refused(err);
      return editPage(request, reply, { draft, errors }, status);
    }
  });

  app.get<{ Params: { id: string }; Querystring: { done?: string } }>('/admin/help/:id', async (request, reply) => {
    const article = await articleOf(request.params.id);
    if (!article) return notFound(ctx, request, reply, 'help article');
    return editPage(request, reply, {
      article,
      draft: article,
      preview: true,
      notice: pick(DONE, request.query.done),
    });
  });

  app.post<IdRoute>('/admin/help/:id', async (request, reply) => {
    const bad = badToken(ctx, request, reply, 'help-article');
    if (bad) return bad;
    const article = await articleOf(request.params.id);
    if (!article) return notFound(ctx, request, reply, 'help article');
    const draft = draftOf(request, article.published);
    if (text(request.body, 'intent') === 'preview') return editPage(request, reply, { article, draft, preview: true });
    try {
      await db.transaction(async (trx) => {
        const a = await updateArticle(trx, article.id, { title: draft.title, locale: draft.locale, body: draft.body });
        await recordAdminEvent(trx, ctx.agent(request).id, 'help_article_changed', {
          article_id: Number(a.id),
          title: a.title,
          locale: a.locale,
        });
      });
      return reply.redirect(`/admin/help/${article.id}?done=saved`, 303);
    } catch (err) {
      const { status, errors } = refused(err);
      return editPage(request, reply, { article, draft, errors }, status);
    }
  });

  app.post<IdRoute>('/admin/help/:id/publish', async (request, reply) => {
    const bad = badToken(ctx, request, reply, 'help-publish');
    if (bad) return bad;
    const article = await articleOf(request.params.id);
    if (!article) return notFound(ctx, request, reply, 'help article');
    const published = text(request.body, 'published') === 'true';
    if (published !== article.published)
      await db.transaction(async (trx) => {
        await updateArticle(trx, article.id, { published });
        await recordAdminEvent(
          trx,
          ctx.agent(request).id,
          published ? 'help_article_published' : 'help_article_unpublished',
          {
            article_id: Number(article.id),
            title: article.title,
          },
        );
      });
    const done = published ? 'published' : 'unpublished';
    return reply.redirect(
      text(request.body, 'back') === 'list' ? `/admin/help?done=${done}` : `/admin/help/${article.id}?done=${done}`,
      303,
    );
  });

  app.get<{ Params: { id: string } }>('/admin/help/:id/delete', async (request, reply) => {
    const article = await articleOf(request.params.id);
    if (!article) return notFound(ctx, request, reply, 'help article');
    return ctx.page(request, reply, 'help-delete', {
      title: `Delete: ${article.title}`,
      nav: 'help',
      article,
      csrf: ctx.csrf(request, reply, 'help-delete'),
    });
  });

  app.post<IdRoute>('/admin/help/:id/delete', async (request, reply) => {
    const bad = badToken(ctx, request, reply, 'help-delete');
    if (bad) return bad;
    const article = await articleOf(request.params.id);
    if (!article) return notFound(ctx, request, reply, 'help article');
    await db.transaction(async (trx) => {
      await deleteArticle(trx, article.id);
      await recordAdminEvent(trx, ctx.agent(request).id, 'help_article_deleted', {
        article_id: Number(article.id),
        title: article.title,
        locale: article.locale,
      });
    });
    return reply.redirect('/admin/help?done=deleted', 303);
  });
}
