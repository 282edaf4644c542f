// What processing needs to know from the database about a batch of mails, read in one round
// trip: the customers of every address, the companies of their domains, and the tickets the mails
// may belong to (reply token, In-Reply-To/References, subject number), or for a bounce the
// message it answers. Everything the mail itself says is worked out first (describeMail), so the
// reads can all be sent at once.
import type pg from 'pg';
import { corked, type Sql } from '../db/index.ts';
import { inboxAddressOf } from '../inboxes/index.ts';
import { findCustomersByAddress, normalizeAddress, type Customer } from '../customers/index.ts';
import { candidateDomains, companiesByDomain } from '../companies/index.ts';
import {
  findTicketByMessageIds,
  findTicketByNumber,
  findTicketsByReplyToken,
  type Ticket,
  type TicketByToken,
} from '../tickets/index.ts';
import type { ParsedMail } from './parse.ts';
import type { Classification } from './classify.ts';
import type { AuthResult } from './auth.ts';
import type { RenderedContent } from './store-message.ts';
import { addressList, messageIdsOf, type Address } from './mail-fields.ts';
import { authorship, type Trust } from './trust.ts';

/** Deterministic problems with a mail: retrying cannot help, so it is quarantined at once. */
export class UnprocessableMail extends Error {
  override readonly name = 'UnprocessableMail';
}

export interface RawRow {
  id: number;
  status: string;
  raw: Buffer | null;
  mail_from: string;
  rcpt_to: string[];
  remote_address: string | null;
  helo: string | null;
}

/** What is known of a mail before the database is asked: the stored row, its parse and its checks. */
export interface Work {
  row: RawRow;
  mail: ParsedMail;
  classification: Classification;
  auth: AuthResult | undefined;
  /** sanitized HTML, text and visible text, made in the mail pool; none for our own mail and bounces */
  rendered: RenderedContent | undefined;
}

export interface InboxRef {
  id: number;
  address: string;
}

const MAX_FOLLOWERS_PER_MAIL = 50;

/** A mail to deliver into a ticket, as far as the mail and our inboxes tell. */
export interface Described {
  work: Work;
  receivedBy: InboxRef;
  inboxByAddress: Map<string, InboxRef>;
  /** machine mail: joins the ticket it answers, opens nothing */
  automatic: boolean;
  /** how far the author (sender) is believed: trust.ts */
  trust: Trust;
  trustReason: string;
  /** reply tokens in recipient addresses of our inboxes, in the order they count */
  tokens: { token: string; inboxId: number }[];
  /** In-Reply-To and References */
  refs: string[];
  /** the author: the From mailbox (trust.ts); always set for mail that is not automatic */
  sender?: Address;
  /** CC and the other To addresses: they follow the ticket */
  followers: Address[];
  /** [#n] in the subject, unless the author is untrusted */
  subjectNumber?: number;
}

/**
 * What the mail says about where it belongs. Throws UnprocessableMail when it reached none of our
 * inboxes or (for mail that is not automatic) names no sender.
 */
