// The customer's tickets: the list (own, followed, the company's when allowed; status, subject
// search, pages newest activity first), a ticket (its public conversation and files, the details
// their permissions show), and what they do to it: reply with files, close, answer "solved?",
// change priority or type. Every route asks the tickets domain whether the customer may see the
// ticket (a 404 when not, as for one that does not exist); writing is for its members (requester
// and followers), checked under the ticket's lock by the domain; every permission is checked here,
// on the server, whatever the page showed. A form with files is read only once all of that and the
// rate limit have said yes (uploads.ts).
import multipart from '@fastify/multipart';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { contentDisposition } from '../../attachments/index.ts';
import { countPortalList } from '../../metrics/index.ts';
import {
  closeByCustomer,
  CUSTOMER_SCOPES,
  CUSTOMER_TICKET_TYPES,
  type CustomerTicket,
  customerMayClose,
  customerReopens,
  customerTicket,
  customerTickets,
  customerTicketsPage,
  customerTicketsStatement,
  type CustomerScope,
  type CustomerViewer,
  mayView,
  NotAMember,
  postCustomerMessage,
  publicAttachment,
  publicConversation,
  reopenByCustomer,
  SEARCH_MAX_LENGTH,
  setFieldsByCustomer,
  TICKET_PRIORITIES,
  TICKET_STATUSES,
  type TicketStatus,
} from '../../tickets/index.ts';
import { type Along, type PortalContext, sameViewer } from './context.ts';
import { allowed, formatTime, type PortalCustomer, signedInCustomer, ticketId, typeLabel } from './customer.ts';
import type { MessageKey } from './i18n.ts';
import { newTicketPages } from './ticket-new.ts';
import { closeUnread, MULTIPART_OPTIONS, readUpload, UPLOAD_LIMITS, uploadProblem } from './uploads.ts';

const MAX_TEXT = 100_000;
const MB = 1024 * 1024;
const DONE = ['reply', 'close', 'solved', 'reopen', 'fields', 'created', 'linked'] as const;

type IdRoute = { Params: { id: string }; Body: Record<string, string> };

