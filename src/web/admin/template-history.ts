// A template's history: every published version with its author and time (the shipped default as
// version 0), a diff between any two (or between a version and the draft), rolling back (an
// earlier version published again as the newest, so the history only grows), and going back to
// the shipped default.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { recordAdminEvent } from '../../admin/index.ts';
import { NotFoundError, ValidationError } from '../../errors.ts';
import { createTemplateStore, defaultSource, type TemplateName } from '../../templates/index.ts';
import type { AdminContext } from './context.ts';

type Params = { name: string; locale: string };

export async function templateHistoryPages(
  app: FastifyInstance,
  ctx: AdminContext,
  pages: { known(request: FastifyRequest<{ Params: Params }>, reply: FastifyReply): TemplateName | undefined },
): Promise<void> {
  const { db } = ctx.deps;
  const store = createTemplateStore(db);

  const historyPage = async (
    request: FastifyRequest<{ Params: Params }>,
    reply: FastifyReply,
    name: TemplateName,
    o: { notice?: string; error?: string } = {},
    status = 200,
  ) => {
    const { locale } = request.params;
    const versions = await store.versions(name, locale);
    const published = await store.published(name, locale).catch(() => undefined);
    return ctx.page(
      request,
      reply,
      'template-versions',
      {
        title: `History of ${name} (${locale})`,
        nav: 'templates',
        name,
        locale,
        versions,
        hasDefault: defaultSource(name, locale) !== undefined,
        publishedVersion: published?.version,
        draft: await store.draft(name, locale),
        csrf: {
          rollback: ctx.csrf(request, reply, 'template-rollback'),
          default: ctx.csrf(request, reply, 'template-default'),
        },
        ...o,
      },
      status,
    );
  };

  app.get<{ Params: Params; Querystring: { done?: string } }>(
    '/admin/templates/:name/:locale/versions',
    async (request, reply) => {
      const name = pages.known(request, reply);
      if (!name) return reply;
      const notice =
        request.query.done === 'rolled-back'
          ? 'Rolled back: that version is published again, as the newest.'
          : undefined;
      return historyPage(request, reply, name, { notice });
    },
  );

  /** `a` and `b`: version numbers (0 the default) or `draft`. */
  app.get<{ Params: Params; Querystring: { a?: string; b?: string } }>(
    '/admin/templates/:name/:locale/diff',
    async (request, reply) => {
      const name = pages.known(request, reply);
      if (!name) return reply;
      const { locale } = request.params;
      const side = async (v: string | undefined) => {
        if (v === 'draft') return store.draft(name, locale);
        const n = Number(v);
        if (!Number.isSafeInteger(n) || n < 0) return undefined;
        return store.version(name, locale, n).catch((err) => {
          if (err instanceof NotFoundError) return undefined;
          throw err;
        });
      };
      const [a, b] = await Promise.all([side(request.query.a), side(request.query.b)]);
      if (!a || !b)
        return historyPage(request, reply, name, { error: 'Pick two versions that exist to compare.' }, 404);
      const label = (v: string | undefined) =>
        v === 'draft' ? 'the draft' : v === '0' ? 'the shipped default' : `version ${v}`;
      return ctx.page(request, reply, 'template-diff', {
        title: `${name} (${locale}): ${label(request.query.a)} → ${label(request.query.b)}`,
        nav: 'templates',
        name,
        locale,
        diff: store.diff(a, b),
      });
    },
  );

  app.post<{ Params: Params; Body: Record<string, string | undefined> }>(
    '/admin/templates/:name/:locale/rollback',
    async (request, reply) => {
      const name = pages.known(request, reply);
      if (!name) return reply;
      const { locale } = request.params;
      if (!ctx.csrfOk(request, 'template-rollback', request.body?.csrf)) return ctx.expired(request, reply);
      const agent = ctx.agent(request);
      const version = Number(request.body?.version);
      if (!/^[1-9][0-9]{0,8}$/.test(String(request.body?.version ?? '')))
        return historyPage(request, reply, name, { error: 'Not rolled back: pick a version from the list.' }, 422);
      try {
        await db.transaction(async (trx) => {
          const v = await createTemplateStore(trx).publish(name, locale, version, agent.id);
          await recordAdminEvent(trx, agent.id, 'template.rolled_back', {
            template: name,
            locale,
            from: version,
            version: v.version,
          });
        });
      } catch (err) {
        if (err instanceof ValidationError || err instanceof NotFoundError)
          return historyPage(request, reply, name, { error: `Not rolled back: ${err.message}.` }, 422);
        throw err;
      }
      return reply.redirect(`/admin/templates/${name}/${locale}/versions?done=rolled-back`, 303);
    },
  );

  app.post<{ Params: Params; Body: Record<string, string | undefined> }>(
    '/admin/templates/:name/:locale/default',
    async (request, reply) => {
      const name = pages.known(request, reply);
      if (!name) return reply;
      const { locale } = request.params;
      if (!ctx.csrfOk(request, 'template-default', request.body?.csrf)) return ctx.expired(request, reply);
      const agent = ctx.agent(request);
      try {
        await db.transaction(async (trx) => {
          await createTemplateStore(trx).useDefault(name, locale);
          await recordAdminEvent(trx, agent.id, 'template.default_restored', { template: name, locale });
        });
      } catch (err) {
        if (err instanceof ValidationError) return historyPage(request, reply, name, { error: `${err.message}.` }, 422);
        throw err;
      }
      return reply.redirect(`/admin/templates/${name}/${locale}?done=default`, 303);
    },
  );
}
