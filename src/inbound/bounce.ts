// Bounces: whether a mail is one (a delivery status report, a feedback-loop complaint, or a mailer
// daemon's prose) and what it says: hard or soft, the failed recipients, the mail it returns and
// the VERP token it came back to. dsn.ts reads the text; this file picks the parts of the mail.
import type { ParsedMail } from 'mailparser';
import {
  asMessageId,
  bareAddress,
  dsnOutcome,
  feedbackAddresses,
  humanPart,
  inlineMessageId,
  isAddress,
  MAX_RECIPIENTS,
  messageIdInHeaderBlock,
  proseOutcome,
  proseRecipients,
  readDsn,
  toLf,
  unique,
} from './dsn.ts';
import { isMdn } from './machine-mail.ts';
import { headerValue } from './mail-fields.ts';
import {
  attachmentText,
  DAEMON_LOCAL,
  hasPart,
  localPart,
  looseAddress,
  MAX_SCAN_CHARS,
  type MailView,
  typeOf,
} from './mail-view.ts';

export interface Bounce {
  /** true for a permanent failure (5.x.x status / 5xx code), false for soft/delayed (4.x.x), also false when unknown */
  hard: boolean;
  /** first DSN Status found, e.g. '5.1.1', or undefined */
  status?: string;
  /** the failed recipient addresses (Final-Recipient / Original-Recipient of a DSN, or best-effort from a non-DSN bounce), lower-cased */
  recipients: string[];
  /** Message-ID (with <>) of the message that bounced, from the returned message/rfc822 or text/rfc822-headers part, or from the bounce's In-Reply-To/References */
  originalMessageId?: string;
  /** token from a VERP return address the bounce was sent to, e.g. envelope rcpt 'bounces+AbC123_-x@help.example.com' gives 'AbC123_-x' */
  verpToken?: string;
  /** 'dsn' | 'arf' (feedback-loop complaint) | 'non-dsn' */
  format: 'dsn' | 'arf' | 'non-dsn';
}

/** A returned message's header block; its body is of no use here. */
const MAX_RETURNED_HEADER_CHARS = 64 * 1024;

// ---------------------------------------------------------------------------------------------
// Whether a mail is a bounce

const DAEMON_NAME = /mailer[- ]?daemon|postmaster|mail delivery (subsystem|system|service)|delivery subsystem/i;
// Subjects real MTAs give their bounces, in the languages we meet most (Exchange translates them).
const BOUNCE_SUBJECT = new RegExp(
  [
    'undeliver(ed|able)',
    'returned mail',
    'mail returned',
    'delivery (status notification|failure|failed|has failed|notification|problem|report)',
    'mail delivery (failed|failure|error|problem)',
    '(message|mail) (could not be|not) delivered',
    'non[- ]?deliver(y|able)',
    'failure notice',
    'delivery (delayed|delay)',
    'warning: could not send',
    'delayed mail',
    'unzustellbar',
    'nicht zustellbar',
    'zustellung fehlgeschlagen',
    'non remis',
    'échec de (la )?(remise|distribution)',
    'no se puede entregar',
    'no entregado',
    'non recapitabile',
    'mancato recapito',
    'onbestelbaar',
    'não é possível entregar',
    'não entregue',
    'niedostarczalne',
    'nie można dostarczyć',
    'olevererbar',
    'kan ikke leveres',
    'ei voitu toimittaa',
  ].join('|'),
  'i',
);

export function bounceReasons(view: MailView): string[] {
  const nullPath = view.nullPathReasons;
  const strong = [...reportReasons(view), ...daemonReasons(view)];
  if (view.headers.has('x-failed-recipients')) strong.push('x-failed-recipients'); // Exim puts it only on bounces
  // Microsoft's junk-mail reporting program (JMRP) sends complaints in its own format, not ARF
  if (view.headers.has('x-hmxmroriginalrecipient')) strong.push('complaint:jmrp');
  // ...or only in the reported message, which mailparser reduces to a summary when it is inline:
  // then it is the fixed subject from Microsoft's own mail domains
  if (
    /^complaint about message from /i.test(view.subject) &&
    /@(hotmail|outlook|live|msn)\.com$/.test(view.fromAddress)
  ) {
    strong.push('complaint:jmrp');
  }
  // Mail with a null return path carrying a mail back is a bounce; an MDN may carry headers too.
  if (nullPath.length > 0 && hasPart(view, RETURNED_TYPES) && !isMdn(view)) strong.push('returned-message');
  const weak: string[] = [];
  if (!strong.includes('from:mailer-daemon') && DAEMON_NAME.test(view.fromName)) weak.push('from-name:mailer-daemon');
  if (BOUNCE_SUBJECT.test(view.subject)) weak.push('subject:bounce');
  // A name or a subject is anyone's to write; with a null return path it is a mailer's.
  if (strong.length === 0 && (nullPath.length === 0 || weak.length === 0)) return [];
  return [...nullPath, ...strong, ...weak];
}

/** multipart/report is written by mailers only (RFC 6522); read receipts are auto-replies. */
function reportReasons(view: MailView): string[] {
  const reasons: string[] = [];
  if (view.contentType === 'multipart/report' && view.reportType !== 'disposition-notification') {
    reasons.push(`report:${view.reportType || 'unknown'}`);
  }
  if (view.contentType === 'message/delivery-status' || hasPart(view, DSN_TYPES)) reasons.push('part:delivery-status');
  return reasons;
}

