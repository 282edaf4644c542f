// One stored mail becomes what it means: a ticket message from the right customer in the right
// ticket, a recorded bounce, or nothing (our own mail coming back). Parsing and the DNS-bound
// sender checks happen before the transaction; everything written happens in one transaction,
// with the raw row locked, so retries and reprocessing never make a second message.
import type { Knex } from 'knex';
import type { Logger } from '../log.ts';
import { inboxAddressOf } from '../inboxes/index.ts';
import { findOrCreateCustomer, normalizeAddress, type Customer } from '../customers/index.ts';
import {
  addFollowers,
  createTicket,
  findTicketByMessageIds,
  findTicketByNumber,
  findTicketByToken,
  isAssociated,
  recordEvent,
  recordEvents,
  reopen,
  type EventRecord,
  touch,
  type Ticket,
} from '../tickets/index.ts';
import { parseMail, type ParsedMail } from './parse.ts';
import { classify, type Classification } from './classify.ts';
import { authenticateMail, type AuthResult, type DnsResolver } from './auth.ts';
import { addressList, firstAddress, messageIdsOf, plainText } from './mail-fields.ts';
import { storeMessage } from './store-message.ts';

export interface InboundSettings {
  /** A reply to a ticket closed longer ago than this opens a new ticket linked to it. */
  reopenDays: number;
  /** Domains of the Message-IDs we generate: mail carrying them is ours. */
  ownDomains: string[];
  /** The header our outbound mail carries, so that it is recognised if it comes back. */
  loopHeader: string;
  /** Our host name, as the authserv-id of the authentication results. */
  mta: string;
  /** DNS for SPF/DKIM/DMARC; the system resolver when undefined. */
  resolver?: DnsResolver;
}

export interface InboundContext {
  db: Knex;
  log: Logger;
  settings: InboundSettings;
}

export type Outcome =
  | 'skipped'
  | 'quarantined'
  | 'ticket_created'
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

/** Deterministic problems with a mail: retrying cannot help, so it is quarantined at once. */
export class UnprocessableMail extends Error {
  override readonly name = 'UnprocessableMail';
}

interface RawRow {
  id: number;
  status: string;
  raw: Buffer | null;
  mail_from: string;
  rcpt_to: string[];
  remote_address: string | null;
  helo: string | null;
}

/** What is known of a mail before the transaction: the stored row, its parse and its checks. */
interface Work {
  row: RawRow;
  mail: ParsedMail;
  classification: Classification;
  auth: AuthResult | undefined;
}

const MAX_FOLLOWERS_PER_MAIL = 50;

export async function processRawMessage(ctx: InboundContext, rawId: number, opts: { finalAttempt?: boolean } = {}): Promise<Outcome> {
  const { db, log } = ctx;
  const row = await db('raw_messages')
    .select<RawRow[]>('id', 'status', 'raw', 'mail_from', 'rcpt_to', 'remote_address', 'helo')
    .where({ id: rawId })
    .first();
  if (!row || row.raw === null || row.status === 'processed' || row.status === 'duplicate') return 'skipped';

  let mail: ParsedMail;
  try {
    mail = await parseMail(row.raw);
  } catch (err) {
    return quarantine(ctx, rawId, `cannot parse: ${(err as Error).message}`);
  }

  try {
    const classification = classify(mail, {
      mailFrom: row.mail_from,
      rcptTo: row.rcpt_to,
      ownMessageIdDomains: ctx.settings.ownDomains,
      loopHeader: ctx.settings.loopHeader,
    });
    const auth =
      classification.kind === 'own' || classification.kind === 'bounce'
        ? undefined
        : await authenticateMail({
            raw: row.raw,
            ip: row.remote_address ?? '127.0.0.1',
            helo: row.helo ?? undefined,
            mailFrom: row.mail_from,
            mta: ctx.settings.mta,
            resolver: ctx.settings.resolver,
          });
    const outcome = await db.transaction((trx) => apply(trx, ctx, { row, mail, classification, auth }));
    log.debug({ raw: rawId, outcome, kind: classification.kind }, 'mail processed');
    return outcome;
  } catch (err) {
    if (err instanceof UnprocessableMail || opts.finalAttempt) {
      return quarantine(ctx, rawId, (err as Error).message);
    }
    throw err; // the queue retries with backoff
  }
}

async function quarantine(ctx: InboundContext, rawId: number, reason: string): Promise<'quarantined'> {
  await ctx.db('raw_messages')
    .where({ id: rawId })
    .whereNot({ status: 'processed' })
    .update({ status: 'quarantined', error: reason.slice(0, 2000), attempts: ctx.db.raw('attempts + 1'), outcome: null });
  ctx.log.warn({ raw: rawId, reason }, 'mail quarantined');
  return 'quarantined';
}

