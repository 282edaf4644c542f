// A new ticket from the portal, in two steps that work without script: first the subject (and the
// inbox), a GET that shows the help articles matching it; then the message, priority and type
// (when the customer's permissions allow) and files. The ticket is the tickets domain's
// (openTicketByCustomer): the customer its requester, their company its company, a ticket.created
// event via 'portal', and the acknowledgement mail a mailed request gets (its reply address lets
// them go on by mail), at most ACKS_PER_HOUR an hour as for mail. The form (with its files) is read
// only once the customer may open tickets and is within the rate limit (uploads.ts).
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { createInboxStore } from '../../inboxes/index.ts';
import { listArticles } from '../../portal/index.ts';
import { CUSTOMER_TICKET_TYPES, openTicketByCustomer, TICKET_PRIORITIES } from '../../tickets/index.ts';
import type { PortalContext } from './context.ts';
import { allowed, type PortalCustomer, signedInCustomer } from './customer.ts';
import type { MessageKey } from './i18n.ts';
import { readUpload, UPLOAD_LIMITS, uploadProblem } from './uploads.ts';

const ACKS_PER_HOUR = 5;
const SUBJECT_MAX = 300;
const MAX_TEXT = 100_000;
const ARTICLES = 5;
const MB = 1024 * 1024;
const FORM = 'new-ticket';

interface NewForm {
  inbox: string;
  subject: string;
  body: string;
  priority: string;
  type: string;
}

