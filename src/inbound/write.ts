// Writing what was decided for a mail: one transaction per mail, sent whole without waiting for
// any answer (BEGIN, the claim of the raw message, the writes, COMMIT), so that the writes of a
// whole batch leave in one go. Each mail still commits or rolls back on its own: a failing
// statement aborts its transaction only, PostgreSQL answers that COMMIT with a rollback, and the
// next mail's BEGIN starts afresh.
import type pg from 'pg';
import type { Sql } from '../db/index.ts';
import { createCustomerFromMail, normalizeAddress } from '../customers/index.ts';
import { addFollowers, createTicket, recordEvent, reopen, TICKET_BY_TOKEN, touch } from '../tickets/index.ts';
import type { BounceRecord, Delivery, Outcome } from './plan.ts';
import { storeMessage } from './store-message.ts';

/** The claim's error: the raw message was processed meanwhile (see the claim_raw_message migration). */
export const ALREADY_PROCESSED = 'IB001';

export type Write =
  | { rawId: number; kind: 'delivery'; plan: Delivery }
  | { rawId: number; kind: 'bounce'; record: BounceRecord }
  | { rawId: number; kind: 'own' }
  | { rawId: number; kind: 'quarantine'; reason: string };

export function outcomeOf(w: Write): Outcome {
  switch (w.kind) {
    case 'delivery':
      return w.plan.outcome;
    case 'bounce':
      return w.record.outcome;
    case 'own':
      return 'own_mail';
    case 'quarantine':
      return 'quarantined';
  }
}

/** Sends a mail's writes; resolves with the error that undid them, or undefined once committed. */
export function sendWrite(client: pg.ClientBase, sql: Sql, w: Write): Promise<Error | undefined> {
  if (w.kind === 'quarantine') {
    return settle([
      sql(
        `UPDATE raw_messages SET status = 'quarantined', error = $2, attempts = attempts + 1, outcome = NULL
          WHERE id = $1 AND status <> 'processed'`,
        [w.rawId, w.reason.slice(0, 2000)],
      ),
    ]);
  }
  const claim = () => sql('SELECT claim_raw_message($1, $2)', [w.rawId, outcomeOf(w)]);
  const writes =
    w.kind === 'delivery' ? deliveryWrites(w.plan) : w.kind === 'bounce' ? bounceWrites(w.rawId, w.record) : undefined;
  if (!writes) return settle([claim()]); // nothing but the claim: a transaction of its own
  const begin = client.query('BEGIN');
  const sent = [begin, claim(), ...writes(sql)];
  const commit = client.query('COMMIT');
  return settle([...sent, commit]).then(
    (err) =>
      err ??
      (commit.then((r) =>
        r.command === 'COMMIT' ? undefined : new Error(`transaction not committed (${r.command})`),
      ) as Promise<Error | undefined>),
  );
}

/** The first statement's error, after all of them have answered. */
async function settle(sent: Promise<unknown>[]): Promise<Error | undefined> {
  const results = await Promise.allSettled(sent);
  const failed = results.find((r) => r.status === 'rejected');
  return failed ? (failed.reason as Error) : undefined;
}

function deliveryWrites(p: Delivery): ((sql: Sql) => Promise<unknown>[]) | undefined {
  if (!p.message) return undefined; // automatic mail that answers nothing of ours
  return (sql) => {
    const sent: Promise<unknown>[] = [];
    // the sender first: the ticket and the message name it as requester and author
    for (const c of p.newCustomers) sent.push(createCustomerFromMail(sql, c));
    if (p.newTicket) sent.push(createTicket(sql, p.newTicket));
    if (p.reopen) sent.push(reopen(sql, p.reopen));
    sent.push(...storeMessage(sql, p.replyToken!, p.message!.content, p.message!.event));
    if (p.touch) sent.push(touch(sql, p.touch.ticketId, { needsReview: p.touch.needsReview }));
    if (p.followers.length > 0) sent.push(addFollowers(sql, p.replyToken!, p.followers));
    if (p.ack) sent.push(queueAck(sql, p.replyToken!, p.ack.address, p.ack.limitPerHour));
    if (p.agentReply) sent.push(...agentReplyWrites(sql, p.replyToken!, p.agentReply));
    if (p.welcome) sent.push(queueWelcome(sql, p.replyToken!, p.welcome.address));
    return sent;
  };
}

/**
 * The ack as an outbound row, in the mail's transaction, unless the inbox has acks off, the
 * address is suppressed or already had its acks this hour. The relay (outbound/relay.ts) turns
 * committed rows into send jobs.
 */
function queueAck(sql: Sql, replyToken: string, address: string, limitPerHour: number): Promise<unknown> {
  return sql(
    `INSERT INTO outbound_messages (kind, ticket_id, customer_id, recipient)
     SELECT 'ack', t.id, t.requester_id, $2 FROM tickets t JOIN inboxes i ON i.id = t.inbox_id
      WHERE t.reply_token = $1
        AND coalesce(i.settings->>'ack', 'true') <> 'false'
        AND NOT EXISTS (SELECT 1 FROM suppressions WHERE address = $2)
        AND (SELECT count(*) FROM outbound_messages o
              WHERE o.recipient = $2 AND o.kind = 'ack' AND o.created_at > now() - interval '1 hour') < $3`,
    [replyToken, address, limitPerHour],
  );
}

