// A ticket's status and every rule that moves it: what a customer's message does to a ticket,
// what closing, resolving and opening again do, and who is told. Pure: the callers (inbound mail,
// the agents' API, the public ticket page and the portal) read the ticket, ask here, and write
// what they are told in their own transaction.
//
//   status    customer writes (mail, page, portal)           agent sets status (API)
//   --------  ---------------------------------------------  ------------------------------------
//   open      appended, stays open                           any other status
//   pending   appended, back to open (the answer the agent   any other status
//             was waiting for puts it back in the queue)
//   resolved  within REOPEN_DAYS of closed_at: reopened      open/pending: opened again;
//             later: a new ticket linked to this one         closed: closed, closed_at kept
//   closed    as resolved                                    as resolved
//
//   closed_at is when the ticket left the agents' work: set when it becomes resolved or closed
//   from open or pending, kept between resolved and closed, cleared when it is opened again. So a
//   late reply to a ticket resolved through the API opens a linked ticket, as for a closed one.
//
//   Closing (by an agent, or by a customer on the page or in the portal) tells the requester with
//   the ticket_closed mail, unless the requester closed it themselves: they have just seen the
//   page say so. A follower who closes the ticket is someone else, and the requester is told. At
//   most one ticket_closed a day per ticket (by-customer.ts), whoever closes it how often.
//   Resolving tells nobody by itself: the agent's reply carries the news. A customer can close a
//   ticket that is not closed; they cannot resolve, and they open one again by writing.
//
//   A resolved ticket asks its customers in the portal whether it is solved: "yes" closes it (as
//   above, closed_at kept); "no" opens it again without a message, as a message would
//   (customerReopens): only from resolved, and only while a message would reopen it (within
//   REOPEN_DAYS); later, they write, and their message opens a new linked ticket.

export const TICKET_STATUSES = ['open', 'pending', 'resolved', 'closed'] as const;
export type TicketStatus = (typeof TICKET_STATUSES)[number];

/** The statuses in which a ticket is no longer the agents' work. */
const DONE: ReadonlySet<TicketStatus> = new Set(['resolved', 'closed']);

export function isTicketStatus(value: unknown): value is TicketStatus {
  return (TICKET_STATUSES as readonly unknown[]).includes(value);
}

/** Who changes the status: an agent, or a customer (isRequester: the ticket's requester). */
export type StatusActor = { kind: 'agent' } | { kind: 'customer'; isRequester: boolean };

/** What to write for a change of status. */
export interface StatusChange {
  from: TicketStatus;
  to: TicketStatus;
  /** 'now': set closed_at to the time of the change; null: clear it; 'keep': leave it */
  closedAt: 'now' | null | 'keep';
  /** queue the ticket_closed mail to the requester */
  tellRequester: boolean;
}

/** The change from one status to another, or undefined when there is nothing to change. */
export function changeStatus(from: TicketStatus, to: TicketStatus, by: StatusActor): StatusChange | undefined {
  if (from === to) return undefined;
  const closedAt = DONE.has(to) ? (DONE.has(from) ? 'keep' : 'now') : null;
  const closedBySomeoneElse = by.kind === 'agent' || !by.isRequester;
  return { from, to, closedAt, tellRequester: to === 'closed' && closedBySomeoneElse };
}

/**
 * Whether a customer may set this status: they close a ticket that is not closed, and open one
 * again only by writing (customerWrites).
 */
export function customerMayClose(status: TicketStatus): boolean {
  return status !== 'closed';
}

/** What a customer's message does to the ticket it belongs to. */
export type CustomerMessageEffect =
  | { effect: 'append' }
  | { effect: 'reopen'; change: StatusChange }
  | { effect: 'new_linked_ticket' };

/**
 * A customer wrote on a ticket (by mail, on the page or in the portal). `closed_at` missing on a
 * done ticket (rows from before the rule set it) counts as closed just now: it reopens.
 */
export function customerWrites(
  ticket: { status: TicketStatus; closed_at: Date | null },
  now: Date,
  reopenDays: number,
): CustomerMessageEffect {
  if (ticket.status === 'open') return { effect: 'append' };
  if (DONE.has(ticket.status) && ticket.closed_at) {
    const days = (now.getTime() - ticket.closed_at.getTime()) / 86_400_000;
    if (days > reopenDays) return { effect: 'new_linked_ticket' };
  }
  return { effect: 'reopen', change: changeStatus(ticket.status, 'open', { kind: 'customer', isRequester: true })! };
}

/**
 * A customer says a resolved ticket is not solved, without writing: the change a message of theirs
 * would make, or undefined when there is none to make (not resolved, or resolved too long ago: a
 * message then opens a new linked ticket, so they write one).
 */
export function customerReopens(
  ticket: { status: TicketStatus; closed_at: Date | null },
  now: Date,
  reopenDays: number,
): StatusChange | undefined {
  if (ticket.status !== 'resolved') return undefined;
  const effect = customerWrites(ticket, now, reopenDays);
  return effect.effect === 'reopen' ? effect.change : undefined;
}
