// What a mail means, decided from the mail and the facts read for it, before anything is
// written: which customer, which ticket (threading), which outcome, and what to write. Pure, so
// that a whole batch is decided first and its writes are sent together.
import { newCustomer, normalizeAddress, type Customer, type NewCustomer } from '../customers/index.ts';
import { isNoReplyAddress } from '../outbound/index.ts';
import { customerWrites, isMember, newReplyToken, type NewTicket, type Ticket } from '../tickets/index.ts';
import type { Described, Facts, Outbound, Work } from './facts.ts';
import { plainText } from './mail-fields.ts';
import { messageContent, type MessageContent } from './store-message.ts';

/** What became of a mail. */
export type Outcome =
  | 'skipped'
  | 'quarantined'
  | 'ticket_created'
  | 'agent_reply'
  | 'reply'
  | 'reopened'
  | 'new_linked_ticket'
  | 'auto_reply'
  | 'auto_reply_unmatched'
  | 'automatic'
  | 'automatic_unmatched'
  | 'bounce'
  | 'bounce_unmatched'
  | 'own_mail';

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

/** The batch's decisions so far that a later mail's decision counts on. */
export interface BatchSoFar {
  /** acks this batch plans, by address (the facts count those of the last hour) */
  acksPlanned: ReadonlyMap<string, number>;
}

