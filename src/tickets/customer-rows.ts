// The rows a customer's own writing makes outside mail (the ticket page and the portal): who is
// writing, a ticket numbered in its inbox, and a message with its files. by-customer.ts (replies,
// late replies opening a linked ticket) and new-by-customer.ts (new tickets) both write them.
import type { Knex } from 'knex';
import { type NewAttachment, storeAttachments } from '../attachments/index.ts';
import { newReplyToken } from './mail.ts';

export interface Writer {
  id: number;
  name: string;
  company_id: number | null;
  /** the primary address */
  address: string | null;
}

/** The customer writing, with their primary address. */
export async function writerOf(trx: Knex.Transaction, customerId: number): Promise<Writer | undefined> {
  return trx('customers as c')
    .leftJoin('customer_emails as e', function primary() {
      this.on('e.customer_id', 'c.id').andOnVal('e.is_primary', true);
    })
    .where('c.id', customerId)
    .first('c.id', 'c.name', 'c.company_id', 'e.address');
}

/**
 * A ticket of the writer's, numbered by its inbox (the inbox row's lock hands out numbers in order,
 * as for mail); undefined when there is no such inbox (or, with onlyEnabled, none enabled).
 */
export async function insertTicket(
  trx: Knex.Transaction,
  t: {
    inboxId: number;
    onlyEnabled?: boolean;
    writer: Writer;
    subject: string;
    previousTicketId?: number;
    priority?: string;
    type?: string | null;
  },
): Promise<{ id: number; number: number } | undefined> {
  const [inbox] = await trx('inboxes')
    .where({ id: t.inboxId, ...(t.onlyEnabled && { enabled: true }) })
    .increment('next_ticket_number', 1)
    .returning(trx.raw('next_ticket_number - 1 AS number'));
  if (!inbox) return undefined;
  const [row] = await trx('tickets')
    .insert({
      inbox_id: t.inboxId,
      number: inbox.number,
      requester_id: t.writer.id,
      company_id: t.writer.company_id,
      subject: t.subject,
      reply_token: newReplyToken(),
      ...(t.previousTicketId !== undefined && { previous_ticket_id: t.previousTicketId }),
      ...(t.priority && { priority: t.priority }),
      ...(t.type !== undefined && { type: t.type }),
    })
    .returning(['id', 'number']);
  return row;
}

/** The writer's message on a ticket, and its files; returns the message's id. */
export async function insertMessage(
  trx: Knex.Transaction,
  m: { ticketId: number; writer: Writer; subject: string; text: string; attachments?: NewAttachment[] },
): Promise<number> {
  const [row] = await trx('messages')
    .insert({
      ticket_id: m.ticketId,
      direction: 'inbound',
      author_type: 'customer',
      author_customer_id: m.writer.id,
      subject: m.subject,
      from_address: m.writer.address ?? null,
      from_name: m.writer.name,
      text: m.text,
      visible_text: m.text,
    })
    .returning('id');
  if (m.attachments?.length) await storeAttachments(trx, row.id, m.attachments);
  return row.id;
}
