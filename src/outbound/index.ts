// Outbound mail as the rest of the system asks for it: a row in outbound_messages and its
// `outbound.send` job, written in the caller's transaction so the mail exists if and only if the
// work that caused it committed. The worker renders and sends at send time.
import type { Knex } from 'knex';
import { jobDb, QUEUES, type Boss } from '../queue/index.ts';

export const OUTBOUND_KINDS = ['ack', 'agent_reply', 'follower_update', 'portal_welcome', 'portal_invite', 'password_reset', 'ticket_closed'] as const;
export type OutboundKind = (typeof OUTBOUND_KINDS)[number];

export interface OutboundRequest {
  kind: OutboundKind;
  recipient: string;
  ticketId?: number;
  customerId?: number;
  /** the agent's message a reply carries */
  messageRef?: number;
}

export async function enqueueOutbound(boss: Boss, trx: Knex.Transaction, req: OutboundRequest): Promise<number> {
  const [row] = await trx('outbound_messages')
    .insert({ kind: req.kind, recipient: req.recipient, ticket_id: req.ticketId ?? null, customer_id: req.customerId ?? null, message_ref: req.messageRef ?? null })
    .returning('id');
  await boss.send(QUEUES.outboundSend, { outboundId: row.id }, { db: jobDb(trx) });
  return row.id;
}
