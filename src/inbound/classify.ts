// Decides what an inbound mail is before anything is made from it: a customer's mail, or one of the
// automatic kinds that must never open a ticket nor get an answer (our own mail coming back, a
// bounce, an auto-reply, bulk mail). Pure: it reads the parsed mail and the SMTP envelope only.
// Detection follows RFC 3834 (Auto-Submitted), RFC 3464 (DSN), RFC 5965 (ARF), RFC 8098 (MDN)
// and what real mailers send (WildDuck lib/autoreply.js, Zammad's filters, Exim, Exchange).
import type { Attachment, ParsedMail } from 'mailparser';
import {
  asMessageId,
  bareAddress,
  dsnOutcome,
  feedbackAddresses,
  hasInnerAt,
  humanPart,
  inlineMessageId,
  isAddress,
  MAX_RECIPIENTS,
  messageIdInHeaderBlock,
  proseOutcome,
  proseRecipients,
  readDsn,
  toLf,
  unfold,
  unique,
} from './dsn.ts';
import { headerValue } from './mail-fields.ts';

export type MailKind = 'normal' | 'auto-reply' | 'bulk' | 'bounce' | 'own';

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

export interface Classification {
  kind: MailKind;
  /** short machine-readable reasons, e.g. ['auto-submitted:auto-replied'], ['precedence:bulk','list-id'], ['null-return-path','report:delivery-status'] */
  reasons: string[];
  bounce?: Bounce;
}

export interface ClassifyContext {
  /** SMTP envelope MAIL FROM; '' is the null reverse path <> */
  mailFrom: string;
  /** SMTP envelope recipients as received */
  rcptTo: string[];
  /** domains of the Message-IDs we generate for mail we send, e.g. ['help.example.com'] (lower-case) */
  ownMessageIdDomains: string[];
  /** name of the loop header we put on mail we send, e.g. 'X-Inbound-Loop'; its presence means the mail is ours */
  loopHeader: string;
}

/** Hostile mail can be megabytes of text; every signal we look for sits near the top. */
const MAX_SCAN_CHARS = 256 * 1024;
/** A returned message's header block; its body is of no use here. */
const MAX_RETURNED_HEADER_CHARS = 64 * 1024;

export function classify(mail: ParsedMail, ctx: ClassifyContext): Classification {
  const view = readMail(mail, ctx);
  const own = ownReasons(view, ctx);
  const bounce = bounceReasons(view);
  const auto = autoReplyReasons(view);
  const bulk = bulkReasons(view);
  const reasons = [...new Set([...bounce, ...own, ...auto, ...bulk])];
  // A bounce about our mail carries our headers only inside the returned copy, but some bouncers
  // echo them on top as well: the bounce is what matters then, so it wins over "own".
  if (bounce.length > 0) return { kind: 'bounce', reasons, bounce: describeBounce(mail, view, ctx) };
  if (own.length > 0) return { kind: 'own', reasons };
  if (auto.length > 0) return { kind: 'auto-reply', reasons };
  if (bulk.length > 0) return { kind: 'bulk', reasons };
  return { kind: 'normal', reasons: [] };
}

// ---------------------------------------------------------------------------------------------
// What we read from a mail, once

// Every header value below is cut by headerValue (mail-fields.ts) before any pattern reads it.
interface MailView {
  /** top-level header fields, unfolded raw values, by lower-case name */
  headers: Map<string, string[]>;
  subject: string;
  fromAddress: string;
  fromName: string;
  messageId: string | undefined;
  /** top-level content type, lower-case, without parameters */
  contentType: string;
  reportType: string;
  /** the mail's text with LF line ends, capped */
  text: string;
  attachments: Attachment[];
  /** MAIL FROM was <>, or the Return-Path header recorded it so (mail handed on from a mailbox) */
  nullPathReasons: string[];
  /** MAIL FROM or Return-Path is a mailer daemon's own address (some MTAs bounce that way) */
  daemonPath: boolean;
}

