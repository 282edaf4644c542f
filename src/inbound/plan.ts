// What a mail means, decided from the mail and the facts read for it, before anything is
// written: which customer, which ticket (threading), which outcome, and what to write. Pure, so
// that a whole batch is decided first and its writes are sent together.
import { companyForAddress } from '../companies/index.ts';
import { customerName, normalizeAddress, type NewCustomer } from '../customers/index.ts';
import { newReplyToken, type NewTicket, type Ticket } from '../tickets/index.ts';
import type { Described, Facts, Outbound, Work } from './facts.ts';
import { plainText } from './mail-fields.ts';
import { messageContent, type MessageContent } from './store-message.ts';
import type { Outcome } from './process.ts';

/** What to write for a mail delivered into a ticket (or dropped, when automatic and unmatched). */
export interface Delivery {
  outcome: Outcome;
  newCustomers: NewCustomer[];
  newTicket?: NewTicket;
  reopen?: Ticket;
  /** the ticket's reply token: how the statements after the ticket's creation find it */
  replyToken?: string;
  message?: { content: MessageContent; event?: Record<string, unknown> };
  touch?: { ticketId: number; needsReview: boolean };
  followers: string[];
  /** an agent's reply by mail: stored as theirs and mailed to the requester and followers */
  agentReply?: { agentId: number; rawId: number };
  /** a portal welcome to a sender who became a customer with this ticket, if the inbox invites them */
  welcome?: { address: string };
  /** an acknowledgement to the sender of a new ticket, if the inbox and the hourly limit allow */
  ack?: { address: string; limitPerHour: number };
  /** keys of what it reads and what it changes, so that a batch never decides on stale facts */
  uses: string[];
  makes: string[];
}