export function describeMail(work: Work, inboxes: InboxRef[], ownDomains: string[]): Described {
  const { row, mail, classification, auth } = work;
  const inboxByAddress = new Map(inboxes.map((i) => [i.address, i]));
  const receivedBy = row.rcpt_to.map((r) => inboxByAddress.get(inboxAddressOf(r))).find(Boolean);
  if (!receivedBy) throw new UnprocessableMail('no inbox among the recipients (the inbox may have been deleted)');

  const who = authorship(mail, row.mail_from, auth);
  // Machine mail joins the ticket it answers and opens nothing: auto-replies (challenge-response
  // filters too); bulk and list mail (newsletters to a support address are noise, not requests);
  // and mail with the null reverse path, which RFC 5321 reserves for notifications that must not
  // be answered. A no-reply sender is none of these: its mail opens a ticket (plan.ts mails
  // nothing back).
  const automatic = classification.kind === 'auto-reply' || classification.kind === 'bulk' || row.mail_from === '';
  const d: Described = {
    work,
    receivedBy,
    inboxByAddress,
    automatic,
    trust: who.trust,
    trustReason: who.reason,
    tokens: replyTokens(work, inboxByAddress),
    refs: messageIdsOf(mail),
    followers: [],
    ...(who.author && { sender: who.author }),
  };
  if (automatic) return d;

  const sender = who.author;
  if (!sender) throw new UnprocessableMail('no sender address (the From and the envelope sender are empty or invalid)');
  // CC and the other To addresses follow the ticket (not our inboxes, not ourselves, not the sender)
  d.followers = addressList(mail, ['to', 'cc'])
    .filter((a) => !inboxByAddress.has(inboxAddressOf(a.address)))
    .filter((a) => !ownDomains.includes(a.address.slice(a.address.lastIndexOf('@') + 1)))
    .filter((a) => a.address !== normalizeAddress(sender.address))
    .slice(0, MAX_FOLLOWERS_PER_MAIL);
  const m = /\[#(\d{1,9})\]/.exec(mail.subject ?? '');
  if (m && who.trust !== 'untrusted') d.subjectNumber = Number(m[1]);
  return d;
}

/** support+<token>@ addresses: the envelope is what reached us; the headers cover a mail forwarded to us unchanged. */
function replyTokens(work: Work, inboxByAddress: Map<string, InboxRef>): { token: string; inboxId: number }[] {
  const candidates = [...work.row.rcpt_to, ...addressList(work.mail, ['to', 'cc']).map((a) => a.address)];
  const out: { token: string; inboxId: number }[] = [];
  for (const address of candidates) {
    const a = address.toLowerCase();
    const at = a.lastIndexOf('@');
    const plus = a.indexOf('+');
    if (plus <= 0 || plus > at) continue;
    const inbox = inboxByAddress.get(inboxAddressOf(a));
    if (inbox) out.push({ token: a.slice(plus + 1, at), inboxId: inbox.id });
  }
  return out;
}

export interface Outbound {
  id: number;
  recipient: string;
  ticket_id: number | null;
}

export interface Facts {
  customers: Map<string, Customer>;
  /** enabled agents among the senders, by address */
  agents: Map<string, { id: number }>;
  /** acks sent to each sender in the last hour; the batch's planning counts its own on top */
  recentAcks: Map<string, number>;
  /** company by domain, for the domains of new customers */
  companies: Map<string, number>;
  /** by reply token: the ticket, and the customer the token was issued to (legacy ticket-wide tokens: none) */
  byToken: Map<string, TicketByToken>;
  /** by position in the batch */
  byRefs: (Ticket | undefined)[];
  bySubject: (Ticket | undefined)[];
  outbound: (Outbound | undefined)[];
}

/** A mail of the batch: to deliver, or a bounce that names the message it answers. */
export type Asking = { deliver: Described } | { bounce: { verpToken?: string } };

/** Sends every read of the batch at once and waits for the answers together. */
export async function gatherFacts(client: pg.ClientBase, sql: Sql, batch: Asking[]): Promise<Facts> {
  const described = batch.map((a) => ('deliver' in a ? a.deliver : undefined));
  // every author (automatic mail too: whether it may join a ticket depends on who wrote it) and follower
  const addresses = [
    ...new Set(
      described.flatMap((d) =>
        d?.sender ? [normalizeAddress(d.sender.address), ...d.followers.map((f) => f.address)] : [],
      ),
    ),
  ];
  const tokens = [...new Set(described.flatMap((d) => d?.tokens.map((t) => t.token) ?? []))];
  const senders = [
    ...new Set(
      described.flatMap((d) =>
        d?.sender && !d.automatic && d.tokens.length ? [normalizeAddress(d.sender.address)] : [],
      ),
    ),
  ];
  const reads = corked(client, () => ({
    customers: findCustomersByAddress(sql, addresses),
    agents: findAgents(sql, senders),
    recentAcks: recentAcks(
      sql,
      described.flatMap((d) => (d?.sender && !d.automatic ? [normalizeAddress(d.sender.address)] : [])),
    ),
    companies: companiesByDomain(sql, candidateDomains(addresses)),
    byToken: findTicketsByReplyToken(sql, tokens),
    byRefs: described.map((d) => (d ? findTicketByMessageIds(sql, d.refs) : undefined)),
    bySubject: described.map((d) =>
      d?.sender && d.subjectNumber !== undefined
        ? findTicketByNumber(sql, d.receivedBy.id, d.subjectNumber)
        : undefined,
    ),
    outbound: batch.map((a) => ('bounce' in a ? findOutbound(sql, a.bounce) : undefined)),
  }));
  // every read settles before any failure is thrown, so none is left unhandled
  const all = await Promise.allSettled([
    reads.customers,
    reads.agents,
    reads.recentAcks,
    reads.companies,
    reads.byToken,
    ...reads.byRefs,
    ...reads.bySubject,
    ...reads.outbound,
  ]);
  const failed = all.find((r) => r.status === 'rejected');
  if (failed) throw failed.reason;
  return {
    customers: await reads.customers,
    agents: await reads.agents,
    recentAcks: await reads.recentAcks,
    companies: await reads.companies,
    byToken: await reads.byToken,
    byRefs: await Promise.all(reads.byRefs),
    bySubject: await Promise.all(reads.bySubject),
    outbound: await Promise.all(reads.outbound),
  };
}

async function recentAcks(sql: Sql, addresses: string[]): Promise<Map<string, number>> {
  if (addresses.length === 0) return new Map();
  const { rows } = await sql<{ recipient: string; n: number }>(
    `SELECT recipient, count(*)::int AS n FROM outbound_messages
      WHERE kind = 'ack' AND recipient = ANY($1::text[]) AND created_at > now() - interval '1 hour'
      GROUP BY recipient`,
    [[...new Set(addresses)]],
  );
  return new Map(rows.map((r) => [r.recipient, r.n]));
}

/** Agents writing to a ticket's reply address post agent replies (see plan.ts). */
async function findAgents(sql: Sql, addresses: string[]): Promise<Map<string, { id: number }>> {
  if (addresses.length === 0) return new Map();
  const { rows } = await sql<{ id: number; email: string }>(
    'SELECT id, email FROM agents WHERE email = ANY($1::text[]) AND NOT disabled',
    [addresses],
  );
  return new Map(rows.map((r) => [r.email, { id: Number(r.id) }]));
}

/**
 * The message a bounce answers: only through the token of our VERP return path, the address the
 * DSN was delivered to. A Message-ID quoted in a bounce proves nothing: anyone can write a
 * "bounce" naming a message of ours and so silence its recipient.
 */
async function findOutbound(sql: Sql, b: { verpToken?: string }): Promise<Outbound | undefined> {
  if (!b.verpToken) return undefined;
  const { rows } = await sql<Outbound>('SELECT id, recipient, ticket_id FROM outbound_messages WHERE verp_token = $1', [
    b.verpToken,
  ]);
  return rows[0];
}
