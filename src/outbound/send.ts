// The `outbound.send` handler: reload the row, skip what must not go (cancelled, already sent,
// suppressed or no-reply address), render the template at send time, send, and record what the receiving
// server said. A 5xx answer is final; anything else is retried by the queue with backoff, and the
// last try marks the mail failed.
import { createHash, randomBytes } from 'node:crypto';
import type { Knex } from 'knex';
import type { Transporter } from 'nodemailer';
import MailComposer from 'nodemailer/lib/mail-composer';
import type { Logger } from '../log.ts';
import { issueToken } from '../access/index.ts';
import { attachmentFiles, attachmentLink } from '../attachments/index.ts';
import { AppError } from '../errors.ts';
import {
  compileTemplate,
  formatSize,
  isTemplateName,
  renderTemplate,
  textToHtml,
  type RenderedMail,
} from '../templates/index.ts';
import { LOOP_HEADER } from '../mail/index.ts';
import { countSend } from '../metrics/index.ts';
import { OUTBOUND_KINDS, type OutboundKind, type OutboundKindSpec } from './kinds.ts';
import { mailRefusal } from './no-reply.ts';

export interface SendDeps {
  db: Knex;
  log: Logger;
  /** Where links point: PUBLIC_URL. */
  publicUrl: string;
  /** Our Message-IDs are @ this domain, so replies and bounces are recognised as ours. */
  messageIdDomain: string;
  /** No transport: the dev outbox keeps the rendered mail without sending it. */
  transport: Transporter | undefined;
  ticketLinkDays: number;
}

export type SendResult = 'sent' | 'kept' | 'skipped' | 'suppressed' | 'failed';

const PASSWORD_LINK_HOURS = 24;
/** a portal sign-in link by mail: short, as it signs in without a password */
const SIGN_IN_LINK_MINUTES = 15;
/** One plain address: the SMTP envelope must never be handed a list */
const SINGLE_ADDRESS = /^[^\s@,;<>()"']+@[^\s@,;<>()"']+$/;

interface OutboundRow {
  id: number;
  kind: OutboundKind;
  ticket_id: number | null;
  customer_id: number | null;
  message_ref: number | null;
  recipient: string;
  status: string;
  locale: string | null;
}

/** The outbound row with everything sending it needs, read in one round trip. */
interface Context extends OutboundRow {
  /** the reason, when the recipient is suppressed */
  suppressed: string | null;
  ticket: { id: number; inbox_id: number; number: number; subject: string; status: string; reply_token: string } | null;
  /** the ticket's inbox; for mail about no ticket, the one the customer last wrote to, else the first enabled */
  inbox: {
    id: number;
    address: string;
    name: string;
    from_name: string | null;
    settings: { locale?: string } | null;
  } | null;
  customer: { id: number; name: string; locale: string | null } | null;
  /** the recipient's conversation, oldest first (the last 20): In-Reply-To and References */
  thread: string[] | null;
}

async function loadContext(db: Knex, id: number): Promise<Context | undefined> {
  const { rows } = await db.raw<{ rows: Context[] }>(
    `SELECT o.id, o.kind, o.ticket_id, o.customer_id, o.message_ref, o.recipient, o.status, o.locale,
            (SELECT reason FROM suppressions WHERE address = lower(btrim(o.recipient))) AS suppressed,
            (SELECT jsonb_build_object('id', t.id, 'inbox_id', t.inbox_id, 'number', t.number, 'subject', t.subject,
                                       'status', t.status, 'reply_token', t.reply_token)
               FROM tickets t WHERE t.id = o.ticket_id) AS ticket,
            (SELECT to_jsonb(i) FROM (SELECT id, address, name, from_name, settings FROM inboxes
                WHERE id = coalesce((SELECT inbox_id FROM tickets WHERE id = o.ticket_id),
                                    (SELECT inbox_id FROM tickets WHERE requester_id = o.customer_id ORDER BY id DESC LIMIT 1),
                                    (SELECT min(id) FROM inboxes WHERE enabled))) i) AS inbox,
            (SELECT jsonb_build_object('id', c.id, 'name', c.name, 'locale', c.locale)
               FROM customer_emails e JOIN customers c ON c.id = e.customer_id WHERE e.address = lower(btrim(o.recipient))) AS customer,
            (SELECT array_agg(message_id ORDER BY at) FROM (
               SELECT message_id, at FROM (
                 SELECT message_id, created_at AS at FROM messages WHERE ticket_id = o.ticket_id AND message_id IS NOT NULL AND NOT internal
                 UNION ALL
                 -- our mails to this recipient only: another recipient's Message-IDs are theirs
                 SELECT message_id, sent_at FROM outbound_messages
                  WHERE ticket_id = o.ticket_id AND message_id IS NOT NULL AND status IN ('sent', 'bounced')
                    AND lower(btrim(recipient)) = lower(btrim(o.recipient))
               ) m ORDER BY at DESC LIMIT 20) last) AS thread
       FROM outbound_messages o WHERE o.id = ?`,
    [id],
  );
  return rows[0];
}

/**
 * A reply address for one recipient of one ticket: 130 random bits as 26 characters of [a-z2-7]
 * (the local part of an address, which some mail systems lower-case). Only its sha256 is stored,
 * on the outbound message that carried it.
 */
function newRecipientReplyToken(): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz234567';
  const bytes = randomBytes(26);
  let out = '';
  for (const b of bytes) out += alphabet[b & 31];
  return out;
}

