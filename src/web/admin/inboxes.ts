// /admin/inboxes: the addresses Inbound takes mail for. The list, adding one, and each inbox's
// settings as the mail that reads them takes them (inboxes/index.ts InboxSettings): its name and
// sender name, whether it takes mail, acks, the portal welcome, the language of automatic mail.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { recordAdminEvent } from '../../admin/index.ts';
import { createInboxStore, type InboxWithSettings } from '../../inboxes/index.ts';
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

const DONE: Record<string, string> = {
  added: 'The inbox is added: mail to it is taken at once.',
  saved: 'Saved.',
};

const FIELDS = new Set(['name', 'from_name', 'locale']);

interface EditValues {
  name: string;
  from_name: string;
  enabled: boolean;
  ack: boolean;
  portal_welcome: boolean;
  locale: string;
}

const valuesOf = (i: InboxWithSettings): EditValues => ({
  name: i.name,
  from_name: i.from_name ?? '',
  enabled: i.enabled,
  ack: i.settings.ack,
  portal_welcome: i.settings.portal_welcome,
  locale: i.settings.locale ?? '',
});

/** What differs, by key, for the record. */
const changed = (a: EditValues, b: EditValues) => (Object.keys(a) as (keyof EditValues)[]).filter((k) => a[k] !== b[k]);

export async function inboxPages(app: FastifyInstance, ctx: AdminContext): Promise<void> {
  const { db } = ctx.deps;
  const store = createInboxStore(db);

  const listPage = async (
    request: FastifyRequest,
    reply: FastifyReply,
    o: { add?: { address: string; name: string; error?: string }; notice?: string } = {},
    status = 200,
  ) =>
    ctx.page(
      request,
      reply,
      'inboxes',
      {
        title: 'Inboxes',
        nav: 'inboxes',
        inboxes: await store.listWithSettings(),
        add: o.add ?? { address: '', name: '' },
        notice: o.notice,
        csrf: ctx.csrf(request, reply, 'inbox-add'),
      },
      status,
    );

  const editPage = async (
    request: FastifyRequest,
    reply: FastifyReply,
    inbox: InboxWithSettings,
    o: { values?: EditValues; errors?: Record<string, string>; notice?: string } = {},
    status = 200,
  ) =>
    ctx.page(
      request,
      reply,
      'inbox-edit',
      {
        title: `Inbox ${inbox.address}`,
        nav: 'inboxes',
        inbox,
        values: o.values ?? valuesOf(inbox),
        errors: o.errors ?? {},
        notice: o.notice,
        csrf: ctx.csrf(request, reply, 'inbox-edit'),
      },
      status,
    );

  const inboxOf = async (raw: string) => {
    const id = idParam(raw);
    return id === undefined ? undefined : store.get(id);
  };

  app.get<{ Querystring: { done?: string } }>('/admin/inboxes', async (request, reply) =>
    listPage(request, reply, { notice: pick(DONE, request.query.done) }),
  );

  app.post<Form>('/admin/inboxes', async (request, reply) => {
    const bad = badToken(ctx, request, reply, 'inbox-add');
    if (bad) return bad;
    const add = { address: text(request.body, 'address').trim(), name: text(request.body, 'name').trim() };
    if (!add.address) return listPage(request, reply, { add: { ...add, error: 'Give the address.' } }, 422);
    if (add.name.length > 200 || /\p{Cc}/u.test(add.name))
      return listPage(
        request,
        reply,
        { add: { ...add, error: 'The name is one line of at most 200 characters.' } },
        422,
      );
    try {
      const inbox = await db.transaction(async (trx) => {
        const i = await createInboxStore(trx).add(add.address, add.name || undefined);
        await recordAdminEvent(trx, ctx.agent(request).id, 'inbox_added', {
          inbox_id: Number(i.id),
          address: i.address,
        });
        return i;
      });
      return reply.redirect(`/admin/inboxes/${inbox.id}?done=added`, 303);
    } catch (err) {
      const { status, message } = refusal(err);
      return listPage(request, reply, { add: { ...add, error: sentence(message) } }, status);
    }
  });

  app.get<{ Params: { id: string }; Querystring: { done?: string } }>('/admin/inboxes/:id', async (request, reply) => {
    const inbox = await inboxOf(request.params.id);
    if (!inbox) return notFound(ctx, request, reply, 'inbox');
    return editPage(request, reply, inbox, { notice: pick(DONE, request.query.done) });
  });

  app.post<{ Params: { id: string } } & Form>('/admin/inboxes/:id', async (request, reply) => {
    const bad = badToken(ctx, request, reply, 'inbox-edit');
    if (bad) return bad;
    const inbox = await inboxOf(request.params.id);
    if (!inbox) return notFound(ctx, request, reply, 'inbox');
    const values: EditValues = {
      name: text(request.body, 'name'),
      from_name: text(request.body, 'from_name'),
      enabled: checked(request.body, 'enabled'),
      ack: checked(request.body, 'ack'),
      portal_welcome: checked(request.body, 'portal_welcome'),
      locale: text(request.body, 'locale'),
    };
    try {
      await db.transaction(async (trx) => {
        const after = await createInboxStore(trx).update(inbox.id, values);
        await recordAdminEvent(trx, ctx.agent(request).id, 'inbox_changed', {
          inbox_id: inbox.id,
          address: inbox.address,
          changed: changed(valuesOf(inbox), valuesOf(after)),
        });
      });
    } catch (err) {
      const { status, message } = refusal(err);
      const { field, text: said } = fieldOf(message);
      const errors = field && FIELDS.has(field) ? { [field]: sentence(said) } : { form: sentence(message) };
      return editPage(request, reply, inbox, { values, errors }, status);
    }
    return reply.redirect(`/admin/inboxes/${inbox.id}?done=saved`, 303);
  });
}
