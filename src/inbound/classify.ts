// Decides what an inbound mail is before anything is made from it: a customer's mail, or one of the
// automatic kinds that must never open a ticket nor get an answer (our own mail coming back, a
// bounce, an auto-reply, bulk mail). Pure: it reads the parsed mail and the SMTP envelope only.
// Detection follows RFC 3834 (Auto-Submitted), RFC 3464 (DSN), RFC 5965 (ARF), RFC 8098 (MDN)
// and what real mailers send (WildDuck lib/autoreply.js, Zammad's filters, Exim, Exchange).
import type { Attachment, ParsedMail } from 'mailparser';

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
/** The human-readable part of a non-DSN bounce is short; beyond it is usually the returned mail. */
const MAX_NON_DSN_CHARS = 16 * 1024;
/** A returned message's header block; its body is of no use here. */
const MAX_RETURNED_HEADER_CHARS = 64 * 1024;
const MAX_RECIPIENTS = 20;

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
  return {
    headers,
    subject: parsed?.subject ?? first('subject'),
    fromAddress: (from.address ?? '').toLowerCase(),
    fromName: from.name,
    messageId: parsed?.messageId ?? (first('message-id') || undefined),
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
  return mail.html
    .slice(0, MAX_SCAN_CHARS)
    .replace(/<(br|\/p|\/div|\/tr|\/li)\b[^>]*>/gi, '\n')
    .replace(/<[^>]*>/g, ' ')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&nbsp;/g, ' ')
    .replace(/&amp;/g, '&');
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
    for (const { key, line } of mail.headerLines) add(key, unfold(line.slice(line.indexOf(':') + 1)));
  } else {
    for (const [key, value] of mail.headers ?? []) for (const v of headerStrings(value)) add(key, v);
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
    const m = /^([!-9;-~]+)[ \t]*:(.*)$/.exec(field);
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
  if (/^\s*<?\s*>?\s*$/.test(mailFrom)) reasons.push('null-return-path');
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
// What a bounce says

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
  const originalMessageId = returnedMessageId(view) ?? repliedToId(mail) ?? inlineMessageId(view);
  const verpToken = verpTokenOf(ctx.rcptTo);
  const common = { ...(originalMessageId && { originalMessageId }), ...(verpToken && { verpToken }) };
  if (view.reportType === 'feedback-report') {
    return { format: 'arf', hard: false, recipients: feedbackRecipients(view), ...common };
  }
  const dsn = dsnRecipients(dsnText(view));
  // Some DSNs lose their report part (no MIME boundaries, mangled by a relay): read their prose then.
  const outcome = dsn.length > 0 ? dsnOutcome(dsn) : nonDsnOutcome(view, ctx);
  const isDsn = dsn.length > 0 || view.reportType === 'delivery-status' || hasPart(view, DSN_TYPES);
  return { format: isDsn ? 'dsn' : 'non-dsn', ...outcome, ...common };
}

interface DsnRecipient {
  final?: string;
  original?: string;
  action?: string;
  status?: string;
  diagnostic?: string;
}

/**
 * The delivery-status part: mailparser keeps it as an attachment only when asked to
 * (keepDeliveryStatus) or when it is marked as one; by default it is appended to mail.text.
 */
function dsnText(view: MailView): string {
  const part = view.attachments.find((a) => DSN_TYPES.includes(a.contentType.toLowerCase()));
  return part ? toLf(attachmentText(part, MAX_SCAN_CHARS)) : view.text;
}