/** What the mail means, in four steps: its ticket, its people, the ticket's change, the follow-ups. */
export function planDelivery(
  d: Described,
  facts: Facts,
  index: number,
  settings: { reopenDays: number; ackLimitPerHour?: number; now?: Date },
  batch: BatchSoFar = { acksPlanned: new Map() },
): Delivery {
  const rawId = d.work.row.id;
  const uses = d.refs.map((r) => `message:${r}`);
  const makes = d.work.mail.messageId ? [`message:${d.work.mail.messageId}`] : [];
  const authorAddress = d.sender && normalizeAddress(d.sender.address);
  const customer = authorAddress ? facts.customers.get(authorAddress) : undefined;

  const found = findTicket(d, facts, index, customer);
  if (found.agentReply) return agentReplyPlan(d, found.agentReply.ticket, found.agentReply.agentId, uses, makes);
  // who belongs to a named ticket may change with an earlier mail of the batch (a Cc that makes a
  // follower): such a mail waits for the next pass, which reads the members afresh
  for (const id of found.namedIds) uses.push(`ticket:${id}`);
  if (authorAddress) uses.push(`address:${authorAddress}`);
  const { ticket, claimed } = found;

  if (d.automatic) {
    const kind = d.work.classification.kind === 'auto-reply' ? 'auto_reply' : 'automatic';
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

  const people = resolvePeople(d, facts, customer, ticket === undefined);
  const plan: Delivery = {
    ...ticketChange(d, ticket, claimed, people.companyId, settings),
    newCustomers: people.newCustomers,
    followers: people.followers,
    uses,
    makes,
  };
  if (ticket) {
    uses.push(`ticket:${ticket.id}`);
    makes.push(`ticket:${ticket.id}`);
  }
  plan.replyToken = plan.newTicket?.replyToken ?? ticket!.reply_token;
  plan.message = { content: content(d, people.address), event: { rawId, outcome: plan.outcome } };
  // a new ticket was created with its time stamps and flag already
  if (!plan.newTicket) plan.touch = { ticketId: ticket!.id, needsReview: false };
  Object.assign(plan, followUps(d, facts, plan, customer, people.address, settings.ackLimitPerHour ?? 5, batch));
  uses.push(...[people.address, ...plan.followers].map((a) => `address:${a}`));
  makes.push(...plan.newCustomers.map((c) => `address:${c.address}`));
  return plan;
}

interface FoundTicket {
  /** an agent answering by mail to a reply address of the ticket */
  agentReply?: { ticket: Ticket; agentId: number };
  /** the ticket the mail joins */
  ticket?: Ticket;
  /** a ticket the mail names but its author may not join */
  claimed?: Ticket;
  /** every ticket the mail names */
  namedIds: number[];
}

/**
 * Step 1, threading. 1. a reply token in a recipient address (support+<token>@) of the inbox it
 * was issued for; 2. In-Reply-To / References naming a message of a ticket; 3. [#n] in the
 * subject. Each links the mail to a ticket, and the mail joins it only when its author belongs to
 * it (the requester or a follower, by any of their addresses: isMember) and is not untrusted. A
 * recipient's reply address joins only mail of the customer it was issued to.
 */
function findTicket(d: Described, facts: Facts, index: number, customer: Customer | undefined): FoundTicket {
  const authorAddress = d.sender && normalizeAddress(d.sender.address);
  const viaToken = d.tokens
    .map((t) => ({ t, hit: facts.byToken.get(t.token) }))
    .find(({ t, hit }) => hit && hit.ticket.inbox_id === t.inboxId)?.hit;

  // An agent answering by mail: their own address, to a reply address of the ticket, from an
  // authenticated From (an agent's address is easy to forge, and this mail goes out to customers).
  const agent = !d.automatic && authorAddress ? facts.agents.get(authorAddress) : undefined;
  if (agent && viaToken && d.trust === 'authenticated')
    return { agentReply: { ticket: viaToken.ticket, agentId: agent.id }, namedIds: [] };

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
  const mayJoin = (c: { ticket: Ticket; onlyFor?: number }) =>
    d.trust !== 'untrusted' &&
    customer !== undefined &&
    isMember(c.ticket, customer.id) &&
    (c.onlyFor === undefined || c.onlyFor === customer.id);
  const ticket = claims.find(mayJoin)?.ticket;
  return {
    ...(ticket && { ticket }),
    ...(!ticket && claims[0] && { claimed: claims[0].ticket }),
    namedIds: claims.map((c) => c.ticket.id),
  };
}

function agentReplyPlan(d: Described, ticket: Ticket, agentId: number, uses: string[], makes: string[]): Delivery {
  const rawId = d.work.row.id;
  return {
    outcome: 'agent_reply',
    newCustomers: [],
    replyToken: ticket.reply_token,
    message: { content: content(d, null), event: { rawId, outcome: 'agent_reply', agentId } },
    agentReply: { agentId, rawId },
    touch: { ticketId: ticket.id, needsReview: false },
    followers: [],
    uses: [...uses, `ticket:${ticket.id}`],
    makes: [...makes, `ticket:${ticket.id}`],
  };
}

/**
 * Step 2, the people: the sender (a new customer when unknown, placed by the company rule) and
 * the To and Cc addresses that follow the ticket: on a ticket the mail opens, unless its author
 * is untrusted; on an existing ticket only from an authenticated author (anyone can write a Cc
 * line).
 */
function resolvePeople(d: Described, facts: Facts, customer: Customer | undefined, opensTicket: boolean) {
  const sender = d.sender!;
  const address = normalizeAddress(sender.address);
  const rule = { byDomain: facts.companies };
  const newCustomers: NewCustomer[] = [];
  const made = customer ? undefined : newCustomer(address, sender.name, rule);
  if (made) newCustomers.push({ ...made, event: { address: sender.address, rawId: d.work.row.id } });
  const companyId = customer ? customer.company_id : made!.companyId;
  const addsFollowers = opensTicket ? d.trust !== 'untrusted' : d.trust === 'authenticated';
  const followers = addsFollowers ? d.followers : [];
  for (const a of followers) {
    if (!facts.customers.has(a.address))
      newCustomers.push({ ...newCustomer(a.address, a.name, rule), event: { rawId: d.work.row.id } });
  }
  return { address, companyId, newCustomers, followers: followers.map((a) => a.address) };
}

/**
 * Step 3, the ticket's change, by the status rule (tickets/status.ts): a new ticket, appended,
 * reopened, or a new ticket linked to one closed too long ago. A mail that names a ticket its
 * author may not join opens a ticket of its own, flagged so that an agent looks at it: never
 * silently into someone else's conversation.
 */
function ticketChange(
  d: Described,
  ticket: Ticket | undefined,
  claimed: Ticket | undefined,
  companyId: number | null,
  settings: { reopenDays: number; now?: Date },
): Pick<Delivery, 'outcome' | 'newTicket' | 'reopen'> {
  const rawId = d.work.row.id;
  const requester = normalizeAddress(d.sender!.address);
  const subject = plainText(d.work.mail.subject ?? '');
  if (!ticket) {
    return {
      outcome: 'ticket_created',
      newTicket: {
        inboxId: d.receivedBy.id,
        requester,
        companyId,
        subject,
        replyToken: newReplyToken(),
        needsReview: d.trust === 'untrusted' || claimed !== undefined,
        event: {
          rawId,
          trust: d.trust,
          ...(claimed && {
            claimedTicketId: claimed.id,
            reason: 'the author does not belong to the ticket the mail names',
          }),
        },
      },
    };
  }
  const effect = customerWrites(ticket, settings.now ?? new Date(), settings.reopenDays);
  if (effect.effect === 'append') return { outcome: 'reply' };
  if (effect.effect === 'reopen') return { outcome: 'reopened', reopen: ticket };
  return {
    outcome: 'new_linked_ticket',
    newTicket: {
      inboxId: ticket.inbox_id,
      requester,
      companyId,
      subject: plainText(d.work.mail.subject ?? ticket.subject),
      replyToken: newReplyToken(),
      previousTicketId: ticket.id,
      needsReview: false,
      event: { previousTicketId: ticket.id, rawId },
    },
  };
}

/**
 * Step 4, what follows: nothing automatic goes to an untrusted author (it may be someone else's
 * forged address), never an answer to automatic mail (it opens no ticket), and nothing at all to
 * a no-reply address (its mail opens a ticket, but the address takes no mail: no ack, no welcome;
 * outbound/send.ts refuses anything else made for it). A new customer's
 * first ticket may invite them to the portal. The hourly ack limit counts the acks of the last
 * hour (read with the batch's facts) and those this batch planned before, in order; the insert
 * checks the stored count again.
 */
function followUps(
  d: Described,
  facts: Facts,
  plan: Delivery,
  customer: Customer | undefined,
  address: string,
  ackLimitPerHour: number,
  batch: BatchSoFar,
): Pick<Delivery, 'welcome' | 'ack'> {
  if (d.trust === 'untrusted' || !plan.newTicket || isNoReplyAddress(address)) return {};
  const acked = (facts.recentAcks.get(address) ?? 0) + (batch.acksPlanned.get(address) ?? 0);
  return {
    ...(!customer && { welcome: { address } }),
    ...(acked < ackLimitPerHour && { ack: { address, limitPerHour: ackLimitPerHour } }),
  };
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