export async function ticketPages(app: FastifyInstance, ctx: PortalContext): Promise<void> {
  const { db } = ctx.deps;
  // files come only to these pages: the parser is registered for them alone; a body they answer
  // before reading to its end closes the connection rather than being drained
  await app.register(async (scope) => {
    await scope.register(multipart, MULTIPART_OPTIONS);
    scope.addHook('onSend', closeUnread);
    routes(scope);
    await newTicketPages(scope, ctx);
  });

  function routes(app: FastifyInstance) {
    // the list's statement goes with the session's (context.ts Along): one round trip a page
    const along: Along = (request, viewer) =>
      customerTicketsStatement(viewer, listFilter(request.query as Record<string, unknown>, viewer));
    app.get<{ Querystring: Record<string, unknown> }>(
      '/portal/tickets',
      { config: { along } },
      async (request, reply) => {
        const c = await signedInCustomer(ctx, request, reply);
        if (!c) return reply;
        const filter = listFilter(request.query, c.viewer);
        const { scope, status, search, after } = filter;
        const scopes = scopesOf(c.viewer);
        const company = scopes.includes('company');
        const sent = request.visitor.along;
        const oneTrip = sent !== undefined && sameViewer(sent.viewer, c.viewer);
        countPortalList(oneTrip ? 'one' : 'two');
        const page = oneTrip
          ? customerTicketsPage(sent.rows, c.viewer, filter)
          : await customerTickets(db, c.viewer, filter);
        const link = (more: Record<string, string>) =>
          `/portal/tickets?${new URLSearchParams({
            ...(scope !== 'all' && { scope }),
            ...(status && { status }),
            ...(search && { q: search }),
            ...more,
          })}`;
        return ctx.page(request, reply, 'tickets', {
          title: ctx.t(request, 'tickets.title'),
          items: page.items,
          filter: { scope, status: status ?? '', q: search, filtered: Boolean(status || search || scope !== 'all') },
          scopes,
          statuses: TICKET_STATUSES,
          next: page.next && link({ after: page.next }),
          first: after ? link({}) : undefined,
          show: { requester: company, priority: c.perms.view_priority, type: c.perms.view_type },
          searchMax: SEARCH_MAX_LENGTH,
          fmt: formatTime(request.visitor.lang),
          typeLabel: typeLabel(request.visitor.lang),
        });
      },
    );

    app.get<{ Params: { id: string }; Querystring: { done?: string } }>(
      '/portal/tickets/:id',
      async (request, reply) => {
        const c = await signedInCustomer(ctx, request, reply);
        if (!c) return reply;
        const ticket = await visibleTicket(c, request.params.id);
        if (!ticket) return ctx.notFound(request, reply);
        const done = DONE.find((d) => d === request.query.done);
        return ticketPage(request, reply, c, ticket, { notice: done && ctx.t(request, `ticket.done.${done}`) });
      },
    );

    app.get<{ Params: { id: string; sha: string }; Querystring: { name?: unknown } }>(
      '/portal/tickets/:id/attachments/:sha',
      async (request, reply) => {
        const c = await signedInCustomer(ctx, request, reply);
        if (!c) return reply;
        const id = ticketId(request.params.id);
        if (id === undefined || !(await mayView(db, c.viewer, id))) return ctx.notFound(request, reply);
        // as the public page: files of this ticket's public messages only; `name` only picks which
        // of the file's stored names it goes by
        const { name } = request.query;
        const asked = typeof name === 'string' && name.length <= 1024 ? name : undefined;
        const a = await publicAttachment(db, id, request.params.sha, asked);
        if (!a) return ctx.notFound(request, reply);
        const inlineable = /^image\/(png|jpeg|gif|webp)$/.test(a.content_type);
        return reply
          .header('content-type', inlineable ? a.content_type : 'application/octet-stream')
          .header('content-disposition', contentDisposition(inlineable ? 'inline' : 'attachment', a.name))
          .header('content-security-policy', "default-src 'none'; sandbox")
          .send(a.content);
      },
    );

    app.post<IdRoute>('/portal/tickets/:id/reply', async (request, reply) => {
      const c = await signedInCustomer(ctx, request, reply);
      if (!c) return reply;
      const ticket = await visibleTicket(c, request.params.id);
      if (!ticket) return ctx.notFound(request, reply);
      // who may write, and how often, before a byte of the form is read: every post counts
      if (!ticket.member)
        return ticketPage(request, reply, c, ticket, { error: ctx.t(request, 'ticket.err.notAllowed') }, 403);
      if (!(await allowed(ctx, 'reply', c.account.customerId)))
        return ticketPage(
          request,
          reply,
          c,
          ticket,
          { error: ctx.t(request, 'ticket.err.limited'), form: { body: '' } },
          429,
        );
      const form = await readUpload(request, (token) => ctx.csrfOk(request, `ticket:${ticket.id}:reply`, token));
      if (form === 'csrf') return expired(request, reply);
      const text = (form.fields.body ?? '').replace(/\r\n?/g, '\n').trim();
      const again = (error: string, status: number) =>
        ticketPage(request, reply, c, ticket, { error, form: { body: text } }, status);
      if (form.problem)
        return again(
          uploadProblem((key, vars) => ctx.t(request, key, vars), form.problem),
          413,
        );
      if (!text && form.files.length === 0) return again(ctx.t(request, 'ticket.err.empty'), 422);
      if (text.length > MAX_TEXT) return again(ctx.t(request, 'ticket.err.tooLong'), 422);
      try {
        const posted = await postCustomerMessage(db, {
          ticketId: ticket.id,
          customerId: c.account.customerId,
          via: 'portal',
          context: { session_id: request.visitor.session!.id },
          text,
          attachments: form.files,
          reopenDays: ctx.deps.reopenDays,
        });
        if (posted.linked) return reply.redirect(`/portal/tickets/${posted.linked.ticketId}?done=linked`, 303);
      } catch (err) {
        if (err instanceof NotAMember) return again(ctx.t(request, 'ticket.err.gone'), 403);
        throw err;
      }
      return reply.redirect(`/portal/tickets/${ticket.id}?done=reply`, 303);
    });

    // closing, and "yes, it's solved" on a resolved ticket (the same change: closeByCustomer)
    app.post<IdRoute>('/portal/tickets/:id/close', (request, reply) =>
      change(request, reply, 'close', async (c, ticket) => {
        if (!c.perms.close_tickets || !customerMayClose(ticket.status)) return false;
        const solved = request.body?.solved === 'yes' && ticket.status === 'resolved';
        await closeByCustomer(db, ctx.deps.boss, {
          ticketId: ticket.id,
          customerId: c.account.customerId,
          via: 'portal',
          context: solved ? { confirmed_solved: true } : {},
        });
        return solved ? 'solved' : 'close';
      }),
    );

    // "no, reopen it" on a resolved ticket: as a message of theirs would (status.ts customerReopens)
    app.post<IdRoute>('/portal/tickets/:id/reopen', (request, reply) =>
      change(request, reply, 'reopen', async (c, ticket) => {
        const done = await reopenByCustomer(db, {
          ticketId: ticket.id,
          customerId: c.account.customerId,
          via: 'portal',
          reopenDays: ctx.deps.reopenDays,
        });
        return done && 'reopen';
      }),
    );

    app.post<IdRoute>('/portal/tickets/:id/fields', (request, reply) =>
      change(request, reply, 'fields', async (c, ticket) => {
        const body = request.body ?? {};
        const fields: { priority?: string; type?: string | null } = {};
        if ('priority' in body) {
          if (!c.perms.edit_priority || !(TICKET_PRIORITIES as readonly string[]).includes(body.priority ?? ''))
            return false;
          fields.priority = body.priority;
        }
        if ('type' in body) {
          const type = body.type ?? '';
          const choices: readonly string[] = [...CUSTOMER_TICKET_TYPES, ticket.type ?? '', ''];
          if (!c.perms.edit_type || !choices.includes(type)) return false;
          fields.type = type || null;
        }
        if (!Object.keys(fields).length) return false;
        await setFieldsByCustomer(db, {
          ticketId: ticket.id,
          customerId: c.account.customerId,
          via: 'portal',
          fields,
        });
        return 'fields';
      }),
    );
  }

  /** The ticket when the customer may see it (by a path id), else undefined. */
  async function visibleTicket(c: PortalCustomer, param: string): Promise<CustomerTicket | undefined> {
    const id = ticketId(param);
    return id === undefined ? undefined : customerTicket(db, c.viewer, id);
  }

  /**
   * A change by a form without files: the customer, the ticket they may see, the form's token, the
   * limit; then `act`, which says what was done (the notice) or false when it is not theirs to do.
   */
  async function change(
    request: FastifyRequest<IdRoute>,
    reply: FastifyReply,
    form: string,
    act: (c: PortalCustomer, ticket: CustomerTicket) => Promise<(typeof DONE)[number] | false>,
  ) {
    const c = await signedInCustomer(ctx, request, reply);
    if (!c) return reply;
    const ticket = await visibleTicket(c, request.params.id);
    if (!ticket) return ctx.notFound(request, reply);
    if (!ctx.csrfOk(request, `ticket:${ticket.id}:${form}`, request.body?.csrf)) return expired(request, reply);
    const refuse = (key: MessageKey, status: number) =>
      ticketPage(request, reply, c, ticket, { error: ctx.t(request, key) }, status);
    if (!ticket.member) return refuse('ticket.err.notAllowed', 403);
    if (!(await allowed(ctx, 'change', c.account.customerId))) return refuse('ticket.err.limited', 429);
    let done: (typeof DONE)[number] | false;
    try {
      done = await act(c, ticket);
    } catch (err) {
      if (err instanceof NotAMember) return refuse('ticket.err.gone', 403);
      throw err;
    }
    if (!done) return refuse('ticket.err.notAllowed', 403);
    return reply.redirect(`/portal/tickets/${ticket.id}?done=${done}`, 303);
  }

  function expired(request: FastifyRequest, reply: FastifyReply) {
    return ctx.page(
      request,
      reply,
      'message',
      { title: ctx.t(request, 'tickets.title'), text: ctx.t(request, 'form.expired') },
      403,
    );
  }

  /** The ticket's page, with a notice, or an error and what was typed. */
  async function ticketPage(
    request: FastifyRequest,
    reply: FastifyReply,
    c: PortalCustomer,
    ticket: CustomerTicket,
    extra: { notice?: string; error?: string; form?: { body: string } },
    status = 200,
  ) {
    const base = `/portal/tickets/${ticket.id}`;
    const member = ticket.member;
    const resolved = ticket.status === 'resolved';
    const csrf = (form: string) => ctx.csrf(request, reply, `ticket:${ticket.id}:${form}`);
    const canReopen = member && customerReopens(ticket, new Date(), ctx.deps.reopenDays) !== undefined;
    const canConfirm = member && resolved && c.perms.close_tickets;
    const canClose = member && c.perms.close_tickets && !resolved && customerMayClose(ticket.status);
    const canEdit = member && (c.perms.edit_priority || c.perms.edit_type);
    return ctx.page(
      request,
      reply,
      'tickets-show',
      {
        title: `#${ticket.number} ${ticket.subject || ctx.t(request, 'tickets.noSubject')}`,
        ticket,
        base,
        messages: await publicConversation(db, ticket.id, `${base}/attachments`),
        perms: c.perms,
        member,
        resolved,
        canReopen,
        canConfirm,
        canClose,
        canEdit,
        priorities: TICKET_PRIORITIES,
        types: [...new Set([...CUSTOMER_TICKET_TYPES, ...(ticket.type ? [ticket.type] : [])])],
        csrf: {
          reply: member ? csrf('reply') : '',
          close: canClose || canConfirm ? csrf('close') : '',
          reopen: canReopen ? csrf('reopen') : '',
          fields: canEdit ? csrf('fields') : '',
        },
        limits: {
          files: UPLOAD_LIMITS.files,
          file: UPLOAD_LIMITS.fileBytes / MB,
          total: UPLOAD_LIMITS.totalBytes / MB,
        },
        notice: extra.notice,
        error: extra.error,
        // a reply's problem is said on its form (where its text is kept); any other at the top
        errorInForm: member && extra.form !== undefined,
        form: extra.form ?? { body: '' },
        fmt: formatTime(request.visitor.lang),
        typeLabel: typeLabel(request.visitor.lang),
      },
      status,
    );
  }
}

/** The scopes a viewer may pick: the company's only with the permission and a company. */
function scopesOf(v: CustomerViewer): readonly CustomerScope[] {
  return v.companyTickets && v.companyId !== null ? CUSTOMER_SCOPES : CUSTOMER_SCOPES.filter((s) => s !== 'company');
}

/** The list's filter from its query string: anything unknown or too long is left out or cut. */
function listFilter(
  q: Record<string, unknown>,
  v: CustomerViewer,
): { scope: CustomerScope; status?: TicketStatus; search: string; after?: string } {
  return {
    scope: scopesOf(v).find((s) => s === q.scope) ?? 'all',
    status: TICKET_STATUSES.find((s) => s === q.status),
    search: typeof q.q === 'string' ? q.q.trim().slice(0, SEARCH_MAX_LENGTH) : '',
    after: typeof q.after === 'string' ? q.after.slice(0, 40) : undefined,
  };
}
