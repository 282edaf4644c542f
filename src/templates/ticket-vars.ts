// Preview variables from a real ticket: an admin checks an edited template against a ticket they
// know. Everything is the ticket's (its subject, number, status, requester, inbox, the latest
// reply of an agent with its files) except the links: they are placeholders under the base URL,
// and no token is ever issued for a preview.
import { attachmentLink, attachmentsOf } from '../attachments/index.ts';
import type { Db } from '../db/index.ts';
import { NotFoundError } from '../errors.ts';
import { formatSize, textToHtml } from './format.ts';
import { sampleVariables } from './samples.ts';
import { isTemplateName, type TemplateName, type TemplateVariables } from './schemas.ts';

export interface TicketVariablesOptions {
  /** Where the placeholder links point (PUBLIC_URL): `<baseUrl>/t/preview` and the like. */
  baseUrl: string;
  /** Ticket numbers count per inbox: the inbox's ticket; absent, the newest ticket with that number. */
  inboxId?: number;
  /** What the mail says about how long its ticket link works. */
  ticketLinkDays?: number;
}

interface TicketRow {
  id: number;
  number: number;
  subject: string;
  status: string;
  inbox_name: string;
  inbox_from_name: string | null;
  inbox_address: string;
  customer_name: string | null;
  customer_email: string | null;
  portal_status: string | null;
}

/**
 * The variables of template `name` built from ticket `ticketNumber`; a NotFoundError when there
 * is no such ticket. Reply templates carry the ticket's latest public agent message, or the
 * sample's when no agent has answered yet.
 */
export async function ticketVariables<N extends TemplateName>(
  db: Db,
  name: N,
  ticketNumber: number,
  options: TicketVariablesOptions,
): Promise<TemplateVariables<N>> {
  if (!isTemplateName(name)) throw new NotFoundError(`no mail template named ${name}`);
  const q = db('tickets as t')
    .join('inboxes as i', 'i.id', 't.inbox_id')
    .leftJoin('customers as c', 'c.id', 't.requester_id')
    .where('t.number', ticketNumber)
    .orderBy('t.id', 'desc')
    .first<TicketRow | undefined>(
      't.id',
      't.number',
      't.subject',
      't.status',
      'i.name as inbox_name',
      'i.from_name as inbox_from_name',
      'i.address as inbox_address',
      'c.name as customer_name',
      'c.portal_status',
      db.raw(
        `(SELECT address FROM customer_emails e WHERE e.customer_id = c.id ORDER BY e.is_primary DESC, e.id LIMIT 1) AS customer_email`,
      ),
    );
  if (options.inboxId !== undefined) q.where('t.inbox_id', options.inboxId);
  // ticket numbers are integer columns: anything else names no ticket (and must not reach the query)
  const ticket =
    Number.isInteger(ticketNumber) && ticketNumber > 0 && ticketNumber <= 2 ** 31 - 1 ? await q : undefined;
  if (!ticket) throw new NotFoundError(`no ticket #${ticketNumber}`);

  const base = options.baseUrl.replace(/\/+$/, '');
  const vars = sampleVariables(name) as Record<string, unknown>;
  vars.customer = { name: ticket.customer_name ?? '', email: ticket.customer_email ?? '' };
  vars.inbox = { name: ticket.inbox_from_name || ticket.inbox_name, address: ticket.inbox_address };
  if ('ticket' in vars) {
    vars.ticket = { number: ticket.number, subject: ticket.subject, status: ticket.status };
    vars.link = `${base}/t/preview`;
    vars.link_expires_days = options.ticketLinkDays ?? 30;
  } else if ('account_exists' in vars) {
    const exists = ticket.portal_status === 'active';
    vars.account_exists = exists;
    vars.link = `${base}/portal/${exists ? 'password' : 'sign-up'}/preview`;
    vars.sign_in_link = `${base}/portal/sign-in`;
  } else if ('link_expires_minutes' in vars) {
    vars.link = `${base}/portal/sign-in/link/preview`;
  } else {
    vars.link = `${base}/portal/password/preview`;
  }
  if ('message' in vars) Object.assign(vars, await latestReply(db, ticket.id, `${base}/t/preview/attachments`));
  return vars as TemplateVariables<N>;
}

/** The ticket's latest public message by an agent as `agent` and `message`, or nothing. */
async function latestReply(db: Db, ticketId: number, attachmentBase: string) {
  const m = await db('messages as m')
    .leftJoin('agents as a', 'a.id', 'm.author_agent_id')
    .where({ 'm.ticket_id': ticketId, 'm.author_type': 'agent', 'm.internal': false })
    .orderBy('m.id', 'desc')
    .first<{ id: number; text: string; html: string | null; agent: string | null } | undefined>(
      'm.id',
      'm.text',
      'm.html',
      'a.name as agent',
    );
  if (!m) return {};
  const files = (await attachmentsOf(db, [m.id], { inline: false })).get(m.id) ?? [];
  return {
    agent: { name: m.agent ?? 'Support' },
    message: {
      text: m.text,
      html: m.html ?? textToHtml(m.text),
      attachments: files.map((f) => ({
        name: f.name,
        size: formatSize(f.size),
        // the link outbound gives it, under the placeholder ticket link
        url: attachmentLink(attachmentBase, f),
      })),
    },
  };
}
