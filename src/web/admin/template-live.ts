// As the admin types: the editor's script posts the template (as JSON, with the form's CSRF token
// in a header) and gets back its problems at their line and column, or the rendered mail (subject,
// HTML, text) with the chosen sample or ticket. Compiling MJML costs milliseconds per kilobyte, so
// it runs in a worker thread (previewInWorker), one preview at a time per admin and a few a second
// at most, with each part capped; the portal and the API never wait for it. And "send a test mail to me": the draft (or what the editor
// shows, when there is no draft) rendered and sent to the admin's own address by the outbound
// worker, like any mail.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { hit } from '../../access/index.ts';
import { recordAdminEvent } from '../../admin/index.ts';
import { ForbiddenError, NotFoundError, ValidationError } from '../../errors.ts';
import { enqueueTemplateTest } from '../../outbound/index.ts';
import { createTemplateStore, previewInWorker, TemplateError, type TemplateName } from '../../templates/index.ts';
import type { AdminContext } from './context.ts';
import { type EditorState, previewChoice, previewVariables, TEMPLATE_PART_MAX } from './template-vars.ts';

/** checks per admin per minute: typing with the script's pause between checks stays well under */
const LIVE_PER_MINUTE = { max: 240, windowSeconds: 60 };
const TESTS_PER_HOUR = { max: 30, windowSeconds: 3600 };

type Params = { name: string; locale: string };

interface Pages {
  known(request: FastifyRequest<{ Params: Params }>, reply: FastifyReply): TemplateName | undefined;
  editor(
    request: FastifyRequest<{ Params: Params }>,
    reply: FastifyReply,
    name: TemplateName,
    state?: EditorState,
    status?: number,
  ): Promise<FastifyReply>;
}

export async function templateLivePages(app: FastifyInstance, ctx: AdminContext, pages: Pages): Promise<void> {
  const { db, boss } = ctx.deps;
  const store = createTemplateStore(db);
  /** admins whose preview is being made now */
  const inFlight = new Set<number>();

  app.post<{ Params: Params; Body: Record<string, unknown> }>(
    '/admin/templates/:name/:locale/live',
    { bodyLimit: 3 * TEMPLATE_PART_MAX * 4 + 4096 },
    async (request, reply) => {
      if (!ctx.csrfOk(request, 'template-live', request.headers['x-csrf-token']))
        return reply.code(403).send({ error: 'The page is out of date: reload it.' });
      const name = pages.known(request, reply);
      if (!name) return reply;
      const agent = ctx.agent(request);
      if (!(await hit(db, `admin-live:${agent.id}`, LIVE_PER_MINUTE)))
        return reply.code(429).send({ error: 'Too many previews at once: the next one comes in a moment.' });
      const body = request.body ?? {};
      const part = (k: string) => String(body[k] ?? '');
      const source = {
        name,
        locale: request.params.locale,
        subject: part('subject'),
        mjml: part('mjml'),
        text: part('text'),
      };
      if ([source.subject, source.mjml, source.text].some((p) => p.length > TEMPLATE_PART_MAX))
        return reply.code(413).send({ error: `Each part may hold at most ${TEMPLATE_PART_MAX / 1024} KB.` });
      // one preview at a time per admin (in this process): the editor's script waits for each
      if (inFlight.has(agent.id)) return reply.code(429).send({ error: 'The last preview is still being made.' });
      inFlight.add(agent.id);
      try {
        const vars = await previewVariables(db, name, previewChoice(body), ctx.deps.publicUrl);
        if ('error' in vars) return reply.send({ problems: [], error: vars.error });
        const r = await previewInWorker(source, vars.vars);
        if (r.kind === 'problems') return reply.send({ problems: r.problems });
        if (r.kind === 'error') return reply.send({ problems: [], error: `No preview: ${r.message}.` });
        // what the admin sees now is the saved draft: it may be published
        const previewed = await store.notePreviewed(source);
        return reply.send({ problems: [], subject: r.subject, html: r.html, text: r.text, previewed });
      } finally {
        inFlight.delete(agent.id);
      }
    },
  );

  app.post<{ Params: Params; Body: Record<string, string | undefined> }>(
    '/admin/templates/:name/:locale/test',
    async (request, reply) => {
      const name = pages.known(request, reply);
      if (!name) return reply;
      const { locale } = request.params;
      if (!ctx.csrfOk(request, 'template-test', request.body?.csrf)) return ctx.expired(request, reply);
      const agent = ctx.agent(request);
      const fail = async (error: string, status: number) =>
        pages.editor(request, reply, name, { ...(await current()), error }, status);
      async function current(): Promise<EditorState> {
        const d = await store.draft(name!, locale);
        if (d) return { subject: d.subject, mjml: d.mjml, text: d.text, basis: { kind: 'draft' } };
        const v = await store.published(name!, locale);
        return {
          subject: v.subject,
          mjml: v.mjml,
          text: v.text,
          basis: v.version ? { kind: 'published', version: v.version } : { kind: 'default' },
        };
      }
      if (!(await hit(db, `admin-test-mail:${agent.id}`, TESTS_PER_HOUR)))
        return fail('Too many test mails this hour; please wait a while.', 429);
      const state = await current();
      const choice = previewChoice(request.body ?? {});
      const vars = await previewVariables(db, name, choice, ctx.deps.publicUrl);
      if ('error' in vars) return fail(vars.error, 422);
      try {
        const id = await enqueueTemplateTest(boss, db, {
          source: { name, locale, subject: state.subject, mjml: state.mjml, text: state.text },
          vars: vars.vars,
          agentId: agent.id,
        });
        await recordAdminEvent(db, agent.id, 'template.test_sent', {
          template: name,
          locale,
          outbound: id,
          draft: state.basis.kind === 'draft',
        });
      } catch (err) {
        if (
          err instanceof TemplateError ||
          err instanceof ValidationError ||
          err instanceof ForbiddenError ||
          err instanceof NotFoundError
        )
          return fail(`No test sent: ${err.message}`, 422);
        throw err;
      }
      const q = new URLSearchParams(
        Object.entries({ ticket: choice.ticket ? String(choice.ticket) : '', done: 'tested' }).filter(([, v]) => v),
      );
      return reply.redirect(`/admin/templates/${name}/${locale}?${q}`, 303);
    },
  );
}
