// The email templates: a list of every template and locale with its state, and the editor. The
// editor shows the draft when there is one, else what is published (an admin version or the
// shipped default), with its variables beside it and a preview rendered on the server (so it works
// without script, and the preview an admin saw is the one that lets a draft be published). Saving
// checks the template (problems come back on the form at their line and column); publishing takes
// a saved draft that was previewed as it is. Live checking as one types is template-live.ts; the
// history (versions, diff, rollback) template-history.ts.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { recordAdminEvent } from '../../admin/index.ts';
import { NotFoundError, ValidationError } from '../../errors.ts';
import {
  createTemplateStore,
  DEFAULT_LOCALES,
  isTemplateName,
  previewInWorker,
  TemplateError,
  type TemplateName,
  templateFields,
} from '../../templates/index.ts';
import { pick } from './area-forms.ts';
import type { AdminContext } from './context.ts';
import { templateHistoryPages } from './template-history.ts';
import { templateLivePages } from './template-live.ts';
import {
  type EditorState,
  type PreviewChoice,
  previewChoice,
  previewVariables,
  TEMPLATE_PART_MAX,
} from './template-vars.ts';

/** What each mail is, for people choosing one to edit. */
export const TEMPLATE_PURPOSES: Record<TemplateName, string> = {
  ack: 'Confirms a new ticket to the customer who wrote in',
  agent_reply: "Carries an agent's reply to the customer",
  follower_update: "Tells people copied on a ticket about an agent's reply",
  ticket_closed: 'Tells the customer their ticket was closed',
  ticket_link: 'A fresh link to a ticket page, asked for on an expired one',
  portal_welcome: 'Welcomes a customer to the portal, with a link to set a password',
  portal_invite: 'Invites a customer to the portal',
  password_reset: 'A link to set a new portal password',
  sign_in_link: 'A link that signs a customer in to the portal',
  signup_link: 'Completes a sign-up to the portal',
};
const LOCALE = /^[a-z]{2}(?:-[a-z]{2})?$/;
const DONE: Record<string, string> = {
  saved: 'Draft saved. Check the preview, then publish it.',
  published: 'Published: the next mail uses it.',
  discarded: 'Draft discarded.',
  default: 'The shipped default is in use again.',
  tested: 'Test mail queued to your address.',
};

type Params = { name: string; locale: string };
type Form = { Params: Params; Body: Record<string, string | undefined> };

