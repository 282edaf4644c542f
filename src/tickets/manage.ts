// Tickets as agents change them through the API: status/priority/type/tags/assignee, followers.
// Every change leaves an event; a change of status follows the status rule (status.ts).
import type { Knex } from 'knex';
import { NotFoundError, ValidationError } from '../errors.ts';
import { revokeTokens } from '../access/index.ts';
import { cleanAddresses, findOrCreateCustomer } from '../customers/index.ts';
import type { Boss } from '../queue/index.ts';
import { getTicket, ticketRow, type TicketDetail, type TicketRow } from './read.ts';
import { changeStatus, isTicketStatus, type TicketStatus } from './status.ts';
import { statusColumns, tellRequesterClosed } from './by-customer.ts';

export const TICKET_PRIORITIES = ['low', 'normal', 'high', 'urgent'] as const;

/** One ticket as the API shows it. */
export async function getTicketDetail(db: Knex, id: number): Promise<TicketDetail> {
  const detail = await getTicket(db, { id });
  if (!detail) throw new NotFoundError(`no ticket ${id}`);
  return detail;
}

export interface TicketPatch {
  status?: TicketStatus;
  priority?: (typeof TICKET_PRIORITIES)[number];
  type?: string | null;
  tags?: string[];
  assignee_id?: number | null;
}

/**
 * An agent's changes. Closing a ticket tells its requester (the ticket_closed mail, queued with
 * the change) when `boss` is given and the requester has an address.
 */
export async function updateTicket(
  db: Knex,
  id: number,
  patch: TicketPatch,
  agentId: number,
  boss?: Boss,
): Promise<TicketRow> {
  return db.transaction(async (trx) => {
    const current = await trx('tickets')
      .where({ id })
      .forUpdate()
      .first('id', 'status', 'priority', 'type', 'tags', 'assignee_id', 'requester_id');
    if (!current) throw new NotFoundError(`no ticket ${id}`);
    const changes: Record<string, unknown> = {};
    if (patch.status !== undefined && !isTicketStatus(patch.status))
      throw new ValidationError(`unknown status ${patch.status}`);
    const status = patch.status && changeStatus(current.status, patch.status, { kind: 'agent' });
    if (status) Object.assign(changes, statusColumns(trx, status));
    if (patch.priority !== undefined && patch.priority !== current.priority) changes.priority = patch.priority;
    if (patch.type !== undefined && (patch.type?.trim() || null) !== current.type)
      changes.type = patch.type?.trim() || null;
    if (patch.tags !== undefined) {
      const tags = [...new Set(patch.tags.map((t) => t.trim().toLowerCase()).filter(Boolean))].sort();
      if (tags.join('\0') !== [...current.tags].sort().join('\0')) changes.tags = tags;
    }
    if (patch.assignee_id !== undefined && patch.assignee_id !== current.assignee_id) {
      if (
        patch.assignee_id !== null &&
        !(await trx('agents').where({ id: patch.assignee_id, disabled: false }).first('id'))
      ) {
        throw new ValidationError(`no agent ${patch.assignee_id}`, { assignee_id: patch.assignee_id });
      }
      changes.assignee_id = patch.assignee_id;
    }
    if (Object.keys(changes).length) {
      await trx('tickets')
        .where({ id })
        .update({ ...changes, updated_at: trx.fn.now() });
      const from = Object.fromEntries(
        Object.keys(changes)
          .filter((k) => k !== 'closed_at')
          .map((k) => [k, current[k]]),
      );
      const to = Object.fromEntries(Object.keys(from).map((k) => [k, changes[k]]));
      await trx('events').insert({ type: 'ticket.updated', ticket_id: id, data: { agent_id: agentId, from, to } });
      if (boss && status?.tellRequester) await tellRequesterClosed(trx, boss, id, current.requester_id);
    }
    return (await ticketRow(trx, id))!;
  });
}

/**
 * Adds a follower: a customer by id, or the customer an address belongs to, made (by the
 * customers' one rule) when the address is new. One transaction, so a missing ticket makes nobody.
 */
export async function addFollower(
  db: Knex,
  ticketId: number,
  follower: number | { email: string; name?: string },
  agentId: number,
): Promise<boolean> {
  const [address] = typeof follower === 'number' ? [] : cleanAddresses(follower.email);
  return db.transaction(async (trx) => {
    const ticket = await followedTicket(trx, ticketId);
    let customerId: number;
    if (typeof follower === 'number') {
      customerId = follower;
      if (!(await trx('customers').where({ id: customerId }).first('id')))
        throw new ValidationError(`no customer ${customerId}`, { customer_id: customerId });
    } else {
      const found = await findOrCreateCustomer(trx, address!, follower.name, {
        via: 'follower',
        event: { ticket_id: ticketId, agent_id: agentId },
      });
      customerId = found.customer.id;
    }
    return follow(trx, ticket, customerId, agentId);
  });
}

async function followedTicket(
  trx: Knex.Transaction,
  ticketId: number,
): Promise<{ id: number; requester_id: number | null }> {
  const t = await trx('tickets').where({ id: ticketId }).first('id', 'requester_id');
  if (!t) throw new NotFoundError(`no ticket ${ticketId}`);
  return t;
}

async function follow(
  trx: Knex.Transaction,
  ticket: { id: number; requester_id: number | null },
  customerId: number,
  agentId: number,
): Promise<boolean> {
  if (ticket.requester_id === customerId) throw new ValidationError(`customer ${customerId} is the ticket's requester`);
  const added = await trx('ticket_followers')
    .insert({ ticket_id: ticket.id, customer_id: customerId })
    .onConflict(['ticket_id', 'customer_id'])
    .ignore()
    .returning('customer_id');
  if (added.length)
    await trx('events').insert({
      type: 'ticket.follower_added',
      ticket_id: ticket.id,
      customer_id: customerId,
      data: { agent_id: agentId },
    });
  return added.length > 0;
}

export async function removeFollower(db: Knex, ticketId: number, customerId: number, agentId: number): Promise<void> {
  await db.transaction(async (trx) => {
    // the ticket row lock orders this with a post from the ticket page (ticket-page.ts)
    if (!(await trx('tickets').where({ id: ticketId }).forUpdate().first('id')))
      throw new NotFoundError(`no ticket ${ticketId}`);
    const n = await trx('ticket_followers').where({ ticket_id: ticketId, customer_id: customerId }).delete();
    if (n === 0) throw new NotFoundError(`customer ${customerId} does not follow ticket ${ticketId}`);
    // Their magic links die with it, and so do the ticket's links from before links named their
    // customer (one of those may be theirs; the others get a fresh one from the page). Their reply
    // addresses stop joining mail because they are no longer a member (inbound/plan.ts).
    await revokeTokens(trx, 'ticket_link', { ticketId, customerId });
    await trx('tokens')
      .where({ purpose: 'ticket_link', ticket_id: ticketId })
      .whereNull('customer_id')
      .whereNull('revoked_at')
      .update({ revoked_at: trx.fn.now() });
    await trx('events').insert({
      type: 'ticket.follower_removed',
      ticket_id: ticketId,
      customer_id: customerId,
      data: { agent_id: agentId },
    });
  });
}