async function apply(trx: Knex.Transaction, ctx: InboundContext, work: Work): Promise<Outcome> {
  const { row, classification } = work;
  // The row lock makes a retried job and a manual reprocess wait for each other.
  const locked = await trx('raw_messages').select('status').where({ id: row.id }).forUpdate().first<{ status: string }>();
  if (!locked || locked.status === 'processed') return 'skipped';
  const outcome =
    classification.kind === 'own'
      ? 'own_mail'
      : classification.kind === 'bounce'
        ? await recordBounce(trx, classification, row.id)
        : await deliver(trx, ctx, work);
  await trx('raw_messages')
    .where({ id: row.id })
    .update({ status: 'processed', outcome, error: null, processed_at: trx.fn.now(), attempts: trx.raw('attempts + 1') });
  return outcome;
}

/** A bounce marks the message it answers; a hard one suppresses that message's recipient. */
async function recordBounce(trx: Knex.Transaction, c: Classification, rawId: number): Promise<Outcome> {
  const b = c.bounce;
  let outbound: { id: number; recipient: string; ticket_id: number | null } | undefined;
  if (b?.verpToken) outbound = await trx('outbound_messages').where({ verp_token: b.verpToken }).first('id', 'recipient', 'ticket_id');
  if (!outbound && b?.originalMessageId) {
    outbound = await trx('outbound_messages').where({ message_id: b.originalMessageId }).first('id', 'recipient', 'ticket_id');
  }
  if (!outbound || !b) return 'bounce_unmatched';
  await trx('outbound_messages')
    .where({ id: outbound.id })
    .update({ status: 'bounced', bounced_at: trx.fn.now(), last_error: `bounce ${b.status ?? ''} (raw message ${rawId})`.trim() });
  await recordEvent(trx, 'outbound.bounced', { ticketId: outbound.ticket_id, data: { outboundId: outbound.id, status: b.status, hard: b.hard, rawId } });
  // Only the recipient of a message we really sent is suppressed: a forged DSN naming other
  // addresses cannot silence our mail to them.
  if (b.hard) {
    const address = normalizeAddress(outbound.recipient);
    await trx('suppressions').insert({ address, reason: `hard bounce ${b.status ?? ''}`.trim(), outbound_id: outbound.id }).onConflict('address').ignore();
    await recordEvent(trx, 'address.suppressed', { data: { address, outboundId: outbound.id } });
  }
  return 'bounce';
}

interface InboxRef {
  id: number;
  address: string;
}

