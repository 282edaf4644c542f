// Who belongs to a ticket: its requester and its followers, by any of their addresses. The one
// rule every way in asks: inbound threading (on the facts it read), the public page and the
// portal (in the database, under the ticket's row lock when they write).
import type { Db } from '../db/index.ts';

/** Whether the customer is the ticket's requester or one of its followers. */
export function isMember(ticket: { requester_id: number | null; follower_ids: number[] }, customerId: number): boolean {
  return Number(ticket.requester_id) === customerId || ticket.follower_ids.some((id) => Number(id) === customerId);
}

/** isMember, asked of the database. */
export async function isTicketMember(db: Db, ticketId: number, customerId: number): Promise<boolean> {
  const { rows } = await db.raw<{ rows: { member: boolean }[] }>(
    `SELECT EXISTS (SELECT 1 FROM tickets WHERE id = ? AND requester_id = ?)
         OR EXISTS (SELECT 1 FROM ticket_followers WHERE ticket_id = ? AND customer_id = ?) AS member`,
    [ticketId, customerId, ticketId, customerId],
  );
  return rows[0]?.member === true;
}

/** Every address of the requester and of each follower (alternates included). */
export async function memberAddresses(db: Db, ticketId: number): Promise<Set<string>> {
  const { rows } = await db.raw<{ rows: { address: string }[] }>(
    `SELECT e.address FROM customer_emails e
      WHERE e.customer_id = (SELECT requester_id FROM tickets WHERE id = ?)
         OR e.customer_id IN (SELECT customer_id FROM ticket_followers WHERE ticket_id = ?)`,
    [ticketId, ticketId],
  );
  return new Set(rows.map((r) => r.address));
}
