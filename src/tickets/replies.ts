// An agent's reply (or internal note) on a ticket: the message and, for a public reply, one
// outbound mail per recipient (requester and followers), all in one transaction.
import type { Knex } from 'knex';
import { marked } from 'marked';
import type { Boss } from '../queue/index.ts';
import { storeAttachments } from '../attachments/index.ts';
import { NotFoundError, ValidationError } from '../errors.ts';
import { sanitizeHtml } from '../mail/index.ts';
import { enqueueOutbound, textToHtml, type OutboundKind } from '../outbound/index.ts';

export interface ReplyInput {
  ticketId: number;
  agentId: number;
  body: string;
  /** markdown is rendered to HTML (then sanitized like any HTML we show) */
  format: 'text' | 'markdown';
  /** an internal note: kept on the ticket, sent to nobody, never shown to customers */
  internal: boolean;
  attachments?: { filename: string; content_type: string; content: Buffer }[];
}

export interface ReplyResult {
  message_id: number;
  internal: boolean;
  outbound: { id: number; kind: OutboundKind; recipient: string }[];
}

export async function postAgentReply(db: Knex, boss: Boss, r: ReplyInput): Promise<ReplyResult> {
  const body = r.body.replace(/\r\n?/g, '\n').trim();
  if (!body) throw new ValidationError('a reply needs a body');
  const html = sanitizeHtml(
    r.format === 'markdown' ? await marked.parse(body, { gfm: true, breaks: true }) : textToHtml(body),
  );
  return db.transaction(async (trx) => {
    const t = await trx('tickets as t')
      .join('inboxes as i', 'i.id', 't.inbox_id')
      .where('t.id', r.ticketId)
      .forUpdate('t')
      .first('t.id', 't.subject', 't.requester_id', 'i.address as inbox');
    if (!t) throw new NotFoundError(`no ticket ${r.ticketId}`);
    const [message] = await trx('messages')
      .insert({
        ticket_id: t.id,
        direction: 'outbound',
        author_type: 'agent',
        author_agent_id: r.agentId,
        internal: r.internal,
        subject: /^re:/i.test(t.subject) ? t.subject : `Re: ${t.subject}`,
        from_address: t.inbox,
        text: body,
        html,
        visible_text: body,
      })
      .returning('id');
    await storeAttachments(trx, message.id, r.attachments ?? []);
    await trx('tickets').where({ id: t.id }).update({ last_message_at: trx.fn.now(), updated_at: trx.fn.now() });
    const outbound: ReplyResult['outbound'] = [];
    if (!r.internal) {
      for (const p of await recipients(trx, t.id, t.requester_id)) {
        const kind: OutboundKind = p.requester ? 'agent_reply' : 'follower_update';
        const id = await enqueueOutbound(boss, trx, {
          kind,
          recipient: p.email,
          ticketId: t.id,
          customerId: p.customer_id,
          messageRef: message.id,
        });
        outbound.push({ id, kind, recipient: p.email });
      }
    }
    await trx('events').insert({
      type: r.internal ? 'ticket.note_added' : 'ticket.replied',
      ticket_id: t.id,
      data: { agent_id: r.agentId, message_id: message.id, recipients: outbound.length },
    });
    return { message_id: message.id, internal: r.internal, outbound };
  });
}

/** The requester first, then followers: each by their primary address. */
async function recipients(trx: Knex.Transaction, ticketId: number, requesterId: number | null) {
  const { rows } = await trx.raw<{ rows: { customer_id: number; email: string; requester: boolean }[] }>(
    `SELECT e.customer_id, e.address AS email, e.customer_id = ? AS requester
       FROM customer_emails e
      WHERE e.is_primary AND (e.customer_id = ? OR e.customer_id IN (SELECT customer_id FROM ticket_followers WHERE ticket_id = ?))
      ORDER BY requester DESC, e.customer_id`,
    [requesterId ?? 0, requesterId ?? 0, ticketId],
  );
  return rows;
}
