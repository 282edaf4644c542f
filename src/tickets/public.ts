// The public face of a conversation, for the customers of a ticket (the page behind a magic link,
// and the portal): people's mail and our public replies, never internal notes, bounces, list mail
// or loops, and never anyone's address.
import type { Knex } from 'knex';
import type { Db } from '../db/index.ts';
import { attachmentContent, attachmentLink, attachmentsOf } from '../attachments/index.ts';
import { formatSize } from '../templates/index.ts';
import type { TicketStatus } from './status.ts';

export interface PublicMessage {
  id: number;
  from_us: boolean;
  author: string;
  at: Date;
  html: string | null;
  text: string;
  attachments: { name: string; size: string; url: string }[];
}

/** What customers see: people's mail, not bounces, list mail or loops. */
const PUBLIC_CLASSIFICATIONS = ['normal', 'auto-reply'];

/** The ids of the ticket's public messages, as a subquery. */
function publicMessageIds(db: Db, ticketId: number): Knex.QueryBuilder {
  return db('messages')
    .where({ ticket_id: ticketId, internal: false })
    .whereIn('classification', PUBLIC_CLASSIFICATIONS)
    .select('id');
}

/**
 * The public conversation; attachment links lead to `${attachmentBase}/<sha256>?name=<its name>`
 * (attachments' attachmentLink), each under its name, which no other file of its message has.
 */
export async function publicConversation(db: Db, ticketId: number, attachmentBase: string): Promise<PublicMessage[]> {
  const rows = await db('messages as m')
    .leftJoin('customers as c', 'c.id', 'm.author_customer_id')
    .leftJoin('agents as a', 'a.id', 'm.author_agent_id')
    .whereIn('m.id', publicMessageIds(db, ticketId))
    .orderBy('m.id')
    .select(
      'm.id',
      'm.direction',
      'm.from_name',
      'c.name as customer',
      'a.name as agent',
      'm.created_at',
      'm.html',
      'm.visible_text',
    );
  const files = await attachmentsOf(
    db,
    rows.map((r) => r.id),
    { inline: false },
  );
  const rewrite = (html: string) =>
    html.replace(
      /(["'])\/attachments\/([0-9a-f]{64})\1/g,
      (_m, q: string, sha: string) => `${q}${attachmentBase}/${sha}${q}`,
    );
  return rows.map((r) => ({
    id: r.id,
    from_us: r.direction === 'outbound',
    // names only: a public view never shows an address
    author: r.direction === 'outbound' ? (r.agent ?? 'Support') : (r.customer ?? r.from_name ?? 'Customer'),
    at: r.created_at,
    // what agents wrote is shown as they formatted it (sanitized when stored); customers' mail
    // as its visible text, without the quoted history
    html: r.direction === 'outbound' && r.html ? rewrite(r.html) : null,
    text: r.visible_text,
    attachments: (files.get(r.id) ?? []).map((f) => ({
      name: f.name,
      size: formatSize(f.size),
      url: attachmentLink(attachmentBase, f),
    })),
  }));
}

/**
 * A file of one of the ticket's public messages, by its hex sha256, under the name asked for when
 * the file has that name there (the same bytes may be attached under several), else its first.
 */
export function publicAttachment(db: Db, ticketId: number, sha256: string, name?: string) {
  return attachmentContent(db, sha256, publicMessageIds(db, ticketId), name);
}

/** What a public view shows of the ticket itself. */
export async function publicTicket(
  db: Db,
  ticketId: number,
): Promise<{
  id: number;
  number: number;
  subject: string;
  status: TicketStatus;
  inbox: string;
  from_name: string | null;
}> {
  return db('tickets as t')
    .join('inboxes as i', 'i.id', 't.inbox_id')
    .where('t.id', ticketId)
    .first('t.id', 't.number', 't.subject', 't.status', 'i.name as inbox', 'i.from_name');
}