async function deliver(trx: Knex.Transaction, ctx: InboundContext, work: Work): Promise<Outcome> {
  const { row, mail, classification, auth } = work;
  const inboxes = await inboxRefs(ctx.db, trx);
  const inboxByAddress = new Map(inboxes.map((i) => [i.address, i]));
  const receivedBy = row.rcpt_to.map((r) => inboxByAddress.get(inboxAddressOf(r))).find(Boolean);
  if (!receivedBy) throw new UnprocessableMail('no inbox among the recipients (the inbox may have been deleted)');

  // A From that fails DMARC may be forged: such mail never joins a ticket on the strength of its
  // sender address (the subject number). Domains without a DMARC policy ('none') are most of the
  // world's small senders; they are not refused, their verdicts are kept on the message.
  const untrustedFrom = auth?.dmarc === 'fail';
  // Machine mail joins the ticket it answers and opens nothing: auto-replies; bulk and list mail
  // (newsletters to a support address are noise, not requests); and mail with the null reverse
  // path, which RFC 5321 reserves for notifications that must not be answered.
  const automatic = classification.kind === 'auto-reply' || classification.kind === 'bulk' || row.mail_from === '';
  const refs = messageIdsOf(mail);

  // 1. a reply token in a recipient address: support+<token>@...
  let ticket = await ticketByToken(trx, row.rcpt_to, mail, inboxByAddress);
  // 2. In-Reply-To / References naming a message of a ticket
  ticket ??= await findTicketByMessageIds(trx, refs);

  if (automatic) {
    const kind = classification.kind === 'auto-reply' ? 'auto_reply' : 'automatic';
    if (!ticket) return `${kind}_unmatched`;
    await storeMessage(trx, { ticket, rawId: row.id, mail, classification, auth, untrustedFrom, customerId: null });
    await touch(trx, ticket.id);
    return kind;
  }

  const sender = firstAddress(mail, row.mail_from);
  if (!sender) throw new UnprocessableMail('no sender address (From, Reply-To and envelope sender are all empty or invalid)');
  const events: EventRecord[] = [];
  const { customer, created } = await findOrCreateCustomer(trx, sender.address, sender.name);
  if (created) events.push({ type: 'customer.created', customerId: customer.id, data: { address: sender.address, rawId: row.id } });

  // 3. a ticket number in the subject, only from someone the ticket knows, with a From we can trust
  if (!ticket) ticket = await ticketBySubjectNumber(trx, mail.subject ?? '', receivedBy.id, customer, untrustedFrom);

  let outcome: Outcome;
  if (!ticket) {
    ticket = await createTicket(trx, {
      inboxId: receivedBy.id,
      requesterId: customer.id,
      companyId: customer.company_id,
      subject: plainText(mail.subject ?? ''),
      needsReview: untrustedFrom,
    });
    events.push({ type: 'ticket.created', ticketId: ticket.id, customerId: customer.id, data: { number: ticket.number, rawId: row.id } });
    outcome = 'ticket_created';
  } else if (ticket.status === 'closed' || ticket.status === 'resolved') {
    const closedDays = ticket.closed_at ? (Date.now() - ticket.closed_at.getTime()) / 86_400_000 : 0;
    if (closedDays > ctx.settings.reopenDays) {
      const previous = ticket;
      ticket = await createTicket(trx, {
        inboxId: previous.inbox_id,
        requesterId: customer.id,
        companyId: customer.company_id,
        subject: plainText(mail.subject ?? previous.subject),
        previousTicketId: previous.id,
        needsReview: untrustedFrom,
      });
      events.push({ type: 'ticket.created', ticketId: ticket.id, customerId: customer.id, data: { number: ticket.number, previousTicketId: previous.id, rawId: row.id } });
      outcome = 'new_linked_ticket';
    } else {
      await reopen(trx, ticket);
      outcome = 'reopened';
    }
  } else {
    outcome = 'reply';
  }

  await storeMessage(trx, { ticket, rawId: row.id, mail, classification, auth, untrustedFrom, customerId: customer.id });
  // a new ticket was created with its time stamps and flag already
  if (outcome !== 'ticket_created' && outcome !== 'new_linked_ticket') await touch(trx, ticket.id, { needsReview: untrustedFrom });
  events.push({ type: 'message.received', ticketId: ticket.id, customerId: customer.id, data: { rawId: row.id, outcome } });

  // CC and the other To addresses follow the ticket (not our inboxes, not ourselves, not the sender)
  const others = addressList(mail, ['to', 'cc'])
    .filter((a) => !inboxByAddress.has(inboxAddressOf(a.address)))
    .filter((a) => !ctx.settings.ownDomains.includes(a.address.slice(a.address.lastIndexOf('@') + 1)))
    .filter((a) => a.address !== normalizeAddress(sender.address))
    .slice(0, MAX_FOLLOWERS_PER_MAIL);
  const followerIds: number[] = [];
  for (const a of others) followerIds.push((await findOrCreateCustomer(trx, a.address, a.name)).customer.id);
  const added = await addFollowers(trx, ticket, followerIds);
  if (added.length > 0) events.push({ type: 'ticket.followers_added', ticketId: ticket.id, data: { customerIds: added } });
  await recordEvents(trx, events);
  return outcome;
}

// The inbox list is read on every mail and changes rarely: a few seconds of staleness only
// delays the recognition of a brand-new inbox's address among the CC.
const inboxCache = new WeakMap<Knex, { at: number; rows: InboxRef[] }>();
async function inboxRefs(db: Knex, trx: Knex.Transaction): Promise<InboxRef[]> {
  const cached = inboxCache.get(db);
  if (cached && Date.now() - cached.at < 5_000) return cached.rows;
  const rows = await trx('inboxes').select<InboxRef[]>('id', 'address');
  inboxCache.set(db, { at: Date.now(), rows });
  return rows;
}

async function ticketByToken(
  trx: Knex.Transaction,
  rcptTo: string[],
  mail: ParsedMail,
  inboxByAddress: Map<string, InboxRef>,
): Promise<Ticket | undefined> {
  // the envelope is what reached us; the headers cover a mail forwarded to us unchanged
  const candidates = [...rcptTo, ...addressList(mail, ['to', 'cc']).map((a) => a.address)];
  for (const address of candidates) {
    const a = address.toLowerCase();
    const at = a.lastIndexOf('@');
    const plus = a.indexOf('+');
    if (plus <= 0 || plus > at) continue;
    const inbox = inboxByAddress.get(inboxAddressOf(a));
    if (!inbox) continue;
    const ticket = await findTicketByToken(trx, a.slice(plus + 1, at));
    if (ticket && ticket.inbox_id === inbox.id) return ticket;
  }
  return undefined;
}

async function ticketBySubjectNumber(
  trx: Knex.Transaction,
  subject: string,
  inboxId: number,
  customer: Customer,
  untrustedFrom: boolean,
): Promise<Ticket | undefined> {
  const m = /\[#(\d{1,9})\]/.exec(subject);
  if (!m || untrustedFrom) return undefined;
  const ticket = await findTicketByNumber(trx, inboxId, Number(m[1]));
  if (!ticket) return undefined;
  return (await isAssociated(trx, ticket, customer.id)) ? ticket : undefined;
}