class PermanentSendError extends Error {}

/** Sends one outbound mail; counts its result by kind (metrics), 'retry' when it throws for the queue to try again. */
export async function sendOutbound(
  deps: SendDeps,
  outboundId: number,
  opts: { finalAttempt: boolean },
): Promise<SendResult> {
  const seen: { kind: string } = { kind: 'unknown' };
  try {
    const result = await sendOnce(deps, outboundId, opts, seen);
    countSend(seen.kind, result);
    return result;
  } catch (err) {
    countSend(seen.kind, 'retry');
    throw err;
  }
}

async function sendOnce(
  deps: SendDeps,
  outboundId: number,
  opts: { finalAttempt: boolean },
  seen: { kind: string },
): Promise<SendResult> {
  const { db } = deps;
  const row = await loadContext(db, outboundId);
  // a label from the kinds table only: a row's kind the database does not check
  if (row && Object.hasOwn(OUTBOUND_KINDS, row.kind)) seen.kind = row.kind;
  if (row?.status !== 'queued') return 'skipped';
  if (!SINGLE_ADDRESS.test(row.recipient)) {
    await db('outbound_messages')
      .where({ id: row.id })
      .update({ status: 'failed', last_error: 'not a single mail address', updated_at: db.fn.now() });
    return 'failed';
  }
  // The one place that refuses mail to an address that takes none, whatever made the row (an
  // ack, an agent's reply, a follower update, a closing note, a welcome): a no-reply address
  // (no-reply.ts), or one suppressed after a hard bounce.
  const refused = mailRefusal(row.recipient) ?? (row.suppressed !== null && `address suppressed: ${row.suppressed}`);
  if (refused) {
    await db('outbound_messages')
      .where({ id: row.id })
      .update({ status: 'suppressed', last_error: refused, updated_at: db.fn.now() });
    return 'suppressed';
  }
  let mail: Composed;
  let response = 'dev outbox: kept, not sent (no OUTBOUND_SMTP_URL)';
  try {
    mail = await compose(deps, row);
    if (deps.transport) {
      const info = await deps.transport.sendMail({
        envelope: { from: mail.envelopeFrom, to: [row.recipient] },
        raw: mail.raw,
      });
      response = String(info.response ?? 'accepted');
    }
  } catch (err) {
    const e = err as Error & { responseCode?: number; response?: string };
    const permanent = err instanceof PermanentSendError || (e.responseCode !== undefined && e.responseCode >= 500);
    const last = permanent || opts.finalAttempt;
    await db('outbound_messages')
      .where({ id: row.id })
      .update({
        attempts: db.raw('attempts + 1'),
        last_error: (e.response ?? e.message).slice(0, 1000),
        updated_at: db.fn.now(),
        ...(last && { status: 'failed', smtp_response: e.response?.slice(0, 1000) ?? null }),
      });
    if (last) {
      deps.log.error(
        { outbound: row.id, recipient: row.recipient, err: e.response ?? e.message },
        'outbound mail failed',
      );
      return 'failed';
    }
    throw err; // the queue tries again later
  }
  // The relay has the mail. Until this UPDATE commits, a crash or a lost database sends it again
  // (the retried job finds the row 'queued'), so nothing else runs in between, and a database
  // error here is no failure of the send: the UPDATE is tried again while the database is away.
  await markSent(deps, row.id, {
    // The mail carries live link secrets: it is kept only in the dev outbox (no relay configured),
    // where keeping it is the point; a sent mail keeps its headers' facts, not its body.
    status: 'sent',
    message_id: mail.messageId,
    verp_token: mail.verpToken,
    reply_token_hash: mail.replyTokenHash,
    // whose reply address and link this mail carries
    customer_id: mail.customerId,
    subject: mail.subject,
    raw: deps.transport ? null : mail.raw,
    smtp_response: response.slice(0, 1000),
    sent_at: db.fn.now(),
    attempts: db.raw('attempts + 1'),
    last_error: null,
    updated_at: db.fn.now(),
  });
  return deps.transport ? 'sent' : 'kept';
}