export async function newTicketPages(app: FastifyInstance, ctx: PortalContext): Promise<void> {
  const { db } = ctx.deps;

  /** The inboxes open to the portal (the settings' inbox_ids that are enabled), in that order. */
  async function openInboxes(request: FastifyRequest): Promise<{ id: number; name: string }[]> {
    const ids = request.visitor.settings.inbox_ids;
    if (!ids.length) return [];
    const all = await createInboxStore(db).list();
    return ids.flatMap((id) => {
      const i = all.find((x) => Number(x.id) === id && x.enabled);
      return i ? [{ id: Number(i.id), name: i.from_name || i.name }] : [];
    });
  }

  /** The customer who may open tickets, or the answer already sent. */
  async function creator(request: FastifyRequest, reply: FastifyReply): Promise<PortalCustomer | undefined> {
    const c = await signedInCustomer(ctx, request, reply);
    if (c && !c.perms.create_tickets) {
      await message(request, reply, 'new.notAllowed', 403);
      return undefined;
    }
    return c;
  }

  function message(request: FastifyRequest, reply: FastifyReply, key: MessageKey, status: number) {
    return ctx.page(
      request,
      reply,
      'message',
      { title: ctx.t(request, 'new.title'), text: ctx.t(request, key) },
      status,
    );
  }

  async function page(
    request: FastifyRequest,
    reply: FastifyReply,
    c: PortalCustomer,
    inboxes: { id: number; name: string }[],
    form: NewForm,
    extra: { step: 'subject' | 'form'; articles?: { id: number; title: string }[]; error?: string },
    status = 200,
  ) {
    return ctx.page(
      request,
      reply,
      'tickets-new',
      {
        title: ctx.t(request, 'new.title'),
        ...extra,
        searched: extra.articles !== undefined,
        inboxes,
        form,
        perms: c.perms,
        priorities: TICKET_PRIORITIES,
        types: CUSTOMER_TICKET_TYPES,
        csrf: extra.step === 'form' ? ctx.csrf(request, reply, FORM) : '',
        subjectMax: SUBJECT_MAX,
        limits: {
          files: UPLOAD_LIMITS.files,
          file: UPLOAD_LIMITS.fileBytes / MB,
          total: UPLOAD_LIMITS.totalBytes / MB,
        },
      },
      status,
    );
  }

  app.get<{ Querystring: Record<string, unknown> }>('/portal/tickets/new', async (request, reply) => {
    const c = await creator(request, reply);
    if (!c) return reply;
    const inboxes = await openInboxes(request);
    if (!inboxes.length) return message(request, reply, 'new.noInbox', 200);
    const q = request.query;
    const subject = typeof q.subject === 'string' ? q.subject.trim().slice(0, SUBJECT_MAX) : '';
    const inbox = inboxes.find((i) => String(i.id) === q.inbox) ?? inboxes[0]!;
    const form = { inbox: String(inbox.id), subject, body: '', priority: 'normal', type: '' };
    const help = request.visitor.settings.help_docs;
    if (help && !subject) return page(request, reply, c, inboxes, form, { step: 'subject' });
    const articles = help
      ? (
          await listArticles(db, {
            locale: request.visitor.lang,
            published: true,
            query: anyWord(subject),
            limit: ARTICLES,
          })
        ).map((a) => ({ id: a.id, title: a.title }))
      : undefined;
    return page(request, reply, c, inboxes, form, { step: 'form', articles });
  });

  app.post('/portal/tickets/new', async (request, reply) => {
    const c = await creator(request, reply);
    if (!c) return reply;
    const inboxes = await openInboxes(request);
    if (!inboxes.length) return message(request, reply, 'new.noInbox', 403);
    // how often, before a byte of the form is read: every post counts
    if (!(await allowed(ctx, 'newTicket', c.account.customerId)))
      return page(
        request,
        reply,
        c,
        inboxes,
        { inbox: String(inboxes[0]!.id), subject: '', body: '', priority: 'normal', type: '' },
        { step: 'form', error: ctx.t(request, 'ticket.err.limited') },
        429,
      );
    const upload = await readUpload(request, (token) => ctx.csrfOk(request, FORM, token));
    if (upload === 'csrf')
      return ctx.page(
        request,
        reply,
        'message',
        { title: ctx.t(request, 'new.title'), text: ctx.t(request, 'form.expired') },
        403,
      );
    const f = upload.fields;
    // a field the customer may not set is refused, not ignored: the page never offered it
    if (('priority' in f && !c.perms.edit_priority) || ('type' in f && !c.perms.edit_type))
      return message(request, reply, 'ticket.err.notAllowed', 403);
    const form: NewForm = {
      inbox: f.inbox ?? '',
      subject: (f.subject ?? '').trim().slice(0, SUBJECT_MAX),
      body: (f.body ?? '').replace(/\r\n?/g, '\n').trim(),
      priority: f.priority ?? 'normal',
      type: f.type ?? '',
    };
    const again = (error: string, status: number) =>
      page(request, reply, c, inboxes, form, { step: 'form', error }, status);
    const files = upload.files.length ? ` ${ctx.t(request, 'ticket.err.filesAgain')}` : '';
    if (upload.problem)
      return again(
        uploadProblem((key, vars) => ctx.t(request, key, vars), upload.problem),
        413,
      );
    const inbox = inboxes.find((i) => String(i.id) === form.inbox);
    if (!inbox) return again(ctx.t(request, 'new.err.inbox') + files, 422);
    if (!form.subject) return again(ctx.t(request, 'new.err.subject') + files, 422);
    if (!form.body) return again(ctx.t(request, 'ticket.err.empty') + files, 422);
    if (form.body.length > MAX_TEXT) return again(ctx.t(request, 'ticket.err.tooLong') + files, 422);
    if (!(TICKET_PRIORITIES as readonly string[]).includes(form.priority))
      return again(ctx.t(request, 'ticket.err.notAllowed'), 422);
    if (form.type && !(CUSTOMER_TICKET_TYPES as readonly string[]).includes(form.type))
      return again(ctx.t(request, 'ticket.err.notAllowed'), 422);
    const created = await openTicketByCustomer(db, ctx.deps.boss, {
      customerId: c.account.customerId,
      inboxId: inbox.id,
      subject: form.subject,
      text: form.body,
      ...(c.perms.edit_priority && { priority: form.priority }),
      ...(c.perms.edit_type && { type: form.type || null }),
      attachments: upload.files,
      via: 'portal',
      ack: { limitPerHour: ACKS_PER_HOUR },
      context: { session_id: request.visitor.session!.id },
    });
    return reply.redirect(`/portal/tickets/${created.ticketId}?done=created`, 303);
  });
}

/**
 * A subject as a search for articles that share any of its words, the best matches first: people
 * write a sentence ("printer shows E42 since the update"), which no article has word for word.
 */
export function anyWord(subject: string): string {
  const words = subject.toLowerCase().match(/[\p{L}\p{N}]{2,40}/gu) ?? [];
  return [...new Set(words.filter((w) => w !== 'or'))].slice(0, 12).join(' or ');
}
