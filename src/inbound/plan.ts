// What a mail means, decided from the mail and the facts read for it, before anything is
// written: which customer, which ticket (threading), which outcome, and what to write. Pure, so
// that a whole batch is decided first and its writes are sent together.
import { companyForAddress } from '../companies/index.ts';
import { customerName, normalizeAddress, type NewCustomer } from '../customers/index.ts';
import { isMember, newReplyToken, type NewTicket, type Ticket } from '../tickets/index.ts';
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
  const { work, trust } = d;
  const rawId = work.row.id;
  const uses = d.refs.map((r) => `message:${r}`);
  const makes = work.mail.messageId ? [`message:${work.mail.messageId}`] : [];
  const authorAddress = d.sender && normalizeAddress(d.sender.address);
  const customer = authorAddress ? facts.customers.get(authorAddress) : undefined;

  // 1. a reply token in a recipient address (support+<token>@) of the inbox it was issued for
  const viaToken = d.tokens
    .map((t) => ({ t, hit: facts.byToken.get(t.token) }))
    .find(({ t, hit }) => hit && hit.ticket.inbox_id === t.inboxId)?.hit;

  // An agent answering by mail: their own address, to a reply address of the ticket, from an
  // authenticated From (an agent's address is easy to forge, and this mail goes out to customers).
  const agent = !d.automatic && authorAddress ? facts.agents.get(authorAddress) : undefined;
  if (agent && viaToken && trust === 'authenticated') {
    const ticket = viaToken.ticket;
    return {
      outcome: 'agent_reply',
      newCustomers: [],
      replyToken: ticket.reply_token,
      message: {
        content: content(d, null),
        event: { rawId, outcome: 'agent_reply', agentId: agent.id },
      },
      agentReply: { agentId: agent.id, rawId },
      touch: { ticketId: ticket.id, needsReview: false },
      followers: [],
      uses: [...uses, `ticket:${ticket.id}`],
      makes: [...makes, `ticket:${ticket.id}`],
    };
  }

  // 2. In-Reply-To / References naming a message of a ticket; 3. [#n] in the subject. Each links the
  // mail to a ticket, and the mail joins it only when its author belongs to it (the requester or a
  // follower, by any of their addresses) and is not untrusted. A recipient's reply address joins
  // only mail of the customer it was issued to.
  const claims: { ticket: Ticket; onlyFor?: number }[] = [];
  if (viaToken)
    claims.push({
      ticket: viaToken.ticket,
      ...(viaToken.customerId !== undefined && { onlyFor: viaToken.customerId }),
    });
  const byRefs = facts.byRefs[index];
  if (byRefs) claims.push({ ticket: byRefs });
  const bySubject = facts.bySubject[index];
  if (bySubject) claims.push({ ticket: bySubject });
  // who belongs to a named ticket may change with an earlier mail of the batch (a Cc that makes a
  // follower): such a mail waits for the next pass, which reads the members afresh
  for (const c of claims) uses.push(`ticket:${c.ticket.id}`);
  if (authorAddress) uses.push(`address:${authorAddress}`);
  const mayJoin = (c: { ticket: Ticket; onlyFor?: number }) =>
    trust !== 'untrusted' &&
    customer !== undefined &&
    isMember(c.ticket, customer.id) &&
    (c.onlyFor === undefined || c.onlyFor === customer.id);
  const ticket: Ticket | undefined = claims.find(mayJoin)?.ticket;
  const claimed = ticket ? undefined : claims[0]?.ticket;

  if (d.automatic) {
    const kind = work.classification.kind === 'auto-reply' ? 'auto_reply' : 'automatic';
    // machine mail never opens a ticket, and joins only one its author belongs to
    if (!ticket) return { outcome: `${kind}_unmatched`, newCustomers: [], followers: [], uses, makes };
    return {
      outcome: kind,
      newCustomers: [],
      replyToken: ticket.reply_token,
      message: { content: content(d, null) },
      touch: { ticketId: ticket.id, needsReview: false },
      followers: [],
      uses: [...uses, `ticket:${ticket.id}`],
      makes: [...makes, `ticket:${ticket.id}`],
    };
  }

  const sender = d.sender!;
  const senderAddress = normalizeAddress(sender.address);
  const newCustomers: NewCustomer[] = [];
  const companyId = customer ? customer.company_id : (companyForAddress(senderAddress, facts.companies) ?? null);
  if (!customer) {
    newCustomers.push({
      address: senderAddress,
      name: customerName(senderAddress, sender.name),
      companyId,
      event: { address: sender.address, rawId },
    });
  }

  const plan: Delivery = { outcome: 'reply', newCustomers, followers: [], uses, makes };
  const subject = plainText(work.mail.subject ?? '');
  // A mail that names a ticket its author may not join opens a ticket of its own, flagged so that
  // an agent looks at it: never silently into someone else's conversation.
  const review = trust === 'untrusted' || claimed !== undefined;
  if (!ticket) {
    plan.outcome = 'ticket_created';
    plan.newTicket = {
      inboxId: d.receivedBy.id,
      requester: senderAddress,
      companyId,
      subject,
      replyToken: newReplyToken(),
      needsReview: review,
      event: {
        rawId,
        trust,
        ...(claimed && {
          claimedTicketId: claimed.id,
          reason: 'the author does not belong to the ticket the mail names',
        }),
      },
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
        needsReview: false,
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
  plan.message = { content: content(d, senderAddress), event: { rawId, outcome: plan.outcome } };
  // a new ticket was created with its time stamps and flag already
  if (!plan.newTicket) plan.touch = { ticketId: ticket!.id, needsReview: false };

  // To and Cc follow the ticket: on a ticket the mail opens, unless its author is untrusted; on an
  // existing ticket only from an authenticated author (anyone can write a Cc line).
  const addsFollowers = plan.newTicket ? trust !== 'untrusted' : trust === 'authenticated';
  const followers = addsFollowers ? d.followers : [];
  for (const a of followers) {
    if (!facts.customers.has(a.address)) {
      newCustomers.push({
        address: a.address,
        name: customerName(a.address, a.name),
        companyId: companyForAddress(a.address, facts.companies) ?? null,
      });
    }
  }
  plan.followers = followers.map((a) => a.address);
  // Nothing automatic goes to an untrusted author: it may be someone else's forged address. Never
  // an answer to automatic mail either (it opens no ticket, above). The hourly limit counts the acks
  // of the last hour (read with the batch's facts) and those this batch plans, in order; the insert
  // checks the stored count again.
  if (trust !== 'untrusted') {
    if (plan.newTicket && !customer) plan.welcome = { address: senderAddress };
    const acked = facts.recentAcks.get(senderAddress) ?? 0;
    if (plan.newTicket && acked < ackLimitPerHour) {
      plan.ack = { address: senderAddress, limitPerHour: ackLimitPerHour };
      facts.recentAcks.set(senderAddress, acked + 1);
    }
  }
  const addresses = [senderAddress, ...plan.followers];
  uses.push(...addresses.map((a) => `address:${a}`));
  makes.push(...newCustomers.map((c) => `address:${c.address}`));
  return plan;
}

function content(d: Described, author: string | null): MessageContent {
  const { row, mail, classification, auth, rendered } = d.work;
  if (!rendered) throw new Error(`mail ${row.id} has no rendered content`);
  return messageContent({
    rendered,
    rawId: row.id,
    mail,
    classification,
    auth,
    trust: d.trust,
    trustReason: d.trustReason,
    author,
  });
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