export function planDelivery(
  d: Described,
  facts: Facts,
  index: number,
  reopenDays: number,
  ackLimitPerHour = 5,
): Delivery {
  const { work, untrustedFrom } = d;
  const rawId = work.row.id;
  const uses = d.refs.map((r) => `message:${r}`);
  const makes = work.mail.messageId ? [`message:${work.mail.messageId}`] : [];

  // 1. a reply token in a recipient address: support+<token>@...
  const byToken = d.tokens
    .map((t) => facts.byToken.get(t.token))
    .find((t, i) => t && t.inbox_id === d.tokens[i]!.inboxId);
  let ticket: Ticket | undefined = byToken;

  // An agent answering by mail: their own address, to the ticket's reply address, and a From that
  // passes DMARC (an agent's address is easy to forge, and this mail goes out to customers).
  const agent = !d.automatic && d.sender ? facts.agents.get(normalizeAddress(d.sender.address)) : undefined;
  if (agent && byToken && d.work.auth?.dmarc === 'pass') {
    return {
      outcome: 'agent_reply',
      newCustomers: [],
      replyToken: byToken.reply_token,
      message: { content: content(work, false, null), event: { rawId, outcome: 'agent_reply', agentId: agent.id } },
      agentReply: { agentId: agent.id, rawId },
      touch: { ticketId: byToken.id, needsReview: false },
      followers: [],
      uses: [...uses, `ticket:${byToken.id}`],
      makes: [...makes, `ticket:${byToken.id}`],
    };
  }
  // 2. In-Reply-To / References naming a message of a ticket
  ticket ??= facts.byRefs[index];

  if (d.automatic) {
    const kind = work.classification.kind === 'auto-reply' ? 'auto_reply' : 'automatic';
    if (!ticket) return { outcome: `${kind}_unmatched`, newCustomers: [], followers: [], uses, makes };
    return {
      outcome: kind,
      newCustomers: [],
      replyToken: ticket.reply_token,
      message: { content: content(work, untrustedFrom, null) },
      touch: { ticketId: ticket.id, needsReview: false },
      followers: [],
      uses: [...uses, `ticket:${ticket.id}`],
      makes: [...makes, `ticket:${ticket.id}`],
    };
  }

  const sender = d.sender!;
  const senderAddress = normalizeAddress(sender.address);
  const newCustomers: NewCustomer[] = [];
  const customer = facts.customers.get(senderAddress);
  const companyId = customer ? customer.company_id : (companyForAddress(senderAddress, facts.companies) ?? null);
  if (!customer) {
    newCustomers.push({
      address: senderAddress,
      name: customerName(senderAddress, sender.name),
      companyId,
      event: { address: sender.address, rawId },
    });
  }

  // 3. a ticket number in the subject, only from someone the ticket knows, with a From we can trust
  if (!ticket) {
    const bySubject = facts.bySubject[index];
    if (bySubject?.associated) ticket = bySubject;
  }

  const plan: Delivery = { outcome: 'reply', newCustomers, followers: [], uses, makes };
  const subject = plainText(work.mail.subject ?? '');
  if (!ticket) {
    plan.outcome = 'ticket_created';
    plan.newTicket = {
      inboxId: d.receivedBy.id,
      requester: senderAddress,
      companyId,
      subject,
      replyToken: newReplyToken(),
      needsReview: untrustedFrom,
      event: { rawId },
    };
  } else if (ticket.status === 'closed' || ticket.status === 'resolved') {
    const closedDays = ticket.closed_at ? (Date.now() - ticket.closed_at.getTime()) / 86_400_000 : 0;
    if (closedDays > reopenDays) {
      plan.outcome = 'new_linked_ticket';
      plan.newTicket = {
        inboxId: ticket.inbox_id,
        requester: senderAddress,
        companyId,
        subject: plainText(work.mail.subject ?? ticket.subject),
        replyToken: newReplyToken(),
        previousTicketId: ticket.id,
        needsReview: untrustedFrom,
        event: { previousTicketId: ticket.id, rawId },
      };
    } else {
      plan.outcome = 'reopened';
      plan.reopen = ticket;
    }
  }
  if (ticket) {
    uses.push(`ticket:${ticket.id}`);
    makes.push(`ticket:${ticket.id}`);
  }
  plan.replyToken = plan.newTicket?.replyToken ?? ticket!.reply_token;
  plan.message = { content: content(work, untrustedFrom, senderAddress), event: { rawId, outcome: plan.outcome } };
  // a new ticket was created with its time stamps and flag already
  if (!plan.newTicket) plan.touch = { ticketId: ticket!.id, needsReview: untrustedFrom };

  for (const a of d.followers) {
    if (!facts.customers.has(a.address)) {
      newCustomers.push({
        address: a.address,
        name: customerName(a.address, a.name),
        companyId: companyForAddress(a.address, facts.companies) ?? null,
      });
    }
  }
  plan.followers = d.followers.map((a) => a.address);
  // Never an answer to automatic mail (it opens no ticket, above). The hourly limit counts the
  // acks of the last hour (read with the batch's facts) and those this batch plans, in order; the
  // insert checks the stored count again.
  if (plan.newTicket && !customer) plan.welcome = { address: senderAddress };
  const acked = facts.recentAcks.get(senderAddress) ?? 0;
  if (plan.newTicket && acked < ackLimitPerHour) {
    plan.ack = { address: senderAddress, limitPerHour: ackLimitPerHour };
    facts.recentAcks.set(senderAddress, acked + 1);
  }
  const addresses = [senderAddress, ...plan.followers];
  uses.push(...addresses.map((a) => `address:${a}`));
  makes.push(...newCustomers.map((c) => `address:${c.address}`));
  return plan;
}

function content(work: Work, untrustedFrom: boolean, author: string | null): MessageContent {
  const { row, mail, classification, auth } = work;
  return messageContent({ rawId: row.id, mail, classification, auth, untrustedFrom, author });
}

/** What to write for a bounce: the outbound message it marks, and whether its recipient is suppressed. */
export interface BounceRecord {
  outcome: Outcome;
  outbound?: Outbound;
  status?: string;
  hard?: boolean;
}

export function planBounce(work: Work, outbound: Outbound | undefined): BounceRecord {
  const b = work.classification.bounce;
  if (!outbound || !b) return { outcome: 'bounce_unmatched' };
  return { outcome: 'bounce', outbound, status: b.status, hard: b.hard };
}