function readMail(mail: ParsedMail, ctx: ClassifyContext): MailView {
  const recovered = recoverBareCr(mail);
  const headers = recovered?.headers ?? headerMap(mail);
  const first = (name: string): string => headers.get(name)?.[0] ?? '';
  // mailparser's own fields are garbage when it could not split the lines
  const parsed = recovered ? undefined : mail;
  const from = parsed?.from?.value[0] ?? looseAddress(first('from'));
  const type = parseContentType(first('content-type'));
  const text = recovered?.body ?? bodyText(mail);
  const messageId = parsed?.messageId ?? first('message-id');
  return {
    headers,
    subject: headerValue(parsed?.subject ?? first('subject')),
    fromAddress: headerValue(from.address ?? '').toLowerCase(),
    fromName: headerValue(from.name),
    messageId: messageId ? headerValue(messageId) : undefined,
    contentType: type.type,
    reportType: type.params.get('report-type') ?? '',
    text: toLf(text.slice(0, MAX_SCAN_CHARS)),
    attachments: mail.attachments ?? [],
    nullPathReasons: nullPathReasons(ctx.mailFrom, headers.get('return-path') ?? []),
    daemonPath: [ctx.mailFrom, ...(headers.get('return-path') ?? [])].some((p) =>
      DAEMON_LOCAL.test(localPart(bareAddress(p))),
    ),
  };
}

/**
 * The worker parses with skipHtmlToText, so an HTML-only bounce has no text: strip its tags
 * roughly, enough to find codes and addresses in it.
 */
function bodyText(mail: ParsedMail): string {
  if (mail.text) return mail.text;
  if (typeof mail.html !== 'string') return '';
  const lineBreaks = replaceTags(mail.html.slice(0, MAX_SCAN_CHARS), (tag) => (BREAK_TAG.test(tag) ? '\n' : tag));
  return replaceTags(lineBreaks, () => ' ')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&nbsp;/g, ' ')
    .replace(/&amp;/g, '&');
}

const BREAK_TAG = /^<(?:br|\/p|\/div|\/tr|\/li)\b/i;

/**
 * Each '<' up to the next '>' through `replace`, scanning left to right as /<[^>]*>/g does: a
 * tag that `replace` keeps is left whole, but a '<' inside it starts a tag of its own. The
 * patterns this replaces (/<(br|...)\b[^>]*>/gi, /<[^>]*>/g) ran to the end of the text from each
 * '<' when no '>' followed: quadratic in a run of '<'. Here each '<' finds the next '>' once.
 */
function replaceTags(html: string, replace: (tag: string) => string): string {
  const out: string[] = [];
  let copied = 0;
  let close = -1;
  for (let open = html.indexOf('<'); open !== -1; open = html.indexOf('<', open + 1)) {
    if (close < open) close = html.indexOf('>', open);
    if (close === -1) break;
    const tag = html.slice(open, close + 1);
    const replaced = replace(tag);
    if (replaced === tag) continue;
    out.push(html.slice(copied, open), replaced);
    copied = close + 1;
    open = close;
  }
  if (copied === 0) return html;
  out.push(html.slice(copied));
  return out.join('');
}

function headerMap(mail: ParsedMail): Map<string, string[]> {
  const map = new Map<string, string[]>();
  const add = (key: string, value: string) => {
    const values = map.get(key);
    if (values) values.push(value);
    else map.set(key, [value]);
  };
  if (mail.headerLines?.length) {
    // headerLines keep the exact text; the structured mail.headers lose e.g. "Return-Path: <>"
    for (const { key, line } of mail.headerLines) add(key, unfold(headerValue(line.slice(line.indexOf(':') + 1))));
  } else {
    for (const [key, value] of mail.headers ?? []) for (const v of headerStrings(value)) add(key, headerValue(v));
  }
  return map;
}

/** A header value from mailparser's structured map as plain strings, whatever shape it has. */
function headerStrings(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) return value.flatMap(headerStrings);
  if (value instanceof Date) return [value.toUTCString()];
  if (value && typeof value === 'object') {
    const o = value as { text?: unknown; value?: unknown; params?: Record<string, string> };
    if (typeof o.text === 'string') return [o.text]; // an address object
    if (typeof o.value === 'string') {
      // { value, params }: put it back together, the report-type parameter matters
      const params = Object.entries(o.params ?? {}).map(([k, v]) => `; ${k}="${v}"`);
      return [o.value + params.join('')];
    }
  }
  return [];
}

