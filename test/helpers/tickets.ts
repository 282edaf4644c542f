// Tickets made directly in the database, for tests of what agents do with existing tickets.
import type { Knex } from 'knex';
import { newReplyToken } from '../../src/tickets/index.ts';

export async function makeTicket(
  db: Knex,
  t: { inboxId: number; requesterId: number | null; companyId: number | null; subject: string },
): Promise<{ id: number }> {
  const { rows } = await db.raw(
    `WITH n AS (UPDATE inboxes SET next_ticket_number = next_ticket_number + 1 WHERE id = ? RETURNING id, next_ticket_number - 1 AS number)
     INSERT INTO tickets (inbox_id, number, requester_id, company_id, subject, reply_token)
     SELECT n.id, n.number, ?, ?, ?, ? FROM n RETURNING id`,
    [t.inboxId, t.requesterId, t.companyId, t.subject, newReplyToken()],
  );
  return rows[0];
}

export async function follow(db: Knex, ticketId: number, customerIds: number[]): Promise<void> {
  await db('ticket_followers').insert(customerIds.map((customer_id) => ({ ticket_id: ticketId, customer_id })));
}
