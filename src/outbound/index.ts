// Outbound mail as the rest of the system asks for it: a row in outbound_messages and its
// `outbound.send` job, written in the caller's transaction so the mail exists if and only if the
// work that caused it committed. The worker renders and sends at send time.
import type { Knex } from 'knex';
import type { Db } from '../db/index.ts';
import { ForbiddenError, NotFoundError, ValidationError } from '../errors.ts';
import { jobDb, QUEUES, type Boss } from '../queue/index.ts';
import { compileTemplate, type TemplateSource } from '../templates/index.ts';
import type { OutboundKind } from './kinds.ts';

export { textToHtml } from '../templates/index.ts';
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
  /** the language to render in (else the customer's, the inbox's, English) */
  locale?: string;
}

export async function enqueueOutbound(boss: Boss, trx: Knex.Transaction, req: OutboundRequest): Promise<number> {
  const [row] = await trx('outbound_messages')
    .insert({
      kind: req.kind,
      recipient: req.recipient,
      ticket_id: req.ticketId ?? null,
      customer_id: req.customerId ?? null,
      message_ref: req.messageRef ?? null,
      locale: req.locale ?? null,
      job_queued_at: trx.fn.now(),
    })
    .returning('id');
  await boss.send(QUEUES.outboundSend, { outboundId: row.id }, { db: jobDb(trx) });
  return row.id;
}

export interface TemplateTestRequest {
  /** The template being edited, as it is now (a draft, or what the editor holds). */
  source: TemplateSource;
  /** What it is rendered with: sampleVariables or ticketVariables of templates/. */
  vars: unknown;
  /** The admin asking; the test goes to them. */
  agentId: number;
  /** The admin's own address (the default); any other is refused. */
  recipient?: string;
}

/**
 * Queues a test of a template being edited, to the admin who asks: an outbound row of kind
 * template_test and the source and variables beside it, sent by the outbound worker like any
 * mail (retries, failures recorded, no-reply and suppressed addresses refused). Checked first:
 * a TemplateError when the source does not compile, a ValidationError when the variables do not
 * fit it. Returns the outbound row's id.
 */
export async function enqueueTemplateTest(boss: Boss, db: Db, req: TemplateTestRequest): Promise<number> {
  const agent = await db('agents')
    .where({ id: req.agentId })
    .first<{ email: string; role: string; disabled: boolean } | undefined>('email', 'role', 'disabled');
  if (!agent || agent.disabled) throw new NotFoundError(`no agent ${req.agentId}`);
  if (agent.role !== 'admin') throw new ForbiddenError('only admins test templates');
  // our inbox sends whatever the template says: only ever to the admin who wrote it
  if (req.recipient !== undefined && req.recipient.trim().toLowerCase() !== agent.email)
    throw new ValidationError(`a test mail goes to your own address, ${agent.email}`);
  (await compileTemplate(req.source)).render(req.vars);
  const { name, locale, subject, mjml, text } = req.source;
  const write = async (trx: Knex.Transaction) => {
    const id = await enqueueOutbound(boss, trx, { kind: 'template_test', recipient: agent.email, locale });
    await trx('template_test_mails').insert({
      outbound_id: id,
      name,
      locale,
      subject,
      mjml,
      text,
      vars: JSON.stringify(req.vars),
      agent_id: req.agentId,
    });
    return id;
  };
  return db.isTransaction ? write(db as Knex.Transaction) : db.transaction(write);
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