export async function templatePages(app: FastifyInstance, ctx: AdminContext): Promise<void> {
  const { db } = ctx.deps;
  const store = createTemplateStore(db);

  /** The template of the URL, or a 404 page. */
  const known = (request: FastifyRequest<{ Params: Params }>, reply: FastifyReply): TemplateName | undefined => {
    const { name, locale } = request.params;
    if (isTemplateName(name) && LOCALE.test(locale)) return name;
    ctx.message(request, reply, 'Not found', 'There is no such template.', 404);
    return undefined;
  };

  app.get('/admin/templates', async (request, reply) => {
    const list = await store.list();
    return ctx.page(request, reply, 'templates', {
      title: 'Email templates',
      nav: 'templates',
      templates: list.map((t) => ({ ...t, purpose: TEMPLATE_PURPOSES[t.name] })),
      locales: DEFAULT_LOCALES,
      csrf: ctx.csrf(request, reply, 'template-locale'),
    });
  });

  // a locale that ships no default starts from the English one
  app.post<{ Body: Record<string, string | undefined> }>('/admin/templates/locale', async (request, reply) => {
    if (!ctx.csrfOk(request, 'template-locale', request.body?.csrf)) return ctx.expired(request, reply);
    const name = String(request.body?.name ?? '');
    const locale = String(request.body?.locale ?? '')
      .trim()
      .toLowerCase();
    if (!isTemplateName(name) || !LOCALE.test(locale))
      return ctx.message(
        request,
        reply,
        'Not a locale',
        'Write a locale as two letters (fr) or with a region (fr-ca).',
        422,
      );
    return reply.redirect(`/admin/templates/${name}/${locale}`, 303);
  });

  /** The editor page: `state` when a form came back, else the draft, the published version or the default. */
  const editor = async (
    request: FastifyRequest<{ Params: Params }>,
    reply: FastifyReply,
    name: TemplateName,
    given?: EditorState,
    status = 200,
  ) => {
    const { locale } = request.params;
    const state = given ?? (await currentState(name, locale));
    const choice = state.choice ?? previewChoice(request.query as Record<string, unknown>);
    const source = { name, locale, subject: state.subject, mjml: state.mjml, text: state.text };
    const draft = await store.draft(name, locale);
    // the preview the admin will see; when it shows the saved draft as it is, that draft counts as previewed
    let preview: { subject: string; html: string; text: string } | undefined;
    let previewError: string | undefined;
    let problems = state.problems ?? [];
    const vars = await previewVariables(db, name, choice, ctx.deps.publicUrl);
    if ('error' in vars) previewError = vars.error;
    else if (!problems.length) {
      const r = await previewInWorker(source, vars.vars);
      if (r.kind === 'mail') {
        preview = r;
        if (draft) await store.notePreviewed(source);
      } else if (r.kind === 'problems') problems = r.problems;
      else previewError = `No preview: ${r.message}.`;
    }
    const fresh = draft && (await store.draft(name, locale));
    return ctx.page(
      request,
      reply,
      'template-edit',
      {
        title: `${name} (${locale})`,
        nav: 'templates',
        scripts: ['editor.js'],
        name,
        locale,
        purpose: TEMPLATE_PURPOSES[name],
        state,
        choice,
        problems,
        preview,
        previewError,
        draft: fresh,
        fields: templateFields(name),
        published: await store.published(name, locale).catch((err) => {
          if (err instanceof NotFoundError) return undefined;
          throw err;
        }),
        csrf: {
          save: ctx.csrf(request, reply, 'template-save'),
          publish: ctx.csrf(request, reply, 'template-publish'),
          discard: ctx.csrf(request, reply, 'template-discard'),
          test: ctx.csrf(request, reply, 'template-test'),
          live: ctx.csrf(request, reply, 'template-live'),
        },
      },
      status,
    );
  };

  async function currentState(name: TemplateName, locale: string): Promise<EditorState> {
    const draft = await store.draft(name, locale);
    if (draft) return { subject: draft.subject, mjml: draft.mjml, text: draft.text, basis: { kind: 'draft' } };
    try {
      const v = await store.published(name, locale);
      return {
        subject: v.subject,
        mjml: v.mjml,
        text: v.text,
        basis: v.version === 0 ? { kind: 'default' } : { kind: 'published', version: v.version },
      };
    } catch (err) {
      if (!(err instanceof NotFoundError)) throw err;
      // a locale with nothing of its own yet starts from English
      const en = await store.published(name, 'en');
      return { subject: en.subject, mjml: en.mjml, text: en.text, basis: { kind: 'default' } };
    }
  }

  app.get<{ Params: Params; Querystring: Record<string, string> }>(
    '/admin/templates/:name/:locale',
    async (request, reply) => {
      const name = known(request, reply);
      if (!name) return reply;
      const notice = pick(DONE, request.query.done);
      const state = await currentState(name, request.params.locale);
      return editor(request, reply, name, { ...state, notice });
    },
  );

  app.post<Form>('/admin/templates/:name/:locale/draft', async (request, reply) => {
    const name = known(request, reply);
    if (!name) return reply;
    const body = request.body ?? {};
    const typed: EditorState = {
      subject: String(body.subject ?? ''),
      mjml: String(body.mjml ?? ''),
      text: String(body.text ?? ''),
      basis: { kind: 'draft' },
      choice: previewChoice(body),
    };
    if ([typed.subject, typed.mjml, typed.text].some((part) => part.length > TEMPLATE_PART_MAX))
      return editor(
        request,
        reply,
        name,
        { ...typed, error: `Not saved: each part may hold at most ${TEMPLATE_PART_MAX / 1024} KB.` },
        413,
      );
    if (!ctx.csrfOk(request, 'template-save', body.csrf))
      return editor(
        request,
        reply,
        name,
        { ...typed, error: 'The form expired. Your text is below: save again.' },
        403,
      );
    const agent = ctx.agent(request);
    try {
      await store.saveDraft({ name, locale: request.params.locale, ...typed, authorId: agent.id });
    } catch (err) {
      if (err instanceof TemplateError)
        return editor(
          request,
          reply,
          name,
          { ...typed, problems: err.problems, error: 'Not saved: the template has problems (listed below).' },
          422,
        );
      throw err;
    }
    await recordAdminEvent(db, agent.id, 'template.draft_saved', { template: name, locale: request.params.locale });
    return reply.redirect(
      `/admin/templates/${name}/${request.params.locale}?${choiceQuery(typed.choice!)}done=saved`,
      303,
    );
  });

  app.post<Form>('/admin/templates/:name/:locale/publish', async (request, reply) => {
    const name = known(request, reply);
    if (!name) return reply;
    const { locale } = request.params;
    if (!ctx.csrfOk(request, 'template-publish', request.body?.csrf)) return ctx.expired(request, reply);
    const agent = ctx.agent(request);
    try {
      const v = await db.transaction(async (trx) => {
        const version = await createTemplateStore(trx).publishDraft(name, locale, agent.id);
        await recordAdminEvent(trx, agent.id, 'template.published', {
          template: name,
          locale,
          version: version.version,
        });
        return version;
      });
      request.log.info({ template: name, locale, version: v.version }, 'template published');
    } catch (err) {
      if (err instanceof ValidationError) {
        const state = await currentState(name, locale);
        return editor(request, reply, name, { ...state, error: `Not published: ${err.message}.` }, 422);
      }
      throw err;
    }
    return reply.redirect(`/admin/templates/${name}/${locale}?done=published`, 303);
  });

  app.post<Form>('/admin/templates/:name/:locale/discard', async (request, reply) => {
    const name = known(request, reply);
    if (!name) return reply;
    const { locale } = request.params;
    if (!ctx.csrfOk(request, 'template-discard', request.body?.csrf)) return ctx.expired(request, reply);
    const agent = ctx.agent(request);
    await store.discardDraft(name, locale);
    await recordAdminEvent(db, agent.id, 'template.draft_discarded', { template: name, locale });
    return reply.redirect(`/admin/templates/${name}/${locale}?done=discarded`, 303);
  });

  await templateLivePages(app, ctx, { known, editor });
  await templateHistoryPages(app, ctx, { known });
}

/** The preview choice as query parameters (ending in &), so a redirect keeps it. */
export function choiceQuery(c: PreviewChoice): string {
  const q = new URLSearchParams();
  if (c.ticket) q.set('ticket', String(c.ticket));
  if (!c.attachments) q.set('no_attachments', 'on');
  if (!c.customerName) q.set('no_name', 'on');
  if (c.longSubject) q.set('long_subject', 'on');
  const s = q.toString();
  return s ? `${s}&` : '';
}
