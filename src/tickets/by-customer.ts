// What a customer does to a ticket outside mail, from the public page and the portal: write on it
// and close it. The status rule (status.ts) decides what their message does to the ticket and who
// is told; each runs in one transaction that holds the ticket's row lock, as removing a follower
// takes it, so that someone who has just left a ticket cannot write on it.
import type { Knex } from 'knex';
import type { NewAttachment } from '../attachments/index.ts';
import { ForbiddenError, NotFoundError } from '../errors.ts';
import { enqueueOutbound } from '../outbound/index.ts';
import type { Boss } from '../queue/index.ts';
import { isTicketMember } from './members.ts';
import {
  changeStatus,
  customerMayClose,
  customerReopens,
  customerWrites,
  type StatusChange,
  type TicketStatus,
} from './status.ts';
import { insertMessage, insertTicket, type Writer, writerOf } from './customer-rows.ts';

/** The customer no longer belongs to the ticket (or never did). */
export class NotAMember extends ForbiddenError {
  constructor(ticketId: number) {
    super(`not a member of ticket ${ticketId}`);
  }
}

export interface CustomerAction {
  ticketId: number;
  customerId: number;
  /** where it came from, for the events: 'ticket page', 'portal' */
  via: string;
  /** more to check under the ticket's lock (e.g. that the link used is still live); throws to refuse */
  stillAllowed?: (trx: Knex.Transaction) => Promise<void>;
  /** recorded with the events */
  context?: Record<string, unknown>;
}

export interface CustomerMessageResult {
  messageId: number;
  /** the ticket the message went to: the one written on, or a new one linked to it */
  ticketId: number;
  /** set when the ticket was closed too long ago and the message opened a new one */
  linked?: { ticketId: number; number: number };
}

interface LockedTicket {
  id: number;
  inbox_id: number;
  number: number;
  subject: string;
  status: TicketStatus;
  closed_at: Date | null;
  requester_id: number | null;
}

async function lockTicket(trx: Knex.Transaction, a: CustomerAction): Promise<LockedTicket> {
  const t = await trx('tickets')
    .where({ id: a.ticketId })
    .forUpdate()
    .first('id', 'inbox_id', 'number', 'subject', 'status', 'closed_at', 'requester_id');
  if (!t) throw new NotFoundError(`no ticket ${a.ticketId}`);
  if (!(await isTicketMember(trx, a.ticketId, a.customerId))) throw new NotAMember(a.ticketId);
  await a.stillAllowed?.(trx);
  return t;
}

/**
 * A customer's message: appended, reopening the ticket, or opening a new linked one (status.ts).
 * Files come with it from the portal (the caller checks their sizes).
 */
export async function postCustomerMessage(
  db: Knex,
  a: CustomerAction & { text: string; reopenDays: number; attachments?: NewAttachment[] },
): Promise<CustomerMessageResult> {
  return db.transaction(async (trx) => {
    const t = await lockTicket(trx, a);
    const customer = (await writerOf(trx, a.customerId))!;
    const effect = customerWrites(t, new Date(), a.reopenDays);
    const linked = effect.effect === 'new_linked_ticket' ? await openLinkedTicket(trx, t, customer, a) : undefined;
    const ticketId = linked?.ticketId ?? t.id;
    const messageId = await insertMessage(trx, {
      ticketId,
      writer: customer,
      subject: /^re:/i.test(t.subject) ? t.subject : `Re: ${t.subject}`,
      text: a.text,
      attachments: a.attachments,
    });
    await trx('tickets')
      .where({ id: ticketId })
      .update({
        last_message_at: trx.fn.now(),
        updated_at: trx.fn.now(),
        ...(effect.effect === 'reopen' && statusColumns(trx, effect.change)),
      });
    const by = { ticket_id: ticketId, customer_id: customer.id };
    await trx('events').insert([
      { ...by, type: 'ticket.customer_replied', data: { via: a.via, message_id: messageId, ...a.context } },
      ...(effect.effect === 'reopen' ? [{ ...by, type: 'ticket.reopened', data: { from: t.status, via: a.via } }] : []),
    ]);
    return { messageId, ticketId, ...(linked && { linked }) };
  });
}

/**
 * The new ticket a late message opens: the writer's, linked to the one they wrote on. A writer who
 * already opened one from this ticket that is not done writes there again, so an old link used
 * over and over opens one ticket, not one a message.
 */
async function openLinkedTicket(
  trx: Knex.Transaction,
  t: LockedTicket,
  customer: Writer,
  a: CustomerAction,
): Promise<{ ticketId: number; number: number }> {
  const open = await trx('tickets')
    .where({ previous_ticket_id: t.id, requester_id: customer.id })
    .whereNotIn('status', ['resolved', 'closed'])
    .orderBy('id', 'desc')
    .first('id', 'number');
  if (open) return { ticketId: open.id, number: open.number };
  const row = (await insertTicket(trx, {
    inboxId: t.inbox_id,
    writer: customer,
    subject: t.subject,
    previousTicketId: t.id,
  }))!;
  await trx('events').insert({
    type: 'ticket.created',
    ticket_id: row.id,
    customer_id: customer.id,
    data: { number: row.number, previousTicketId: t.id, via: a.via },
  });
  return { ticketId: row.id, number: row.number };
}