/** How long the UPDATE of a mail the relay took is tried again before the job fails (and the mail goes again). */
const MARK_SENT_TRY_MS = 120_000;

async function markSent(deps: SendDeps, id: number, fields: Record<string, unknown>): Promise<void> {
  const until = Date.now() + MARK_SENT_TRY_MS;
  for (let wait = 250; ; wait = Math.min(wait * 2, 5_000)) {
    try {
      await deps.db('outbound_messages').where({ id }).update(fields);
      return;
    } catch (err) {
      if (Date.now() + wait > until) throw err;
      deps.log.warn(
        { outbound: id, err: (err as Error).message },
        'outbound mail sent, not yet marked sent: trying again',
      );
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
  }
}

interface Composed {
  raw: Buffer;
  messageId: string;
  verpToken: string;
  envelopeFrom: string;
  subject: string;
  /** sha256 of the recipient's reply token, when the mail carries one */
  replyTokenHash: Buffer | null;
  /** the customer whose reply address and link the mail carries */
  customerId: number | null;
}

async function compose(deps: SendDeps, row: Context): Promise<Composed> {
  const { ticket, inbox } = row;
  const kind = kindOf(row.kind);
  // a mail of its own template carries nothing of a customer's, whoever owns the address
  const customer = kind.link === 'none' ? null : row.customer;
  if (row.ticket_id && !ticket) throw new PermanentSendError(`ticket ${row.ticket_id} is gone`);
  if (!inbox) throw new PermanentSendError('no inbox to send from');
  const { rendered, files } =
    kind.link === 'none'
      ? { rendered: await templateTest(deps, row.id), files: [] }
      : await renderKind(deps, row, kind, inbox, customer);
  const [local, domain] = splitAddress(inbox.address);
  const verpToken = randomBytes(12).toString('base64url');
  // Replies come back to an address of this mail's own, issued to its recipient (like VERP): a
  // reply through it counts as that customer only.
  const replyToken = kind.replyAddress ? newRecipientReplyToken() : undefined;
  const messageId = `<o${row.id}.${randomBytes(6).toString('hex')}@${deps.messageIdDomain}>`;
  const thread = row.thread?.length ? { inReplyTo: row.thread[row.thread.length - 1], references: row.thread } : {};
  const headers: Record<string, string> = { [LOOP_HEADER]: String(row.id) };
  if (kind.automatic) {
    headers['Auto-Submitted'] = 'auto-replied';
    // asks Exchange and others not to answer this mail with their own automatic replies
    headers['X-Auto-Response-Suppress'] = 'All';
  }
  const composer = new MailComposer({
    from: { name: inbox.from_name || inbox.name, address: inbox.address },
    to: { name: customer?.name ?? '', address: row.recipient },
    replyTo: replyToken ? `${local}+${replyToken}@${domain}` : inbox.address,
    subject: rendered.subject,
    messageId,
    ...thread,
    headers,
    text: rendered.text,
    html: rendered.html,
    attachments: files,
    date: new Date(),
  });
  const raw = await new Promise<Buffer>((resolve, reject) =>
    composer.compile().build((err, out) => (err ? reject(err) : resolve(out))),
  );
  // bounces come back to inbox+<verp token>@, which finds this message even without its Message-ID
  return {
    raw,
    messageId,
    verpToken,
    envelopeFrom: `${local}+${verpToken}@${domain}`,
    subject: rendered.subject,
    replyTokenHash: replyToken ? createHash('sha256').update(replyToken).digest() : null,
    customerId: customer?.id ?? row.customer_id,
  };
}

type Files = { filename: string; contentType: string; content: Buffer }[];

/** The variables of a kind with a template of the shipped set, its links issued, rendered. */
async function renderKind(
  deps: SendDeps,
  row: Context,
  kind: Extract<OutboundKindSpec, { template: string }>,
  inbox: NonNullable<Context['inbox']>,
  customer: Context['customer'],
): Promise<{ rendered: RenderedMail; files: Files }> {
  const { db } = deps;
  const { ticket } = row;
  const locale = row.locale ?? customer?.locale ?? inbox.settings?.locale ?? 'en';
  const base = {
    customer: { name: customer?.name ?? '', email: row.recipient },
    inbox: { name: inbox.from_name || inbox.name, address: inbox.address },
  };

  let vars: Record<string, unknown>;
  let files: Files = [];
  // The links and the reply address are the recipient's: the page posts as them and nobody else.
  // Mail goes to customers only; an address that is nobody's gets no link and no reply address,
  // except a sign-up mail: its link names the address, and whoever opens it becomes the address's
  // customer (found or made) only then (portal/links.ts).
  if (kind.link === 'signup') {
    // an address with an active account already is told so, with a password link instead
    const account = customer && (await db('customers').where({ id: customer.id }).first('portal_status'));
    const exists = account?.portal_status === 'active';
    const { secret } = await issueToken(
      db,
      exists ? 'password_set' : 'signup',
      exists && customer ? { customerId: customer.id } : { address: row.recipient.trim().toLowerCase() },
      PASSWORD_LINK_HOURS * 3600,
    );
    vars = {
      ...base,
      link: `${deps.publicUrl}/portal/${exists ? 'password' : 'sign-up'}/${secret}`,
      link_expires_hours: PASSWORD_LINK_HOURS,
      account_exists: exists,
      sign_in_link: `${deps.publicUrl}/portal/sign-in`,
    };
  } else if (!customer) {
    throw new PermanentSendError(`${row.recipient} is no customer's address`);
  } else if (kind.link === 'ticket') {
    if (!ticket) throw new PermanentSendError(`${row.kind} mail ${row.id} is about no ticket`);
    const { secret } = await issueToken(
      db,
      'ticket_link',
      { ticketId: ticket.id, customerId: customer.id },
      deps.ticketLinkDays * 86400,
    );
    vars = {
      ...base,
      ticket: { number: ticket.number, subject: ticket.subject, status: ticket.status },
      link: `${deps.publicUrl}/t/${secret}`,
      link_expires_days: deps.ticketLinkDays,
    };
    if (kind.message) {
      const reply = await replyVars(deps, row, `${deps.publicUrl}/t/${secret}/attachments`);
      vars = { ...vars, ...reply.vars };
      files = reply.files;
    }
  } else if (kind.link === 'sign_in') {
    const { secret } = await issueToken(db, 'sign_in', { customerId: customer.id }, SIGN_IN_LINK_MINUTES * 60);
    vars = {
      ...base,
      link: `${deps.publicUrl}/portal/sign-in/link/${secret}`,
      link_expires_minutes: SIGN_IN_LINK_MINUTES,
    };
  } else {
    const { secret } = await issueToken(db, 'password_set', { customerId: customer.id }, PASSWORD_LINK_HOURS * 3600);
    vars = { ...base, link: `${deps.publicUrl}/portal/password/${secret}`, link_expires_hours: PASSWORD_LINK_HOURS };
  }
  return { rendered: await renderTemplate(db, kind.template, locale, vars), files };
}

/**
 * A test mail of a template being edited: its stored source, compiled here (it is no version, so
 * never cached) and rendered with its stored variables. A source or variables that fail now will
 * fail on every try: that is final.
 */
async function templateTest(deps: SendDeps, outboundId: number): Promise<RenderedMail> {
  const t = await deps
    .db('template_test_mails')
    .where({ outbound_id: outboundId })
    .first<{ name: string; locale: string; subject: string; mjml: string; text: string; vars: unknown } | undefined>(
      'name',
      'locale',
      'subject',
      'mjml',
      'text',
      'vars',
    );
  if (!t) throw new PermanentSendError(`the template test of outbound mail ${outboundId} is gone`);
  const { name, vars, ...source } = t;
  if (!isTemplateName(name)) throw new PermanentSendError(`no mail template named ${name}`);
  try {
    const mail = (await compileTemplate({ name, ...source })).render(vars);
    return { ...mail, subject: `[Test] ${mail.subject}` };
  } catch (err) {
    if (err instanceof AppError) throw new PermanentSendError(err.message);
    throw err;
  }
}

async function replyVars(deps: SendDeps, row: Context, attachmentBase: string) {
  const m = row.message_ref
    ? await deps
        .db('messages as m')
        .leftJoin('agents as a', 'a.id', 'm.author_agent_id')
        // only a public message of this very ticket ever goes out
        .where({ 'm.id': row.message_ref, 'm.ticket_id': row.ticket_id, 'm.internal': false })
        .first('m.id', 'm.text', 'm.html', 'a.name as agent')
    : undefined;
  if (!m) throw new PermanentSendError(`the message of outbound mail ${row.id} is gone`);
  const attachments = await attachmentFiles(deps.db, m.id);
  return {
    vars: {
      agent: { name: m.agent ?? 'Support' },
      message: {
        text: m.text,
        // a reply written as plain text (by mail, or in the API's text format) reads as paragraphs
        html: m.html ?? textToHtml(m.text),
        attachments: attachments.map((a) => ({
          name: a.name,
          size: formatSize(a.size),
          url: attachmentLink(attachmentBase, a),
        })),
      },
    },
    // the files travel with the mail too
    files: attachments.map((a) => ({
      filename: a.name,
      contentType: a.content_type,
      content: a.content,
    })),
  };
}

/** A row's kind, which the database does not check: an unknown one can never be sent. */
function kindOf(kind: string): OutboundKindSpec {
  if (!Object.hasOwn(OUTBOUND_KINDS, kind)) throw new PermanentSendError(`no kind of outbound mail is named ${kind}`);
  return OUTBOUND_KINDS[kind as OutboundKind];
}

function splitAddress(address: string): [string, string] {
  const at = address.lastIndexOf('@');
  return [address.slice(0, at), address.slice(at + 1)];
}
