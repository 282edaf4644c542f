// What the public ticket page reads and writes: the public conversation (never internal notes,
// never other people's addresses), the addresses that may post, a customer's reply, closing.
import type { Knex } from 'knex';
import { formatSize } from '../../templates/index.ts';

export interface PublicMessage {
  id: number;
  from_us: boolean;
  author: string;
  at: Date;
  html: string | null;
  text: string;
  attachments: { name: string; size: string; url: string }[];
}

/** What the page shows: people's mail, not bounces, list mail or loops. */
export const PUBLIC_CLASSIFICATIONS = ['normal', 'auto-reply'];

export async function publicMessages(db: Knex, ticketId: number, attachmentBase: string): Promise<PublicMessage[]> {
  const rows = await db('messages as m')
    .leftJoin('customers as c', 'c.id', 'm.author_customer_id')
    .leftJoin('agents as a', 'a.id', 'm.author_agent_id')
    .where({ 'm.ticket_id': ticketId, 'm.internal': false })
    .whereIn('m.classification', PUBLIC_CLASSIFICATIONS)
    .orderBy('m.id')
    .select(
      'm.id',
      'm.direction',
      'm.author_type',
      'm.from_name',
      'c.name as customer',
      'a.name as agent',
      'm.created_at',
      'm.html',
      'm.visible_text',
    );
  const files = await db('message_attachments as a')
    .join('attachments as b', 'b.sha256', 'a.sha256')
    .whereIn(
      'a.message_id',
      rows.map((r) => r.id),
    )
    .where('a.inline', false)
    .orderBy(['a.message_id', 'a.position'])
    .select('a.message_id', 'a.filename', 'a.sha256', 'b.size');
  const rewrite = (html: string) =>
    html.replace(
      /(["'])\/attachments\/([0-9a-f]{64})\1/g,
      (_m, q: string, sha: string) => `${q}${attachmentBase}/${sha}${q}`,
    );
  return rows.map((r) => ({
    id: r.id,
    from_us: r.direction === 'outbound',
    // names only: the page never shows an address
    author: r.direction === 'outbound' ? (r.agent ?? 'Support') : (r.customer ?? r.from_name ?? 'Customer'),
    at: r.created_at,
    // what agents wrote is shown as they formatted it (sanitized when stored); customers' mail
    // as its visible text, without the quoted history
    html: r.direction === 'outbound' && r.html ? rewrite(r.html) : null,
    text: r.visible_text,
    attachments: files
      .filter((f) => f.message_id === r.id)
      .map((f) => ({
        name: f.filename ?? 'attachment',
        size: formatSize(f.size),
        url: `${attachmentBase}/${Buffer.from(f.sha256).toString('hex')}`,
      })),
  }));
}

/** Every address of the requester and of each follower (alternates included). */
export async function ticketAddresses(db: Knex, ticketId: number): Promise<Set<string>> {
  const { rows } = await db.raw<{ rows: { address: string }[] }>(
    `SELECT e.address FROM customer_emails e
      WHERE e.customer_id = (SELECT requester_id FROM tickets WHERE id = ?)
         OR e.customer_id IN (SELECT customer_id FROM ticket_followers WHERE ticket_id = ?)`,
    [ticketId, ticketId],
  );
  return new Set(rows.map((r) => r.address));
}

/** Whether the customer is the ticket's requester or one of its followers. */
export async function isTicketMember(
  db: Knex | Knex.Transaction,
  ticketId: number,
  customerId: number,
): Promise<boolean> {
  const { rows } = await db.raw<{ rows: { member: boolean }[] }>(
    `SELECT EXISTS (SELECT 1 FROM tickets WHERE id = ? AND requester_id = ?)
         OR EXISTS (SELECT 1 FROM ticket_followers WHERE ticket_id = ? AND customer_id = ?) AS member`,
    [ticketId, customerId, ticketId, customerId],
  );
  return rows[0]?.member === true;
}

/** Thrown when the link died (revoked, or its customer left the ticket) while the request ran. */
export class LinkGone extends Error {}

/**
 * Within a transaction that holds the ticket's row lock (as removing a follower takes it): the
 * link is still live and its customer still belongs to the ticket.
 */
async function stillLive(trx: Knex.Transaction, ticketId: number, tokenId: number, customerId?: number) {
  const token = await trx('tokens').where({ id: tokenId }).whereNull('revoked_at').first('id');
  if (!token || (customerId !== undefined && !(await isTicketMember(trx, ticketId, customerId)))) throw new LinkGone();
}

/** A reply from the page, as the customer the link was mailed to. */
export async function postCustomerReply(
  db: Knex,
  r: { ticketId: number; customerId: number; tokenId: number; text: string; ip: string },
): Promise<number> {
  return db.transaction(async (trx) => {
    const t = await trx('tickets').where({ id: r.ticketId }).forUpdate().first('id', 'subject', 'status');
    await stillLive(trx, r.ticketId, r.tokenId, r.customerId);
    const customer = await trx('customers as c')
      .leftJoin('customer_emails as e', function primary() {
        this.on('e.customer_id', 'c.id').andOnVal('e.is_primary', true);
      })
      .where('c.id', r.customerId)
      .first('c.id', 'c.name', 'e.address');
    const [m] = await trx('messages')
      .insert({
        ticket_id: t.id,
        direction: 'inbound',
        author_type: 'customer',
        author_customer_id: customer?.id ?? null,
        subject: /^re:/i.test(t.subject) ? t.subject : `Re: ${t.subject}`,
        from_address: customer?.address ?? null,
        from_name: customer?.name ?? null,
        text: r.text,
        visible_text: r.text,
      })
      .returning('id');
    const reopen = t.status !== 'open';
    await trx('tickets')
      .where({ id: t.id })
      .update({
        last_message_at: trx.fn.now(),
        updated_at: trx.fn.now(),
        ...(reopen && { status: 'open', closed_at: null }),
      });
    await trx('events').insert([
      {
        type: 'ticket.customer_replied',
        ticket_id: t.id,
        customer_id: customer?.id ?? null,
        data: { via: 'ticket page', message_id: m.id, ip: r.ip },
      },
      ...(reopen
        ? [
            {
              type: 'ticket.reopened',
              ticket_id: t.id,
              customer_id: customer?.id ?? null,
              data: { from: t.status, via: 'ticket page' },
            },
          ]
        : []),
    ]);
    return m.id;
  });
}

export async function closeTicketByCustomer(
  db: Knex,
  ticketId: number,
  tokenId: number,
  customerId: number,
): Promise<void> {
  await db.transaction(async (trx) => {
    const t = await trx('tickets').where({ id: ticketId }).forUpdate().first('status');
    await stillLive(trx, ticketId, tokenId, customerId);
    if (t.status === 'closed') return;
    await trx('tickets')
      .where({ id: ticketId })
      .update({ status: 'closed', closed_at: trx.fn.now(), updated_at: trx.fn.now() });
    await trx('events').insert({
      type: 'ticket.closed',
      ticket_id: ticketId,
      data: { from: t.status, via: 'ticket page', token_id: tokenId },
    });
  });
}