/** Per-recipient groups of a DSN (RFC 3464 section 2.3): blank-line separated blocks of fields. */
function dsnRecipients(text: string): DsnRecipient[] {
  const groups: DsnRecipient[] = [];
  for (const block of text.split(/\n[ \t]*\n/)) {
    const fields = readFields(block);
    const group: DsnRecipient = {
      final: dsnAddress(fields.get('final-recipient')),
      original: dsnAddress(fields.get('original-recipient')),
      action: fields
        .get('action')
        ?.toLowerCase()
        .split(/[\s(;]/)[0],
      status: fields.get('status')?.match(STATUS)?.[0],
      diagnostic: fields.get('diagnostic-code'),
    };
    // Status alone also appears in prose; a DSN group names its recipient or its action.
    if (group.final || group.original || (group.action && group.status)) groups.push(group);
  }
  return groups;
}

function dsnOutcome(groups: DsnRecipient[]): Omit<Bounce, 'format'> {
  const failing = groups.filter((g) => g.action === 'failed' || g.action === 'delayed' || /^[45]/.test(g.status ?? ''));
  const chosen = failing.length > 0 ? failing : groups;
  const status =
    chosen.find((g) => g.status)?.status ?? chosen.map((g) => g.diagnostic?.match(STATUS)?.[0]).find(Boolean);
  const code = chosen.map((g) => diagnosticCode(g.diagnostic)).find(Boolean);
  const delayedOnly = chosen.every((g) => g.action === 'delayed');
  const recipients = unique(chosen.flatMap((g) => [g.original, g.final]).filter(isString)).slice(0, MAX_RECIPIENTS);
  return { hard: !delayedOnly && isPermanent(status, code), ...(status && { status }), recipients };
}

function nonDsnOutcome(view: MailView, ctx: ClassifyContext): Omit<Bounce, 'format'> {
  const prose = humanPart(view.text);
  const status = prose.match(PROSE_STATUS)?.[0];
  const code = smtpCodeIn(prose);
  return { hard: isPermanent(status, code), ...(status && { status }), recipients: nonDsnRecipients(view, prose, ctx) };
}

function isPermanent(status: string | undefined, code: string | undefined): boolean {
  if (status) return status.startsWith('5');
  return code?.startsWith('5') ?? false;
}

/** An RFC 3463 status, not part of a version number, a date or an IP address. */
const STATUS = /(?<![\w.])[245]\.\d{1,3}\.\d{1,3}(?!\.?\d)/;
/** In free text only failures count, and only the defined subjects (x.0-7.y): "Postfix 2.10.1" is none. */
const PROSE_STATUS = /(?<![\w.])[45]\.[0-7]\.\d{1,3}(?!\.?\d)/;

/** "smtp; 550 5.1.1 User unknown" -> "550" */
function diagnosticCode(value: string | undefined): string | undefined {
  return /^[\w-]*\s*;\s*#?([245]\d\d)\b/.exec(value ?? '')?.[1] ?? smtpCodeIn(value ?? '');
}

/** An SMTP reply code where mailers quote one: at a line start, or after "said:", "error:", "...>:". */
function smtpCodeIn(text: string): string | undefined {
  const patterns = [
    /^[\s<>|#'"(]*([45][0-5]\d)[ -](?=[45]\.\d|[A-Za-z<#])/m,
    /(?:said|error|reply|response|returned|answer|code)\s*:?\s*[('"]?([45][0-5]\d)\b/i,
    /[>:]\s*:?\s+([45][0-5]\d)[ -](?=[45]\.\d|[A-Za-z<#])/,
  ];
  for (const p of patterns) {
    const m = p.exec(text);
    if (m?.[1]) return m[1];
  }
  return undefined;
}

/** Where a bounce's inline copy of the returned mail begins. */
const RETURNED_COPY_MARK = new RegExp(
  '^[\\s-]*(' +
    [
      'original message',
      'this is a copy of',
      'below this line is a copy',
      'returned message',
      'headers of the original',
      'the header of the original',
      'unsent message below',
      'message headers? follows?',
    ].join('|') +
    ')',
  'im',
);

/** The bounce's own words, before the copy of the returned mail that often follows inline. */
function humanPart(text: string): string {
  const head = text.slice(0, MAX_NON_DSN_CHARS);
  const cut = head.search(RETURNED_COPY_MARK);
  return cut > 0 ? head.slice(0, cut) : head;
}

/** Failed recipients of a bounce without DSN: few, well-known shapes only, to stay conservative. */
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
  const found: string[] = [];
  const shapes = [
    /^[ \t>]*<?([^\s<>@"'()]+@[^\s<>@"'()]+?)>?:?[ \t]*$/gm, // an address alone on its line (Exim, Gmail)
    /^[ \t]*<([^\s<>@]+@[^\s<>@]+)>[ \t]*:/gm, // "<addr>: reason" (qmail, Postfix)
    /RCPT TO:\s*<([^\s<>@]+@[^\s<>@]+)>/gi, // the SMTP transcript
    // "could not be delivered to: <a>", "error delivering your mail to <a>", "Your message to <a>"
    /\bdeliver(?:ed|y|ing)?\b[^\n<>@]{0,30}?\bto:?\s+<?([^\s<>@"'()]+@[a-z0-9.-]+\.[a-z]{2,})>?/gi,
    /\bmessage to:?\s+<?([^\s<>@"'()]+@[a-z0-9.-]+\.[a-z]{2,})>?/gi,
  ];
  for (const shape of shapes) for (const m of prose.matchAll(shape)) if (m[1]) found.push(m[1]);
  return keep(found);
}

function feedbackRecipients(view: MailView): string[] {
  const part = view.attachments.find((a) => a.contentType.toLowerCase() === 'message/feedback-report');
  const text = part ? toLf(attachmentText(part, MAX_SCAN_CHARS)) : view.text;
  const found = [...text.matchAll(/^original-rcpt-to[ \t]*:(.*)$/gim)].map((m) => bareAddress(m[1] ?? ''));
  return unique(found.filter(isAddress)).slice(0, MAX_RECIPIENTS);
}

/** Message-ID of the returned mail or its returned headers. */
function returnedMessageId(view: MailView): string | undefined {
  for (const part of view.attachments) {
    if (!RETURNED_TYPES.includes(part.contentType.toLowerCase())) continue;
    const id = messageIdInHeaderBlock(toLf(attachmentText(part, MAX_RETURNED_HEADER_CHARS)));
    if (id) return id;
  }
  return undefined;
}

function repliedToId(mail: ParsedMail): string | undefined {
  const refs = typeof mail.references === 'string' ? mail.references.split(/\s+/) : (mail.references ?? []);
  return asMessageId(mail.inReplyTo?.split(/\s+/)[0]) ?? asMessageId(refs.at(-1));
}

/** Bounces without parts often paste the returned headers into their text. */
function inlineMessageId(view: MailView): string | undefined {
  const m = /^[ \t>]*message-id[ \t]*:[ \t]*(\S.*)$/im.exec(view.text.slice(0, MAX_RETURNED_HEADER_CHARS));
  return asMessageId(m?.[1]);
}

function messageIdInHeaderBlock(text: string): string | undefined {
  const end = text.search(/\n[ \t]*\n/);
  const fields = readFields(end >= 0 ? text.slice(0, end) : text);
  return asMessageId(fields.get('message-id'));
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
  return view.attachments.some((a) => types.includes(a.contentType.toLowerCase()));
}

function attachmentText(part: Attachment, max: number): string {
  const content: unknown = part.content;
  return Buffer.isBuffer(content) ? content.toString('utf8', 0, Math.min(content.length, max)) : '';
}

/** Header-style fields of a block (first occurrence wins), names lower-cased. */
function readFields(block: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const line of unfold(block).split('\n')) {
    const m = /^([A-Za-z][A-Za-z0-9-]*)[ \t]*:[ \t]*(.*)$/.exec(line);
    if (m?.[1] && m[2] !== undefined && !fields.has(m[1].toLowerCase())) fields.set(m[1].toLowerCase(), m[2].trim());
  }
  return fields;
}

function parseContentType(value: string): { type: string; params: Map<string, string> } {
  const [type = '', ...rest] = value.split(';');
  const params = new Map<string, string>();
  for (const p of rest) {
    const m = /^\s*([A-Za-z0-9_*-]+)\s*=\s*"?([^"]*)"?\s*$/.exec(p);
    if (m?.[1] && m[2] !== undefined) params.set(m[1].toLowerCase(), m[2].toLowerCase());
  }
  return { type: type.trim().toLowerCase(), params };
}

/** From a raw From value, when mailparser could not give one (see recoverBareCr). */
function looseAddress(value: string): { address?: string; name: string } {
  const address = /<([^<>\s]+)>/.exec(value)?.[1] ?? /[^\s<>"()]+@[^\s<>"()]+/.exec(value)?.[0];
  const name = value
    .replace(/<[^<>]*>/, '')
    .replace(/["()]/g, '')
    .trim();
  return { ...(address && { address }), name };
}

/** "rfc822; <Addr@Host>" -> "addr@host"; undefined when no address is there. */
function dsnAddress(value: string | undefined): string | undefined {
  if (!value) return undefined;
  const address = bareAddress(value.includes(';') ? value.slice(value.indexOf(';') + 1) : value);
  return isAddress(address) ? address : undefined;
}

/** Something mail can go to: not a pipe to a program, not a phrase (DSNs carry both). */
function isAddress(value: string): boolean {
  return /^[^\s@<>|"]+@[^\s@<>"]+$/.test(value);
}

function bareAddress(value: string): string {
  return value
    .trim()
    .replace(/^<|>$/g, '')
    .replace(/[.,;:]+$/, '')
    .trim()
    .toLowerCase();
}

function asMessageId(value: string | undefined): string | undefined {
  if (!value) return undefined;
  const bracketed = /<[^<>\s]+@[^<>\s]+>/.exec(value)?.[0];
  if (bracketed) return bracketed;
  const bare = /^[^<>\s@]+@[^<>\s@]+$/.exec(value.trim())?.[0];
  return bare ? `<${bare}>` : undefined;
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

function unfold(text: string): string {
  return text.replace(/\r?\n[ \t]+/g, ' ').trim();
}

function toLf(text: string): string {
  return text.replace(/\r\n?/g, '\n');
}

function unique(values: string[]): string[] {
  return [...new Set(values)];
}

function isString(value: string | undefined): value is string {
  return typeof value === 'string' && value.length > 0;
}
