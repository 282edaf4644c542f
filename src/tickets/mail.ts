// What inbound mail does to tickets: creation with a per-inbox number, the lookups of threading,
// followers, reopening, and the history they leave in events. The statements are sent on a
// pipelined connection (db/sql.ts): later statements of a transaction find a ticket by its reply
// token, which is known before the ticket exists, so nothing waits for the ticket's id.
import { randomBytes } from 'node:crypto';
import type { Sql } from '../db/index.ts';
import { CUSTOMER_BY_ADDRESS } from '../customers/index.ts';
import type { TicketStatus } from './status.ts';

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
  /** the customers who follow it (with the requester, its members) */
  follower_ids: number[];
}

/** A ticket found by a reply token, and the customer the token was issued to (none for a legacy ticket-wide token). */
export interface TicketByToken {
  ticket: Ticket;
  customerId: number | undefined;
}

const T_COLUMNS = [
  ...['id', 'inbox_id', 'number', 'requester_id', 'company_id', 'subject', 'status', 'reply_token', 'closed_at'].map(
    (c) => `t.${c}`,
  ),
  'ARRAY(SELECT f.customer_id::int FROM ticket_followers f WHERE f.ticket_id = t.id) AS follower_ids',
].join(', ');

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

/** The ticket a reply token names, as a scalar subquery for the statements that follow its creation. */
export const TICKET_BY_TOKEN = (param: string) => `(SELECT id FROM tickets WHERE reply_token = ${param})`;

export interface NewTicket {
  inboxId: number;
  /** the requester's address (the customer may be created in the same transaction) */
  requester: string;
  companyId: number | null;
  subject: string;
  replyToken: string;
  previousTicketId?: number;
  needsReview?: boolean;
  /** the ticket.created event's data; its number is added */
  event: Record<string, unknown>;
}

/**
 * Creates a ticket and its ticket.created event. The inbox row's lock hands out numbers in order,
 * one transaction at a time; a missing inbox creates nothing, and the message insert that
 * follows then fails on its missing ticket.
 */
export function createTicket(sql: Sql, t: NewTicket): Promise<unknown> {
  return sql(
    `WITH n AS (
       UPDATE inboxes SET next_ticket_number = next_ticket_number + 1 WHERE id = $1
       RETURNING id, next_ticket_number - 1 AS number
     ), t AS (
       INSERT INTO tickets (inbox_id, number, requester_id, company_id, subject, reply_token, previous_ticket_id, needs_review)
       SELECT n.id, n.number, ${CUSTOMER_BY_ADDRESS('$2')}, $3, $4, $5, $6, $7 FROM n
       RETURNING id, number, requester_id
     )
     INSERT INTO events (type, ticket_id, customer_id, data)
     SELECT 'ticket.created', id, requester_id, $8::jsonb || jsonb_build_object('number', number) FROM t`,
    [
      t.inboxId,
      t.requester,
      t.companyId,
      t.subject.slice(0, 998),
      t.replyToken,
      t.previousTicketId ?? null,
      t.needsReview ?? false,
      t.event,
    ],
  );
}

/**
 * The tickets these reply tokens name, by token: a recipient's token (issued with one outbound
 * mail to one customer) or, from before those, the ticket's own token, which names no customer.
 */
export async function findTicketsByReplyToken(sql: Sql, tokens: string[]): Promise<Map<string, TicketByToken>> {
  if (tokens.length === 0) return new Map();
  const { rows } = await sql<Ticket & { token: string; via_customer_id: number | null }>(
    `SELECT k.token, m.customer_id AS via_customer_id, ${T_COLUMNS}
       FROM unnest($1::text[]) AS k(token)
       CROSS JOIN LATERAL (
         SELECT o.ticket_id, o.customer_id FROM outbound_messages o
          WHERE o.reply_token_hash = sha256(convert_to(k.token, 'UTF8')) AND o.ticket_id IS NOT NULL
         UNION ALL
         SELECT id, NULL FROM tickets WHERE reply_token = k.token
         LIMIT 1
       ) m
       JOIN tickets t ON t.id = m.ticket_id`,
    [tokens],
  );
  return new Map(
    rows.map(({ token, via_customer_id, ...ticket }) => [
      token,
      { ticket, customerId: via_customer_id === null ? undefined : Number(via_customer_id) },
    ]),
  );
}

