// The tickets a customer may see in the portal, and what they see of one: their own (they are the
// requester), those they follow, and their company's when their permissions allow
// (view_company_tickets). The one visibility rule the portal asks of every ticket route: a ticket
// outside it is not found, exactly as one that does not exist. Writing on a ticket is the members'
// (members.ts: requester and followers) whatever a customer may see.
//
// The list runs newest activity first, a page at a time by keyset on (last_message_at, id). Each of
// the three sources is read by its own index (tickets_requester_activity_idx,
// ticket_followers_customer_idx, tickets_company_activity_idx) up to one page past the cursor, and
// the union of those few rows is ordered and cut: a page costs the same on the first page as on the
// hundredth, however many tickets the company has. It is the portal's busiest statement: sent as a
// named prepared statement, planned once per connection and filter shape (planning cost more than
// running it), not on every page.
import type { Knex } from 'knex';
import { type Db, type Statement, statementRows } from '../db/index.ts';
import type { TicketStatus } from './status.ts';

type Binding = Knex.Value;

/** Who is looking: the customer, their company, and whether they see the company's tickets. */
export interface CustomerViewer {
  customerId: number;
  companyId: number | null;
  /** the view_company_tickets permission */
  companyTickets: boolean;
}

export const CUSTOMER_SCOPES = ['all', 'mine', 'following', 'company'] as const;
export type CustomerScope = (typeof CUSTOMER_SCOPES)[number];

export const SEARCH_MAX_LENGTH = 100;
const PAGE_DEFAULT = 25;
const PAGE_MAX = 100;

export interface CustomerTicketFilter {
  /** whose tickets: all the customer may see (the default), or one source */
  scope?: CustomerScope;
  status?: TicketStatus;
  /** words the subject contains (as typed, case-insensitive); longer input is cut */
  search?: string;
  /** where the page starts: the `next` of the page before */
  after?: string;
  limit?: number;
}

/** How the customer comes to see a ticket. */
export type Relation = 'mine' | 'following' | 'company';

/** A ticket as the list shows it: what the page prints, nothing more (each column costs a page). */
export interface CustomerTicketItem {
  id: number;
  number: number;
  subject: string;
  status: TicketStatus;
  priority: string;
  type: string | null;
  /** the requester's name: for a viewer who sees the company's tickets (the list's requester column) */
  requester: string | null;
  relation: Relation;
  last_message_at: Date;
}

export interface CustomerTicketPage {
  items: CustomerTicketItem[];
  /** the cursor of the next page, when there is one */
  next?: string;
}

/** A cursor: last_message_at in microseconds since the epoch (exact, unlike a JS Date) and id. */
const CURSOR = /^(\d{1,17})-(\d{1,18})$/;
const AT_CURSOR = `('epoch'::timestamptz + ?::bigint * interval '1 microsecond', ?::bigint)`;

/** The customer's tickets by filter, newest activity first, one page. */
export async function customerTickets(
  db: Db,
  v: CustomerViewer,
  f: CustomerTicketFilter = {},
): Promise<CustomerTicketPage> {
  const s = customerTicketsStatement(v, f);
  return s ? customerTicketsPage(await statementRows(db, s), v, f) : { items: [] };
}

function pageLimit(f: CustomerTicketFilter): number {
  return Math.min(Math.max(Math.trunc(f.limit ?? PAGE_DEFAULT), 1), PAGE_MAX);
}

/**
 * customerTickets' statement, for a page that sends it together with others (db SharedPipeline);
 * undefined when the filter leaves no source (the page is empty). customerTicketsPage reads its
 * rows, for the same viewer and filter.
 */
export function customerTicketsStatement(v: CustomerViewer, f: CustomerTicketFilter = {}): Statement | undefined {
  const limit = pageLimit(f);
  const scope = f.scope ?? 'all';
  const company = v.companyTickets && v.companyId !== null;
  const sources: Relation[] = scope === 'all' ? ['mine', 'following', ...(company ? ['company' as const] : [])] : [];
  if (scope === 'mine' || scope === 'following' || (scope === 'company' && company)) sources.push(scope);
  if (sources.length === 0) return undefined;

  // the conditions every source shares: status, subject, and the cursor
  const extra: string[] = [];
  const extraBindings: Binding[] = [];
  if (f.status) {
    extra.push('t.status = ?');
    extraBindings.push(f.status);
  }
  const search = f.search?.trim().slice(0, SEARCH_MAX_LENGTH);
  if (search) {
    extra.push(`t.subject ILIKE ? ESCAPE '\\'`);
    extraBindings.push(`%${search.replace(/[\\%_]/g, (c) => `\\${c}`)}%`);
  }
  const cursor = f.after ? CURSOR.exec(f.after) : null;
  if (cursor) {
    extra.push(`(t.last_message_at, t.id) < ${AT_CURSOR}`);
    extraBindings.push(cursor[1]!, cursor[2]!);
  }
  const and = extra.map((c) => ` AND ${c}`).join('');

  const branches: string[] = [];
  const bindings: Binding[] = [];
  for (const source of sources) {
    const [from, where, id] =
      source === 'mine'
        ? ['tickets t', 't.requester_id = ?', v.customerId]
        : source === 'following'
          ? ['ticket_followers f JOIN tickets t ON t.id = f.ticket_id', 'f.customer_id = ?', v.customerId]
          : ['tickets t', 't.company_id = ?', v.companyId];
    branches.push(
      `(SELECT t.id, t.last_message_at FROM ${from} WHERE ${where}${and}
         ORDER BY t.last_message_at DESC, t.id DESC LIMIT ?)`,
    );
    bindings.push(id, ...extraBindings, limit + 1);
  }

  // Only what the list shows, and the requester's name only where it is shown (company lists):
  // a join or a column less is work less in PostgreSQL and in parsing, on the portal's busiest page.
  // The time comes as microseconds since the epoch (the cursor's, exact): a Date made of a number
  // costs a fraction of one parsed from text.
  return {
    sql: `SELECT t.id, t.number, t.subject, t.status, t.priority, t.type, t.requester_id,
            (extract(epoch FROM t.last_message_at) * 1000000)::bigint AS at_us,
            ${company ? 'c.name' : 'NULL::text'} AS requester,
            EXISTS (SELECT 1 FROM ticket_followers f WHERE f.ticket_id = t.id AND f.customer_id = ?) AS following
       FROM (${branches.join(' UNION ')}) k
       JOIN tickets t ON t.id = k.id
       ${company ? 'LEFT JOIN customers c ON c.id = t.requester_id' : ''}
      ORDER BY t.last_message_at DESC, t.id DESC
      LIMIT ?`,
    bindings: [v.customerId, ...bindings, limit + 1],
  };
}

