// Outbound mail as the rest of the system asks for it: a row in outbound_messages and its
// `outbound.send` job, written in the caller's transaction so the mail exists if and only if the
// work that caused it committed. The worker renders and sends at send time.
import type { Knex } from 'knex';
import { jobDb, QUEUES, type Boss } from '../queue/index.ts';
import type { OutboundKind } from './kinds.ts';

export { textToHtml } from './text.ts';
export type { OutboundKind } from './kinds.ts';
export {
  isNoReplyAddress,
  mailRefusal,
  NO_REPLY_LOCAL_PARTS,
  NO_REPLY_REASON,
  type NoReplyLocalPart,
} from './no-reply.ts';

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
    .insert({
      kind: req.kind,
      recipient: req.recipient,
      ticket_id: req.ticketId ?? null,
      customer_id: req.customerId ?? null,
      message_ref: req.messageRef ?? null,
      job_queued_at: trx.fn.now(),
    })
    .returning('id');
  await boss.send(QUEUES.outboundSend, { outboundId: row.id }, { db: jobDb(trx) });
  return row.id;
}

export const OUTBOUND_STATUSES = ['queued', 'sent', 'failed', 'bounced', 'suppressed', 'cancelled'] as const;

export interface OutboundSummary {
  id: number;
  kind: OutboundKind;
  ticket_id: number | null;
  customer_id: number | null;
  recipient: string;
  status: (typeof OUTBOUND_STATUSES)[number];
  subject: string | null;
  message_id: string | null;
  attempts: number;
  last_error: string | null;
  smtp_response: string | null;
  created_at: Date;
  sent_at: Date | null;
}

/** Newest first; `before` is the last id of the previous page. */
export async function listOutbound(
  db: Knex,
  f: { status?: string; before?: number; limit: number },
): Promise<OutboundSummary[]> {
  const q = db('outbound_messages')
    .select(
      'id',
      'kind',
      'ticket_id',
      'customer_id',
      'recipient',
      'status',
      'subject',
      'message_id',
      'attempts',
      'last_error',
      'smtp_response',
      'created_at',
      'sent_at',
    )
    .orderBy('id', 'desc')
    .limit(f.limit);
  if (f.status) q.where({ status: f.status });
  if (f.before !== undefined) q.where('id', '<', f.before);
  return q;
}
export { startOutboundWorker, type OutboundWorker, type OutboundWorkerOptions } from './worker.ts';
