// The ticket read model: one list (the API's pages and `inbound tickets list`, the same shape,
// order and filters) and one ticket with its people and conversation, read once. snake_case, as
// the JSON API speaks. In a list, requester and company are the requester's primary address and
// the company's name; a ticket read alone expands them into objects.
import type { Knex } from 'knex';
import type { Db } from '../db/index.ts';
import { attachmentsOf } from '../attachments/index.ts';
import { mailRefusal } from '../outbound/index.ts';
import type { TicketStatus } from './status.ts';

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

export interface TicketListItem extends TicketRow {
  /** the requester's primary address */
  requester: string | null;
  /** the company's name */
  company: string | null;
  /** how many messages the conversation has, internal notes included */
  messages: number;
}

export interface TicketFilter {
  /** the id of the last ticket of the previous page: lists run newest first */
  before?: number;
  /** all of them when undefined */
  limit?: number;
  status?: TicketStatus;
  inbox_id?: number;
  /** the requester */
  customer_id?: number;
  company_id?: number;
}

const TICKET_COLUMNS = [
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

/** Tickets, newest first (by id, which is also the cursor of the next page). */
export async function listTickets(db: Db, f: TicketFilter = {}): Promise<TicketListItem[]> {
  const q = db('tickets as t')
    .join('inboxes as i', 'i.id', 't.inbox_id')
    .leftJoin('customer_emails as e', function primary() {
      this.on('e.customer_id', 't.requester_id').andOnVal('e.is_primary', true);
    })
    .leftJoin('companies as c', 'c.id', 't.company_id')
    .select(
      ...TICKET_COLUMNS,
      'e.address as requester',
      'c.name as company',
      db.raw('(SELECT count(*)::int FROM messages m WHERE m.ticket_id = t.id) AS messages'),
    )
    .orderBy('t.id', 'desc');
  if (f.limit !== undefined) q.limit(f.limit);
  if (f.before !== undefined) q.where('t.id', '<', f.before);
  if (f.status) q.where('t.status', f.status);
  if (f.inbox_id !== undefined) q.where('t.inbox_id', f.inbox_id);
  if (f.customer_id !== undefined) q.where('t.requester_id', f.customer_id);
  if (f.company_id !== undefined) q.where('t.company_id', f.company_id);
  return q;
}

/** A ticket's row as the API returns it after a change. */
export async function ticketRow(db: Db, id: number): Promise<TicketRow | undefined> {
  return db('tickets as t').join('inboxes as i', 'i.id', 't.inbox_id').where('t.id', id).first(TICKET_COLUMNS);
}

export interface PersonView {
  id: number;
  name: string;
  email: string | null;
  alternate_emails: string[];
  /** why nothing is mailed to them ('no-reply address': outbound/no-reply.ts), null when mail goes out */
  mail_refused: string | null;
}

export interface MessageView {
  id: number;
  direction: string;
  message_id: string | null;
  from: string | null;
  from_name: string | null;
  subject: string;
  classification: string;
  classification_reasons: string[];
  auth: { spf?: string; dkim?: string; dmarc?: string } | null;
  untrusted_from: boolean;
  author_type: string;
  internal: boolean;
  in_reply_to: string | null;
  visible_text: string;
  text: string;
  html: string | null;
  /**
   * `filename` is the name it is shown and downloaded under (never empty, unique within the
   * message); `original_filename` what the mail gave (null: none)
   */
  attachments: {
    filename: string;
    original_filename: string | null;
    content_type: string;
    size: number;
    inline: boolean;
  }[];
  created_at: Date;
}

export interface TicketDetail extends TicketRow {
  requester: PersonView | null;
  company: { id: number; name: string } | null;
  followers: PersonView[];
  messages: MessageView[];
}

/** Which ticket: by id, or by number (in the only inbox that has it, or in the given one). */
export type TicketRef = { id: number } | { number: number; inbox?: string };

/**
 * One ticket with its people and its whole conversation (internal notes and machine mail
 * included: agents see everything), or undefined when there is none (or, by number, several).
 * `conversation: false` reads the ticket and its people only (`messages` is then empty).
 */
export async function getTicket(
  db: Db,
  ref: TicketRef,
  opts: { conversation?: boolean } = {},
): Promise<TicketDetail | undefined> {
  const q = db('tickets as t').join('inboxes as i', 'i.id', 't.inbox_id').select(TICKET_COLUMNS);
  if ('id' in ref) q.where('t.id', ref.id);
  else {
    q.where('t.number', ref.number);
    if (ref.inbox) q.where('i.address', ref.inbox.toLowerCase());
  }
  const rows: TicketRow[] = await q.limit(2);
  if (rows.length !== 1) return undefined;
  const t = rows[0]!;

  const [followerIds, company, messages] = await Promise.all([
    db('ticket_followers').where({ ticket_id: t.id }).orderBy('created_at').pluck('customer_id') as Promise<number[]>,
    t.company_id ? db('companies').where({ id: t.company_id }).first('id', 'name') : undefined,
    opts.conversation === false ? [] : conversation(db, t.id),
  ]);
  const people = await personViews(
    db,
    [t.requester_id, ...followerIds].filter((x): x is number => x !== null),
  );
  return {
    ...t,
    requester: (t.requester_id && people.get(t.requester_id)) || null,
    company: company ?? null,
    followers: followerIds.map((id) => people.get(id)!).filter(Boolean),
    messages,
  };
}

/** A ticket reference from the command line: `N` (a number) or `id:N`. */
export function parseTicketRef(ref: string, inbox?: string): TicketRef | undefined {
  const byId = /^id:(\d{1,18})$/.exec(ref);
  if (byId) return { id: Number(byId[1]) };
  if (/^\d{1,18}$/.test(ref)) return { number: Number(ref), ...(inbox && { inbox }) };
  return undefined;
}

async function conversation(db: Db, ticketId: number): Promise<MessageView[]> {
  const messages = await db('messages')
    .where({ ticket_id: ticketId })
    .orderBy('id')
    .select(
      'id',
      'direction',
      'message_id',
      'from_address as from',
      'from_name',
      'subject',
      'classification',
      'classification_reasons',
      'auth',
      'untrusted_from',
      'author_type',
      'internal',
      'in_reply_to',
      'visible_text',
      'text',
      'html',
      'created_at',
    );
  const files = await attachmentsOf(
    db,
    messages.map((m) => m.id),
  );
  return messages.map((m) => ({
    ...m,
    auth: m.auth ? { spf: m.auth.spf, dkim: m.auth.dkim, dmarc: m.auth.dmarc } : null,
    attachments: (files.get(m.id) ?? []).map((a) => ({
      filename: a.name,
      original_filename: a.filename,
      content_type: a.content_type,
      size: a.size,
      inline: a.inline,
    })),
  }));
}

async function personViews(db: Knex | Db, ids: number[]): Promise<Map<number, PersonView>> {
  const rows = await db('customers as c')
    .leftJoin('customer_emails as e', 'e.customer_id', 'c.id')
    .whereIn('c.id', ids)
    .orderBy(['c.id', { column: 'e.is_primary', order: 'desc' }, 'e.id'])
    .select('c.id', 'c.name', 'e.address', 'e.is_primary');
  const out = new Map<number, PersonView>();
  for (const r of rows) {
    const p: PersonView = out.get(r.id) ?? {
      id: r.id,
      name: r.name,
      email: null,
      alternate_emails: [],
      mail_refused: null,
    };
    // mail goes to the primary address only
    if (r.is_primary) [p.email, p.mail_refused] = [r.address, mailRefusal(r.address) ?? null];
    else if (r.address) p.alternate_emails.push(r.address);
    out.set(r.id, p);
  }
  return out;
}