/** The page of customerTicketsStatement's rows. */
export function customerTicketsPage(
  result: readonly unknown[],
  v: CustomerViewer,
  f: CustomerTicketFilter = {},
): CustomerTicketPage {
  const limit = pageLimit(f);
  const rows = result as ListRow[];
  const items = rows.slice(0, limit).map(
    (r): CustomerTicketItem => ({
      id: Number(r.id),
      number: r.number,
      subject: r.subject,
      status: r.status,
      priority: r.priority,
      type: r.type,
      requester: r.requester,
      relation: relationOf(r, v),
      last_message_at: new Date(Number(r.at_us) / 1000),
    }),
  );
  const last = rows.length > limit ? rows[limit - 1] : undefined;
  return { items, ...(last && { next: `${last.at_us}-${last.id}` }) };
}

type ListRow = Omit<CustomerTicketItem, 'relation' | 'last_message_at'> & {
  requester_id: number | null;
  following: boolean;
  /** bigint microseconds: a number (db/index.ts parses int8), exact below 2^53 */
  at_us: number;
};

function relationOf(r: { requester_id: number | null; following: boolean }, v: CustomerViewer): Relation {
  return Number(r.requester_id) === v.customerId ? 'mine' : r.following ? 'following' : 'company';
}

/** The visibility rule as a condition on `t` (tickets), with its bindings. */
function visible(v: CustomerViewer): { sql: string; bindings: Binding[] } {
  const company = v.companyTickets && v.companyId !== null;
  return {
    sql: `(t.requester_id = ?
           OR EXISTS (SELECT 1 FROM ticket_followers f WHERE f.ticket_id = t.id AND f.customer_id = ?)
           ${company ? 'OR t.company_id = ?' : ''})`,
    bindings: [v.customerId, v.customerId, ...(company ? [v.companyId] : [])],
  };
}

/** Whether the customer may see the ticket (every ticket route asks; no: a 404). */
export async function mayView(db: Db, v: CustomerViewer, ticketId: number): Promise<boolean> {
  if (!Number.isSafeInteger(ticketId) || ticketId <= 0) return false;
  const rule = visible(v);
  const { rows } = await db.raw<{ rows: { ok: boolean }[] }>(
    `SELECT EXISTS (SELECT 1 FROM tickets t WHERE t.id = ? AND ${rule.sql}) AS ok`,
    [ticketId, ...rule.bindings],
  );
  return rows[0]?.ok === true;
}

/** One ticket as its customers see it (the conversation is publicConversation's). */
export interface CustomerTicket extends CustomerTicketItem {
  tags: string[];
  /** the inbox's name as customers see it (its From name) */
  inbox: string;
  /** the inbox's address, for "or write to us at" */
  inbox_address: string;
  /** the assigned agent's name */
  assignee: string | null;
  created_at: Date;
  closed_at: Date | null;
  /** the customer may write on it and change it: they are its requester or follow it */
  member: boolean;
}

/** The ticket, when the customer may see it; undefined otherwise, as for one that does not exist. */
export async function customerTicket(
  db: Db | Knex,
  v: CustomerViewer,
  ticketId: number,
): Promise<CustomerTicket | undefined> {
  if (!Number.isSafeInteger(ticketId) || ticketId <= 0) return undefined;
  const rule = visible(v);
  const { rows } = await db.raw<{
    rows: (Omit<CustomerTicket, 'relation' | 'member'> & { requester_id: number | null; following: boolean })[];
  }>(
    `SELECT t.id, t.number, t.subject, t.status, t.priority, t.type, t.tags, t.requester_id,
            t.created_at, t.last_message_at, t.closed_at,
            coalesce(nullif(i.from_name, ''), i.name) AS inbox, i.address AS inbox_address,
            c.name AS requester, a.name AS assignee,
            EXISTS (SELECT 1 FROM ticket_followers f WHERE f.ticket_id = t.id AND f.customer_id = ?) AS following
       FROM tickets t
       JOIN inboxes i ON i.id = t.inbox_id
       LEFT JOIN customers c ON c.id = t.requester_id
       LEFT JOIN agents a ON a.id = t.assignee_id
      WHERE t.id = ? AND ${rule.sql}`,
    [v.customerId, ticketId, ...rule.bindings],
  );
  const r = rows[0];
  if (!r) return undefined;
  const { requester_id: _, following: __, ...ticket } = r;
  const relation = relationOf(r, v);
  return { ...ticket, id: Number(r.id), relation, member: relation !== 'company' };
}
