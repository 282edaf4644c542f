// Tickets as agents see and change them through the API: pages of tickets, one ticket with its
// conversation, status/priority/type/tags/assignee, followers. Every change leaves an event.
import type { Knex } from 'knex';
import type { Db } from '../db/index.ts';
import { NotFoundError, ValidationError } from '../errors.ts';
import { showTicket, type TicketDetail } from './views.ts';
import { revokeTokens } from '../access/index.ts';
import { enqueueOutbound } from '../outbound/index.ts';
import type { Boss } from '../queue/index.ts';
import { TICKET_STATUSES, type TicketStatus } from './status.ts';

export const TICKET_PRIORITIES = ['low', 'normal', 'high', 'urgent'] as const;

export interface TicketRow {
  id: number;
  number: number;
  inbox_id: number;
  inbox: string;
  subject: string;
  status: TicketStatus;
  priority: string;
  type: string | null;
  tags: string[];
  requester_id: number | null;
  company_id: number | null;
  assignee_id: number | null;
  needs_review: boolean;
  previous_ticket_id: number | null;
  created_at: Date;
  updated_at: Date;
  last_message_at: Date;
  closed_at: Date | null;
}

export interface TicketFilter {
  /** the id of the last ticket of the previous page: pages run newest first */
  before?: number;
  limit: number;
  status?: TicketStatus;
  inbox_id?: number;
  customer_id?: number;
  company_id?: number;
}

const COLUMNS = [
  't.id',
  't.number',
  't.inbox_id',
  'i.address as inbox',
  't.subject',
  't.status',
  't.priority',
  't.type',
  't.tags',
  't.requester_id',
  't.company_id',
  't.assignee_id',
  't.needs_review',
  't.previous_ticket_id',
  't.created_at',
  't.updated_at',
  't.last_message_at',
  't.closed_at',
];

export async function listTicketPage(db: Db, f: TicketFilter): Promise<TicketRow[]> {
  const q = db('tickets as t')
    .join('inboxes as i', 'i.id', 't.inbox_id')
    .select(COLUMNS)
    .orderBy('t.id', 'desc')
    .limit(f.limit);
  if (f.before !== undefined) q.where('t.id', '<', f.before);
  if (f.status) q.where('t.status', f.status);
  if (f.inbox_id !== undefined) q.where('t.inbox_id', f.inbox_id);
  if (f.customer_id !== undefined) q.where('t.requester_id', f.customer_id);
  if (f.company_id !== undefined) q.where('t.company_id', f.company_id);
  return q;
}

export async function getTicketRow(db: Db, id: number): Promise<TicketRow> {
  const row = await db('tickets as t').join('inboxes as i', 'i.id', 't.inbox_id').where('t.id', id).first(COLUMNS);
  if (!row) throw new NotFoundError(`no ticket ${id}`);
  return row;
}

export async function getTicketDetail(
  db: Db,
  id: number,
): Promise<TicketRow & Pick<TicketDetail, 'requester' | 'company' | 'followers' | 'messages'>> {
  const [row, detail] = await Promise.all([getTicketRow(db, id), showTicket(db, `id:${id}`)]);
  if (!detail) throw new NotFoundError(`no ticket ${id}`);
  return {
    ...row,
    requester: detail.requester,
    company: detail.company,
    followers: detail.followers,
    messages: detail.messages,
  };
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
    if (patch.status !== undefined && patch.status !== current.status) {
      if (!(TICKET_STATUSES as readonly string[]).includes(patch.status))
        throw new ValidationError(`unknown status ${patch.status}`);
      changes.status = patch.status;
      changes.closed_at = patch.status === 'closed' ? trx.fn.now() : null;
    }
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
      if (boss && changes.status === 'closed' && current.requester_id) {
        const requester = await trx('customer_emails')
          .where({ customer_id: current.requester_id, is_primary: true })
          .first('address');
        if (requester)
          await enqueueOutbound(boss, trx, {
            kind: 'ticket_closed',
            recipient: requester.address,
            ticketId: id,
            customerId: current.requester_id,
          });
      }
    }
    return getTicketRow(trx, id);
  });
}

export async function addFollower(db: Knex, ticketId: number, customerId: number, agentId: number): Promise<boolean> {
  return db.transaction(async (trx) => {
    const t = await trx('tickets').where({ id: ticketId }).first('id', 'requester_id');
    if (!t) throw new NotFoundError(`no ticket ${ticketId}`);
    if (!(await trx('customers').where({ id: customerId }).first('id')))
      throw new ValidationError(`no customer ${customerId}`, { customer_id: customerId });
    if (t.requester_id === customerId) throw new ValidationError(`customer ${customerId} is the ticket's requester`);
    const added = await trx('ticket_followers')
      .insert({ ticket_id: ticketId, customer_id: customerId })
      .onConflict(['ticket_id', 'customer_id'])
      .ignore()
      .returning('customer_id');
    if (added.length)
      await trx('events').insert({
        type: 'ticket.follower_added',
        ticket_id: ticketId,
        customer_id: customerId,
        data: { agent_id: agentId },
      });
    return added.length > 0;
  });
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