/** A customer closes the ticket; the requester is told unless they closed it themselves. */
export async function closeByCustomer(db: Knex, boss: Boss, a: CustomerAction): Promise<void> {
  await db.transaction(async (trx) => {
    const t = await lockTicket(trx, a);
    if (!customerMayClose(t.status)) return;
    const change = changeStatus(t.status, 'closed', {
      kind: 'customer',
      isRequester: Number(t.requester_id) === a.customerId,
    })!;
    await trx('tickets')
      .where({ id: t.id })
      .update({ ...statusColumns(trx, change), updated_at: trx.fn.now() });
    await trx('events').insert({
      type: 'ticket.closed',
      ticket_id: t.id,
      customer_id: a.customerId,
      data: { from: t.status, via: a.via, ...a.context },
    });
    if (change.tellRequester) await tellRequesterClosed(trx, boss, t.id, t.requester_id);
  });
}

/**
 * A customer says a resolved ticket is not solved (the portal's "No, reopen"): it opens again as
 * their message would (status.ts customerReopens). False when there was nothing to reopen.
 */
export async function reopenByCustomer(db: Knex, a: CustomerAction & { reopenDays: number }): Promise<boolean> {
  return db.transaction(async (trx) => {
    const t = await lockTicket(trx, a);
    const change = customerReopens(t, new Date(), a.reopenDays);
    if (!change) return false;
    await trx('tickets')
      .where({ id: t.id })
      .update({ ...statusColumns(trx, change), updated_at: trx.fn.now() });
    await trx('events').insert({
      type: 'ticket.reopened',
      ticket_id: t.id,
      customer_id: a.customerId,
      data: { from: t.status, via: a.via, ...a.context },
    });
    return true;
  });
}

/** What a customer may change on a ticket besides its status (when their permissions allow). */
export interface CustomerFields {
  /** one of TICKET_PRIORITIES (the caller checks; the table's CHECK holds it too) */
  priority?: string;
  /** null: none */
  type?: string | null;
}

/** A customer changes the priority or type; a ticket.updated event says from what to what. */
export async function setFieldsByCustomer(db: Knex, a: CustomerAction & { fields: CustomerFields }): Promise<boolean> {
  return db.transaction(async (trx) => {
    const t = await lockTicket(trx, a);
    const current = await trx('tickets').where({ id: t.id }).first('priority', 'type');
    const changes: Record<string, unknown> = {};
    const { priority, type } = a.fields;
    if (priority !== undefined && priority !== current.priority) changes.priority = priority;
    if (type !== undefined && (type?.trim() || null) !== current.type) changes.type = type?.trim() || null;
    if (!Object.keys(changes).length) return false;
    await trx('tickets')
      .where({ id: t.id })
      .update({ ...changes, updated_at: trx.fn.now() });
    const from = Object.fromEntries(Object.keys(changes).map((k) => [k, current[k]]));
    await trx('events').insert({
      type: 'ticket.updated',
      ticket_id: t.id,
      customer_id: a.customerId,
      data: { via: a.via, from, to: changes, ...a.context },
    });
    return true;
  });
}

/** The columns a status change writes. */
export function statusColumns(trx: Knex.Transaction, change: StatusChange): Record<string, unknown> {
  return {
    status: change.to,
    ...(change.closedAt === 'now' && { closed_at: trx.fn.now() }),
    ...(change.closedAt === null && { closed_at: null }),
  };
}

/**
 * The ticket_closed mail to the requester's primary address, queued with the change; at most one a
 * day per ticket, so that closing, reopening by mail and closing again (which a follower can do)
 * does not become a stream of mail to the requester. The callers hold the ticket's row lock, so
 * two closings cannot both find none.
 */
export async function tellRequesterClosed(
  trx: Knex.Transaction,
  boss: Boss,
  ticketId: number,
  requesterId: number | null,
): Promise<void> {
  if (!requesterId) return;
  const requester = await trx('customer_emails').where({ customer_id: requesterId, is_primary: true }).first('address');
  const toldToday = await trx('outbound_messages')
    .where({ ticket_id: ticketId, kind: 'ticket_closed', customer_id: requesterId })
    .where('created_at', '>', trx.raw(`now() - interval '1 day'`))
    .first('id');
  if (requester && !toldToday)
    await enqueueOutbound(boss, trx, {
      kind: 'ticket_closed',
      recipient: requester.address,
      ticketId,
      customerId: requesterId,
    });
}