/**
 * A new customer's first ticket invites them to the portal when the inbox says so
 * (settings.portal_welcome) or the portal invites every new customer (its settings: enabled and
 * auto_invite): the welcome mail (its password link is made when it is sent) and the customer
 * marked invited.
 */
function queueWelcome(sql: Sql, replyToken: string, address: string): Promise<unknown> {
  return sql(
    `WITH w AS (
       INSERT INTO outbound_messages (kind, customer_id, recipient)
       SELECT 'portal_welcome', c.id, $2
         FROM customer_emails e JOIN customers c ON c.id = e.customer_id
            LEFT JOIN companies co ON co.id = c.company_id,
              tickets t JOIN inboxes i ON i.id = t.inbox_id
        WHERE e.address = $2 AND t.reply_token = $1 AND c.portal_status = 'none'
          -- portal_access: the customer's own setting, else the company's, else the default (on);
          -- the same rule as customers/permissions.ts effectivePermissions
          AND coalesce(c.portal_permissions->>'portal_access', co.portal_permissions->>'portal_access', 'true') = 'true'
          AND (coalesce(i.settings->>'portal_welcome', 'false') = 'true'
               OR EXISTS (SELECT 1 FROM portal_settings p
                           WHERE p.settings->>'enabled' = 'true' AND p.settings->>'auto_invite' = 'true'))
          AND NOT EXISTS (SELECT 1 FROM suppressions WHERE address = $2)
       RETURNING customer_id
     )
     UPDATE customers SET portal_status = 'invited' FROM w WHERE customers.id = w.customer_id`,
    [replyToken, address],
  );
}

/**
 * The stored mail becomes the agent's message (what they wrote, without the quoted history; the
 * whole mail stays in raw_messages) and is queued to the requester and the followers.
 */
function agentReplyWrites(sql: Sql, replyToken: string, a: { agentId: number; rawId: number }): Promise<unknown>[] {
  return [
    sql(
      `UPDATE messages SET direction = 'outbound', author_type = 'agent', author_customer_id = NULL, author_agent_id = $2,
              text = visible_text, html = NULL
        WHERE raw_message_id = $1`,
      [a.rawId, a.agentId],
    ),
    sql(
      `INSERT INTO outbound_messages (kind, ticket_id, customer_id, recipient, message_ref)
       SELECT CASE WHEN e.customer_id = t.requester_id THEN 'agent_reply' ELSE 'follower_update' END, t.id, e.customer_id, e.address,
              (SELECT id FROM messages WHERE raw_message_id = $2)
         FROM tickets t
         JOIN customer_emails e ON e.is_primary
          AND (e.customer_id = t.requester_id OR e.customer_id IN (SELECT customer_id FROM ticket_followers WHERE ticket_id = t.id))
        WHERE t.reply_token = $1
        ORDER BY e.customer_id = t.requester_id DESC, e.customer_id`,
      [replyToken, a.rawId],
    ),
    sql(`INSERT INTO events (type, ticket_id, data) VALUES ('ticket.replied', ${TICKET_BY_TOKEN('$1')}, $2::jsonb)`, [
      replyToken,
      { agent_id: a.agentId, via: 'mail', rawId: a.rawId },
    ]),
  ];
}

/** A bounce marks the message it answers; a hard one suppresses that message's recipient. */
function bounceWrites(rawId: number, b: BounceRecord): ((sql: Sql) => Promise<unknown>[]) | undefined {
  const outbound = b.outbound;
  if (!outbound) return undefined;
  return (sql) => {
    const sent = [
      sql(`UPDATE outbound_messages SET status = 'bounced', bounced_at = now(), last_error = $2 WHERE id = $1`, [
        outbound.id,
        `bounce ${b.status ?? ''} (raw message ${rawId})`.trim(),
      ]),
      recordEvent(sql, {
        type: 'outbound.bounced',
        ticketId: outbound.ticket_id,
        data: { outboundId: outbound.id, status: b.status, hard: b.hard, rawId },
      }),
    ];
    // Only the recipient of a message we really sent is suppressed: a forged DSN naming other
    // addresses cannot silence our mail to them.
    if (b.hard) {
      const address = normalizeAddress(outbound.recipient);
      sent.push(
        sql(
          'INSERT INTO suppressions (address, reason, outbound_id) VALUES ($1, $2, $3) ON CONFLICT (address) DO NOTHING',
          [address, `hard bounce ${b.status ?? ''}`.trim(), outbound.id],
        ),
        recordEvent(sql, { type: 'address.suppressed', data: { address, outboundId: outbound.id } }),
      );
    }
    return sent;
  };
}