function daemonReasons(view: MailView): string[] {
  const reasons: string[] = [];
  // "From: MAILER-DAEMON <>" has no address to test, only the name
  const nameOnly = view.fromAddress === '' && DAEMON_NAME.test(view.fromName);
  if (nameOnly || DAEMON_LOCAL.test(localPart(view.fromAddress))) reasons.push('from:mailer-daemon');
  if (view.daemonPath) reasons.push('return-path:mailer-daemon');
  return reasons;
}

// ---------------------------------------------------------------------------------------------
// What a bounce says (its text is read in dsn.ts)

const DSN_TYPES = ['message/delivery-status', 'message/global-delivery-status'];
const RETURNED_TYPES = [
  'message/rfc822',
  'message/global',
  'text/rfc822-headers',
  'text/rfc822-header', // misspelt by some feedback-loop senders
  'message/rfc822-headers',
  'message/global-headers',
];

export function describeBounce(mail: ParsedMail, view: MailView, rcptTo: string[]): Bounce {
  const originalMessageId = returnedMessageId(view) ?? repliedToId(mail) ?? inlineMessageIdOf(view);
  const verpToken = verpTokenOf(rcptTo);
  const common = { ...(originalMessageId && { originalMessageId }), ...(verpToken && { verpToken }) };
  if (view.reportType === 'feedback-report') {
    return { format: 'arf', hard: false, recipients: feedbackRecipients(view), ...common };
  }
  const dsn = readDsn(dsnText(view));
  // Some DSNs lose their report part (no MIME boundaries, mangled by a relay): read their prose then.
  const outcome = dsn.length > 0 ? dsnOutcome(dsn) : nonDsnOutcome(view, rcptTo);
  const isDsn = dsn.length > 0 || view.reportType === 'delivery-status' || hasPart(view, DSN_TYPES);
  return { format: isDsn ? 'dsn' : 'non-dsn', ...outcome, ...common };
}

/**
 * The delivery-status part: mailparser keeps it as an attachment only when asked to
 * (keepDeliveryStatus) or when it is marked as one; by default it is appended to mail.text.
 */
function dsnText(view: MailView): string {
  const part = view.attachments.find((a) => DSN_TYPES.includes(typeOf(a)));
  return part ? toLf(attachmentText(part, MAX_SCAN_CHARS)) : view.text;
}

function nonDsnOutcome(view: MailView, rcptTo: string[]): Omit<Bounce, 'format'> {
  const prose = humanPart(view.text);
  return { ...proseOutcome(prose), recipients: nonDsnRecipients(view, prose, rcptTo) };
}

/** Failed recipients of a bounce without DSN, never our own addresses nor a mailer daemon's. */
function nonDsnRecipients(view: MailView, prose: string, rcptTo: string[]): string[] {
  // the bounce goes back to us: our own addresses are never the failed ones
  const to = looseAddress(view.headers.get('to')?.[0] ?? '').address ?? '';
  const ours = new Set([...rcptTo, to].map(bareAddress));
  const keep = (found: string[]) =>
    unique(found.map(bareAddress))
      .filter((a) => isAddress(a) && !ours.has(a) && !DAEMON_LOCAL.test(localPart(a)))
      .slice(0, MAX_RECIPIENTS);
  // Exim names them exactly; its text also shows the sender alone on a line, so trust the header only.
  const failed = keep((view.headers.get('x-failed-recipients') ?? []).flatMap((v) => v.split(',')));
  if (failed.length > 0) return failed;
  return keep(proseRecipients(prose));
}

function feedbackRecipients(view: MailView): string[] {
  const part = view.attachments.find((a) => typeOf(a) === 'message/feedback-report');
  return feedbackAddresses(part ? toLf(attachmentText(part, MAX_SCAN_CHARS)) : view.text);
}

/** Message-ID of the returned mail or its returned headers. */
function returnedMessageId(view: MailView): string | undefined {
  for (const part of view.attachments) {
    if (!RETURNED_TYPES.includes(typeOf(part))) continue;
    const id = messageIdInHeaderBlock(toLf(attachmentText(part, MAX_RETURNED_HEADER_CHARS)));
    if (id) return id;
  }
  return undefined;
}

function repliedToId(mail: ParsedMail): string | undefined {
  const refs =
    typeof mail.references === 'string' ? headerValue(mail.references).split(/\s+/) : (mail.references ?? []);
  const last = refs.at(-1);
  return asMessageId(headerValue(mail.inReplyTo ?? '').split(/\s+/)[0]) ?? asMessageId(last && headerValue(last));
}

/** Bounces without parts often paste the returned headers into their text. */
function inlineMessageIdOf(view: MailView): string | undefined {
  return inlineMessageId(view.text.slice(0, MAX_RETURNED_HEADER_CHARS));
}

function verpTokenOf(rcptTo: string[]): string | undefined {
  for (const rcpt of rcptTo) {
    const m = /^<?[^+@<>\s]+\+([A-Za-z0-9_.=-]{1,200})@/.exec(rcpt.trim());
    if (m?.[1]) return m[1];
  }
  return undefined;
}