/**
 * mailparser splits lines on LF only, so a CR-only mail (old Mac files) arrives as one header
 * line holding the whole message, and no body. Split it ourselves so such a mail is still seen.
 */
function recoverBareCr(mail: ParsedMail): { headers: Map<string, string[]>; body: string } | undefined {
  const lines = mail.headerLines ?? [];
  if (lines.length === 0 || !lines.some(({ line }) => /\r(?!\n)/.test(line))) return undefined;
  const whole = toLf(lines.map(({ line }) => line).join('\n'));
  const end = whole.search(/\n\n/);
  const head = end >= 0 ? whole.slice(0, end) : whole;
  const headers = new Map<string, string[]>();
  for (const field of unfold(head).split('\n')) {
    const m = /^([!-9;-~]+)[ \t]*:(.*)$/.exec(headerValue(field));
    if (!m?.[1] || m[2] === undefined) continue;
    const key = m[1].toLowerCase();
    const values = headers.get(key);
    if (values) values.push(m[2].trim());
    else headers.set(key, [m[2].trim()]);
  }
  return { headers, body: end >= 0 ? whole.slice(end + 2) : '' };
}

function nullPathReasons(mailFrom: string, returnPath: string[]): string[] {
  const reasons: string[] = [];
  // was /^\s*<?\s*>?\s*$/: without the brackets three \s* shared one run of spaces (cubic)
  if (/^\s*(?:<\s*)?(?:>\s*)?$/.test(mailFrom)) reasons.push('null-return-path');
  if (returnPath.some((v) => /^\s*<\s*>/.test(v))) reasons.push('return-path:<>');
  return reasons;
}

// ---------------------------------------------------------------------------------------------
// The four detectors. Each returns the reasons it found, empty when its kind does not apply.

function ownReasons(view: MailView, ctx: ClassifyContext): string[] {
  const reasons: string[] = [];
  if (ctx.loopHeader && view.headers.has(ctx.loopHeader.toLowerCase())) reasons.push('loop-header');
  const domain = messageIdDomain(view.messageId);
  if (domain && ctx.ownMessageIdDomains.some((d) => d.toLowerCase() === domain)) reasons.push('own-message-id');
  return reasons;
}

const DAEMON_LOCAL = /^(mailer[-_.]?daemon|mail[-_.]?daemon|post[-_.]?master)$/i;
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

