// Tickets and their conversation: creation with a per-inbox number, lookups used by threading,
// messages, followers, status changes and the history they leave in events.
import { randomBytes } from 'node:crypto';
import type { Db } from '../db/index.ts';

export const TICKET_STATUSES = ['open', 'pending', 'resolved', 'closed'] as const;
export type TicketStatus = (typeof TICKET_STATUSES)[number];

export interface Ticket {
  id: number;
  inbox_id: number;
  number: number;
  requester_id: number | null;
  company_id: number | null;
  subject: string;
  status: TicketStatus;
  reply_token: string;
  closed_at: Date | null;
}

const TICKET_COLUMNS = ['id', 'inbox_id', 'number', 'requester_id', 'company_id', 'subject', 'status', 'reply_token', 'closed_at'];

/**
 * 100 random bits as 20 characters of [a-z2-7]: it travels in the local part of a reply address,
 * which some mail systems lower-case.
 */
export function newReplyToken(): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz234567';
  const bytes = randomBytes(20);
  let out = '';
  for (const b of bytes) out += alphabet[b & 31];
  return out;
}

export async function createTicket(
  db: Db,
  t: { inboxId: number; requesterId: number; companyId: number | null; subject: string; previousTicketId?: number; needsReview?: boolean },
): Promise<Ticket> {
  // The inbox row's lock hands out numbers in order, one transaction at a time; one statement
  // takes the number and inserts the ticket.
  const { rows } = await db.raw<{ rows: Ticket[] }>(
    `WITH n AS (
       UPDATE inboxes SET next_ticket_number = next_ticket_number + 1 WHERE id = :inboxId
       RETURNING id, next_ticket_number - 1 AS number
     )
     INSERT INTO tickets (inbox_id, number, requester_id, company_id, subject, reply_token, previous_ticket_id, needs_review)
     SELECT n.id, n.number, :requesterId, :companyId, :subject, :token, :previous, :needsReview FROM n
     RETURNING ${TICKET_COLUMNS.join(', ')}`,
    {
      inboxId: t.inboxId,
      requesterId: t.requesterId,
      companyId: t.companyId,
      subject: t.subject.slice(0, 998),
      token: newReplyToken(),
      previous: t.previousTicketId ?? null,
      needsReview: t.needsReview ?? false,
    },
  );
  if (!rows[0]) throw new Error(`no inbox ${t.inboxId}`);
  return rows[0];
}


export async function findTicketByToken(db: Db, token: string): Promise<Ticket | undefined> {
  return db('tickets').select(TICKET_COLUMNS).where({ reply_token: token.toLowerCase() }).first();
}

/** The ticket of the newest message (ours or the customer's) carrying one of these Message-IDs. */
export async function findTicketByMessageIds(db: Db, messageIds: string[]): Promise<Ticket | undefined> {
  if (messageIds.length === 0) return undefined;
  const row = await db
    .select<{ ticket_id: number }[]>('ticket_id')
    .from(
      db('messages').select('ticket_id', 'id').whereIn('message_id', messageIds)
        .unionAll(db('outbound_messages').select('ticket_id', 'id').whereIn('message_id', messageIds).whereNotNull('ticket_id'))
        .as('m'),
    )
    .orderBy('id', 'desc')
    .first();
  return row ? db('tickets').select(TICKET_COLUMNS).where({ id: row.ticket_id }).first() : undefined;
}

export async function findTicketByNumber(db: Db, inboxId: number, number: number): Promise<Ticket | undefined> {
  return db('tickets').select(TICKET_COLUMNS).where({ inbox_id: inboxId, number }).first();
}

/** Is the customer the ticket's requester or one of its followers? */
export async function isAssociated(db: Db, ticket: Ticket, customerId: number): Promise<boolean> {
  if (ticket.requester_id === customerId) return true;
  const row = await db('ticket_followers').where({ ticket_id: ticket.id, customer_id: customerId }).first('ticket_id');
  return Boolean(row);
}

export async function addFollowers(db: Db, ticket: Ticket, customerIds: number[]): Promise<number[]> {
  const ids = [...new Set(customerIds)].filter((id) => id !== ticket.requester_id);
  if (ids.length === 0) return [];
  const rows = await db('ticket_followers')
    .insert(ids.map((customer_id) => ({ ticket_id: ticket.id, customer_id })))
    .onConflict(['ticket_id', 'customer_id'])
    .ignore()
    .returning<{ customer_id: number }[]>('customer_id');
  return rows.map((r) => r.customer_id);
}

export async function reopen(db: Db, ticket: Ticket): Promise<void> {
  await db('tickets').where({ id: ticket.id }).update({ status: 'open', closed_at: null, updated_at: db.fn.now() });
  await recordEvent(db, 'ticket.reopened', { ticketId: ticket.id, data: { from: ticket.status } });
}

export async function touch(db: Db, ticketId: number, flags: { needsReview?: boolean } = {}): Promise<void> {
  await db('tickets')
    .where({ id: ticketId })
    .update({ last_message_at: db.fn.now(), updated_at: db.fn.now(), ...(flags.needsReview && { needs_review: true }) });
}

export interface EventRecord {
  type: string;
  ticketId?: number | null;
  customerId?: number | null;
  data?: Record<string, unknown>;
}

/** Several events in one insert. */
export async function recordEvents(db: Db, events: EventRecord[]): Promise<void> {
  if (events.length === 0) return;
  await db('events').insert(
    events.map((e) => ({ type: e.type, ticket_id: e.ticketId ?? null, customer_id: e.customerId ?? null, data: e.data ?? {} })),
  );
}

export async function recordEvent(db: Db, type: string, e: Omit<EventRecord, 'type'>): Promise<void> {
  await recordEvents(db, [{ type, ...e }]);
}

export { listTickets, showTicket, type TicketSummary, type TicketDetail } from './views.ts';
