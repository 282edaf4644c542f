// Read models of tickets for the command line (and later the API): snake_case, like the JSON API.
import type { Db } from '../db/index.ts';

interface TicketBase {
  id: number;
  number: number;
  inbox: string;
  subject: string;
  status: string;
  priority: string;
}

export interface TicketSummary extends TicketBase {
  requester: string | null;
  company: string | null;
  messages: number;
  created_at: Date;
  last_message_at: Date;
}

export async function listTickets(db: Db, filter: { status?: string; limit?: number } = {}): Promise<TicketSummary[]> {
  const q = db('tickets as t')
    .join('inboxes as i', 'i.id', 't.inbox_id')
    .leftJoin('customer_emails as e', function () {
      this.on('e.customer_id', 't.requester_id').andOn('e.is_primary', db.raw('true'));
    })
    .leftJoin('companies as c', 'c.id', 't.company_id')
    .select(
      't.id',
      't.number',
      'i.address as inbox',
      't.subject',
      't.status',
      't.priority',
      'e.address as requester',
      'c.name as company',
      db.raw('(SELECT count(*)::int FROM messages m WHERE m.ticket_id = t.id) AS messages'),
      't.created_at',
      't.last_message_at',
    )
    .orderBy('t.id');
  if (filter.status) q.where('t.status', filter.status);
  if (filter.limit !== undefined) q.limit(filter.limit);
  return q;
}

export interface TicketDetail extends TicketBase {
  type: string | null;
  tags: string[];
  needs_review: boolean;
  previous_ticket_id: number | null;
  reply_token: string;
  created_at: Date;
  requester: PersonView | null;
  company: { id: number; name: string } | null;
  followers: PersonView[];
  messages: MessageView[];
}

interface PersonView {
  id: number;
  name: string;
  email: string | null;
  alternate_emails: string[];
}

interface MessageView {
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
  attachments: { filename: string | null; content_type: string; size: number; inline: boolean }[];
  created_at: Date;
}

/** By ticket number (in the only inbox, or the given one) or, as `id:N`, by id. */
export async function showTicket(db: Db, ref: string, inbox?: string): Promise<TicketDetail | undefined> {
  const q = db('tickets as t').join('inboxes as i', 'i.id', 't.inbox_id').select('t.*', 'i.address as inbox');
  const byId = /^id:(\d+)$/.exec(ref);
  if (byId) q.where('t.id', Number(byId[1]));
  else if (/^\d+$/.test(ref)) q.where('t.number', Number(ref));
  else return undefined;
  if (inbox) q.where('i.address', inbox.toLowerCase());
  const rows = await q.limit(2);
  if (rows.length !== 1) return undefined;
  const t = rows[0];

  const followerIds: number[] = (await db('ticket_followers')
    .where({ ticket_id: t.id })
    .orderBy('created_at')
    .pluck('customer_id')) as number[];
  const people = await personViews(
    db,
    [t.requester_id, ...followerIds].filter((x): x is number => x !== null),
  );
  const company = t.company_id ? await db('companies').where({ id: t.company_id }).first('id', 'name') : null;
  const messages = await db('messages')
    .where({ ticket_id: t.id })
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
  const attachments = await db('message_attachments as a')
    .join('attachments as b', 'b.sha256', 'a.sha256')
    .whereIn(
      'a.message_id',
      messages.map((m) => m.id),
    )
    .orderBy(['a.message_id', 'a.position'])
    .select('a.message_id', 'a.filename', 'a.content_type', 'b.size', 'a.inline');

  return {
    id: t.id,
    number: t.number,
    inbox: t.inbox,
    subject: t.subject,
    status: t.status,
    priority: t.priority,
    type: t.type,
    tags: t.tags,
    needs_review: t.needs_review,
    previous_ticket_id: t.previous_ticket_id,
    reply_token: t.reply_token,
    created_at: t.created_at,
    requester: (t.requester_id && people.get(t.requester_id)) || null,
    company: company ?? null,
    followers: followerIds.map((id) => people.get(id)!).filter(Boolean),
    messages: messages.map((m) => ({
      ...m,
      auth: m.auth ? { spf: m.auth.spf, dkim: m.auth.dkim, dmarc: m.auth.dmarc } : null,
      attachments: attachments
        .filter((a) => a.message_id === m.id)
        .map((a) => ({ filename: a.filename, content_type: a.content_type, size: a.size, inline: a.inline })),
    })),
  };
}

async function personViews(db: Db, ids: number[]): Promise<Map<number, PersonView>> {
  const rows = await db('customers as c')
    .leftJoin('customer_emails as e', 'e.customer_id', 'c.id')
    .whereIn('c.id', ids)
    .orderBy(['c.id', { column: 'e.is_primary', order: 'desc' }, 'e.id'])
    .select('c.id', 'c.name', 'e.address', 'e.is_primary');
  const out = new Map<number, PersonView>();
  for (const r of rows) {
    const p: PersonView = out.get(r.id) ?? { id: r.id, name: r.name, email: null, alternate_emails: [] };
    if (r.is_primary) p.email = r.address;
    else if (r.address) p.alternate_emails.push(r.address);
    out.set(r.id, p);
  }
  return out;
}