function bounceReasons(view: MailView): string[] {
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

// Subjects of vacation and out-of-office replies: Exchange, Gmail, Zimbra, Apple and their translations.
const NO_REPLY_LOCAL = /^(no-?reply|do-?not-?reply|donotreply|no_reply|noreply-[\w.-]+|[\w.-]+[-.]noreply)$/i;

/** Subjects only auto-responders write: a fixed prefix with a fixed phrase. */
const RESPONDER_SUBJECT =
  /^\s*(auto:\s.*\bis out of (the )?office\b|out of office auto-?reply\s*:|automatic reply\s*:|auto-?reply\s*:|abwesenheitsnotiz\s*:|automatische antwort\s*:|réponse automatique\s*:|risposta automatica\s*:|respuesta automática\s*:)/i;

const AUTO_REPLY_SUBJECT = new RegExp(
  [
    '^\\s*\\[?auto(matic)?[ -]?(reply|response|antwort|answer)\\b',
    '^\\s*auto\\s*:',
    'out of (the )?office',
    '\\bautoreply\\b',
    'abwesenheitsnotiz',
    'automatische antwort',
    'réponse automatique',
    'risposta automatica',
    'respuesta automática',
    'resposta automática',
    'automatyczna odpowiedź',
    'automatisch antwoord',
    'automatiskt svar',
    'automatisk svar',
    'автоответ',
    'on vacation',
    'vacation reply',
    'away from (the )?office',
  ].join('|'),
  'i',
);

function autoReplyReasons(view: MailView): string[] {
  const reasons: string[] = [];
  const autoSubmitted = firstToken(view.headers.get('auto-submitted'));
  if (autoSubmitted && autoSubmitted !== 'no') reasons.push(`auto-submitted:${autoSubmitted}`);
  for (const name of ['x-autoreply', 'x-autorespond', 'x-autoresponder']) {
    const value = firstToken(view.headers.get(name));
    if (value !== undefined && value !== 'no' && value !== 'false') reasons.push(name);
  }
  const suppress = firstToken(view.headers.get('x-auto-response-suppress'));
  const suppressing = suppress !== undefined && suppress !== 'none';
  if (suppressing) reasons.push('x-auto-response-suppress');
  if (view.headers.has('x-ms-exchange-inbox-rules-loop')) reasons.push('x-ms-exchange-inbox-rules-loop');
  // iCloud's vacation responder marks its replies with this, and with nothing standard
  if (firstToken(view.headers.get('x-apple-action')) === 'vacation') reasons.push('x-apple-action:vacation');
  if (isMdn(view)) reasons.push('report:disposition-notification');
  const precedence = firstToken(view.headers.get('precedence'));
  if (precedence === 'auto_reply') reasons.push('precedence:auto_reply');
  // No-reply senders are machines by their own account (notifications, alerts): nobody reads an
  // answer to them, and they must never open a conversation.
  if (NO_REPLY_LOCAL.test(localPart(view.fromAddress))) reasons.push('from:no-reply');
  // A customer may well write "out of office" in a subject; only a mailer's marks make it one,
  // or the fixed prefixes responders write and people do not ("AUTO: ... is out of the office").
  const backed =
    suppressing || ['auto_reply', 'bulk', 'junk'].includes(precedence ?? '') || view.nullPathReasons.length > 0;
  if (!backed && RESPONDER_SUBJECT.test(view.subject)) reasons.push('subject:responder');
  else if (backed && AUTO_REPLY_SUBJECT.test(view.subject)) {
    reasons.push('subject:auto-reply');
    if (precedence && precedence !== 'auto_reply') reasons.push(`precedence:${precedence}`);
    reasons.push(...view.nullPathReasons);
  }
  return reasons;
}

function isMdn(view: MailView): boolean {
  if (view.contentType === 'multipart/report' && view.reportType === 'disposition-notification') return true;
  return view.contentType === 'message/disposition-notification' || hasPart(view, ['message/disposition-notification']);
}

// Vendor marks such as X-Mailchimp-* or Feedback-ID are left out on purpose: Feedback-ID is set by
// ESPs (Amazon SES, SendGrid) on one-to-one transactional mail too, so it does not mean "bulk".
function bulkReasons(view: MailView): string[] {
  const reasons: string[] = [];
  const precedence = firstToken(view.headers.get('precedence'));
  if (precedence === 'bulk' || precedence === 'list' || precedence === 'junk') reasons.push(`precedence:${precedence}`);
  // RFC 2369/2919 list fields, and the headers of list servers that predate them (fml, Mailman)
  for (const name of [
    'list-id',
    'list-unsubscribe',
    'list-post',
    'list-subscribe',
    'list-help',
    'list-owner',
    'x-mlserver',
    'x-mailman-version',
  ]) {
    if (view.headers.has(name)) reasons.push(name);
  }
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

function describeBounce(mail: ParsedMail, view: MailView, ctx: ClassifyContext): Bounce {
  const originalMessageId = returnedMessageId(view) ?? repliedToId(mail) ?? inlineMessageIdOf(view);
  const verpToken = verpTokenOf(ctx.rcptTo);
  const common = { ...(originalMessageId && { originalMessageId }), ...(verpToken && { verpToken }) };
  if (view.reportType === 'feedback-report') {
    return { format: 'arf', hard: false, recipients: feedbackRecipients(view), ...common };
  }
  const dsn = readDsn(dsnText(view));
  // Some DSNs lose their report part (no MIME boundaries, mangled by a relay): read their prose then.
  const outcome = dsn.length > 0 ? dsnOutcome(dsn) : nonDsnOutcome(view, ctx);
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

function nonDsnOutcome(view: MailView, ctx: ClassifyContext): Omit<Bounce, 'format'> {
  const prose = humanPart(view.text);
  return { ...proseOutcome(prose), recipients: nonDsnRecipients(view, prose, ctx) };
}

/** Failed recipients of a bounce without DSN, never our own addresses nor a mailer daemon's. */
function nonDsnRecipients(view: MailView, prose: string, ctx: ClassifyContext): string[] {
  // the bounce goes back to us: our own addresses are never the failed ones
  const to = looseAddress(view.headers.get('to')?.[0] ?? '').address ?? '';
  const ours = new Set([...ctx.rcptTo, to].map(bareAddress));
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

// ---------------------------------------------------------------------------------------------
// Small readers

function hasPart(view: MailView, types: string[]): boolean {
  return view.attachments.some((a) => types.includes(typeOf(a)));
}

/** A part's content type, lower-cased; mailparser leaves it other than a string for an empty field. */
function typeOf(part: Attachment): string {
  const type: unknown = part.contentType;
  return typeof type === 'string' ? type.toLowerCase() : '';
}

function attachmentText(part: Attachment, max: number): string {
  const content: unknown = part.content;
  return Buffer.isBuffer(content) ? content.toString('utf8', 0, Math.min(content.length, max)) : '';
}

/**
 * "multipart/report; report-type=delivery-status" -> type and lower-case parameters. A parameter
 * is `name = value`, the value perhaps in quotes, read by hand: the pattern it replaces,
 * /^\s*([A-Za-z0-9_*-]+)\s*=\s*"?([^"]*)"?\s*$/, had three quantifiers free to share a run of
 * spaces (cubic when a stray quote made it fail), and it matched exactly what is read here.
 */
function parseContentType(value: string): { type: string; params: Map<string, string> } {
  const [type = '', ...rest] = value.split(';');
  const params = new Map<string, string>();
  for (const p of rest) {
    const param = contentTypeParameter(p);
    if (param) params.set(param[0].toLowerCase(), param[1].toLowerCase());
  }
  return { type: type.trim().toLowerCase(), params };
}

function contentTypeParameter(text: string): [string, string] | undefined {
  const eq = text.indexOf('=');
  if (eq === -1) return undefined;
  const name = text.slice(0, eq).trim();
  if (!/^[A-Za-z0-9_*-]+$/.test(name)) return undefined;
  let value = text.slice(eq + 1).trimStart();
  if (value.startsWith('"')) value = value.slice(1);
  const quote = value.indexOf('"');
  if (quote === -1) return [name, value];
  // a closing quote ends the value; only spaces may follow it
  return value.slice(quote + 1).trim() === '' ? [name, value.slice(0, quote)] : undefined;
}

/** From a raw From value, when mailparser could not give one (see recoverBareCr). */
function looseAddress(value: string): { address?: string; name: string } {
  const address = /<([^<>\s]+)>/.exec(value)?.[1] ?? bareAddressIn(value);
  const name = value
    .replace(/<[^<>]*>/, '')
    .replace(/["()]/g, '')
    .trim();
  return { ...(address && { address }), name };
}

/**
 * The first word with an '@' inside it, words split at spaces, brackets, quotes and parentheses:
 * what /[^\s<>"()]+@[^\s<>"()]+/ found, whose first part could take the '@' too and so went to
 * the end of a long word from each of its characters.
 */
function bareAddressIn(value: string): string | undefined {
  return value.split(/[\s<>"()]+/).find(hasInnerAt);
}

function messageIdDomain(messageId: string | undefined): string | undefined {
  const m = /@([^@<>\s]+)>?\s*$/.exec(messageId ?? '');
  return m?.[1]?.toLowerCase();
}

/** First word of a header's first value, lower-cased: "auto-replied; owner=x" -> "auto-replied". */
function firstToken(values: string[] | undefined): string | undefined {
  if (!values || values.length === 0) return undefined;
  return (
    (values[0] ?? '')
      .trim()
      .split(/[\s;,]/)[0]
      ?.toLowerCase() ?? ''
  );
}

function localPart(address: string): string {
  const at = address.lastIndexOf('@');
  return at >= 0 ? address.slice(0, at) : address;
}