/** The ticket of the newest message (ours or the customer's) carrying one of these Message-IDs. */
export async function findTicketByMessageIds(sql: Sql, messageIds: string[]): Promise<Ticket | undefined> {
  if (messageIds.length === 0) return undefined;
  const { rows } = await sql<Ticket>(
    `SELECT ${T_COLUMNS} FROM tickets t WHERE id = (
       SELECT ticket_id FROM (
         SELECT ticket_id, id FROM messages WHERE message_id = ANY($1::text[])
         UNION ALL
         SELECT ticket_id, id FROM outbound_messages WHERE message_id = ANY($1::text[]) AND ticket_id IS NOT NULL
       ) m ORDER BY id DESC LIMIT 1
     )`,
    [messageIds],
  );
  return rows[0];
}

/** The ticket with this number in this inbox (whether the author may join it is members.ts's rule, asked by plan.ts). */
export async function findTicketByNumber(sql: Sql, inboxId: number, number: number): Promise<Ticket | undefined> {
  const { rows } = await sql<Ticket>(`SELECT ${T_COLUMNS} FROM tickets t WHERE t.inbox_id = $1 AND t.number = $2`, [
    inboxId,
    number,
  ]);
  return rows[0];
}

/**
 * Makes the customers of these addresses (except the requester) followers of the ticket, and
 * records the ones that were not already as a ticket.followers_added event.
 */
export function addFollowers(sql: Sql, replyToken: string, addresses: string[]): Promise<unknown> {
  return sql(
    `WITH a AS (
       INSERT INTO ticket_followers (ticket_id, customer_id)
       SELECT t.id, e.customer_id
         FROM tickets t
         JOIN unnest($2::text[]) WITH ORDINALITY AS f(address, n) ON true
         JOIN customer_emails e ON e.address = f.address
        WHERE t.reply_token = $1 AND e.customer_id IS DISTINCT FROM t.requester_id
        ORDER BY f.n
       ON CONFLICT (ticket_id, customer_id) DO NOTHING
       RETURNING ticket_id, customer_id
     )
     INSERT INTO events (type, ticket_id, data)
     SELECT 'ticket.followers_added', ticket_id, jsonb_build_object('customerIds', jsonb_agg(customer_id)) FROM a GROUP BY ticket_id`,
    [replyToken, addresses],
  );
}

/** A customer's mail opens the ticket again (status.ts: customerWrites), with its ticket.reopened event. */
export function reopen(sql: Sql, ticket: Ticket): Promise<unknown> {
  return sql(
    `WITH t AS (UPDATE tickets SET status = 'open', closed_at = NULL, updated_at = now() WHERE id = $1 RETURNING id)
     INSERT INTO events (type, ticket_id, data) SELECT 'ticket.reopened', id, $2::jsonb FROM t`,
    [ticket.id, { from: ticket.status }],
  );
}

/** A message arrived: the ticket's times, and the review flag when the sender may be forged. */
export function touch(sql: Sql, ticketId: number, flags: { needsReview?: boolean } = {}): Promise<unknown> {
  return sql(
    'UPDATE tickets SET last_message_at = now(), updated_at = now(), needs_review = needs_review OR $2 WHERE id = $1',
    [ticketId, flags.needsReview ?? false],
  );
}

export interface EventRecord {
  type: string;
  ticketId?: number | null;
  customerId?: number | null;
  data?: Record<string, unknown>;
}

export function recordEvent(sql: Sql, e: EventRecord): Promise<unknown> {
  return sql('INSERT INTO events (type, ticket_id, customer_id, data) VALUES ($1, $2, $3, $4)', [
    e.type,
    e.ticketId ?? null,
    e.customerId ?? null,
    e.data ?? {},
  ]);
}
