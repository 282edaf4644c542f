// A customer opens a ticket outside mail (the portal): the ticket, its first message and files,
// its ticket.created event, and the acknowledgement a mailed request gets, in one transaction. The
// customer is its requester and its company is theirs, as for mail (the company rule placed the
// customer; the ticket takes where they are now).
import type { Knex } from 'knex';
import type { NewAttachment } from '../attachments/index.ts';
import { NotFoundError } from '../errors.ts';
import { enqueueOutbound, isNoReplyAddress } from '../outbound/index.ts';
import type { Boss } from '../queue/index.ts';
import { insertMessage, insertTicket, writerOf } from './customer-rows.ts';

/** The types a customer chooses from (agents may set any other; it is shown as it is). */
export const CUSTOMER_TICKET_TYPES = ['question', 'problem', 'incident', 'feature_request'] as const;

export interface NewCustomerTicket {
  customerId: number;
  inboxId: number;
  subject: string;
  text: string;
  /** one of TICKET_PRIORITIES; the table's default (normal) when not given */
  priority?: string;
  type?: string | null;
  attachments?: NewAttachment[];
  /** where it came from, for the events: 'portal' */
  via: string;
  /**
   * Queue the acknowledgement (the `ack` mail, with its reply address and link) to the customer's
   * primary address, at most this many an hour per address, as inbound mail has it; never to a
   * no-reply address.
   */
  ack?: { limitPerHour: number };
  /** recorded with the event */
  context?: Record<string, unknown>;
}

export interface NewCustomerTicketResult {
  ticketId: number;
  number: number;
  messageId: number;
  acked: boolean;
}

export async function openTicketByCustomer(
  db: Knex,
  boss: Boss,
  n: NewCustomerTicket,
): Promise<NewCustomerTicketResult> {
  return db.transaction(async (trx) => {
    const customer = await writerOf(trx, n.customerId);
    if (!customer) throw new NotFoundError(`no customer ${n.customerId}`);
    const subject = n.subject.slice(0, 998);
    const ticket = await insertTicket(trx, {
      inboxId: n.inboxId,
      onlyEnabled: true,
      writer: customer,
      subject,
      priority: n.priority,
      type: n.type?.trim() || null,
    });
    if (!ticket) throw new NotFoundError(`no inbox ${n.inboxId}`);
    const messageId = await insertMessage(trx, {
      ticketId: ticket.id,
      writer: customer,
      subject,
      text: n.text,
      attachments: n.attachments,
    });
    await trx('events').insert({
      type: 'ticket.created',
      ticket_id: ticket.id,
      customer_id: customer.id,
      data: { number: ticket.number, via: n.via, message_id: messageId, ...n.context },
    });
    const address = customer.address;
    const acked = Boolean(n.ack && address && (await mayAck(trx, address, n.ack.limitPerHour)));
    if (acked && address)
      await enqueueOutbound(boss, trx, {
        kind: 'ack',
        recipient: address,
        ticketId: ticket.id,
        customerId: customer.id,
      });
    return { ticketId: Number(ticket.id), number: ticket.number, messageId: Number(messageId), acked };
  });
}

/** Whether an ack may go to this address: not a no-reply one, and under the hourly limit. */
async function mayAck(trx: Knex.Transaction, address: string, limitPerHour: number): Promise<boolean> {
  if (isNoReplyAddress(address)) return false;
  const [row] = await trx('outbound_messages')
    .where({ recipient: address, kind: 'ack' })
    .where('created_at', '>', trx.raw(`now() - interval '1 hour'`))
    .count<{ count: string }[]>('id');
  return Number(row?.count ?? 0) < limitPerHour;
}
