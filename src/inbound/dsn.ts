// What a bounce says, read from its text: the per-recipient fields of an RFC 3464 delivery status
// report, the prose of a bounce without one (RFC 3463 status, SMTP reply code, recipients), and
// the Message-ID of the mail it returns. Pure functions over strings; bounce.ts picks the parts.
//
// Every pattern here runs on mail text of up to 256 KB and is linear in it: no two quantifiers of
// a pattern can take the same characters, and a pattern tried at many start positions only scans
// what cannot contain the next start (test/regex-linear.test.ts times each on hostile input).

/** A bounce names few recipients; more are not read. */
export const MAX_RECIPIENTS = 20;
/** The human-readable part of a non-DSN bounce is short; beyond it is usually the returned mail. */
const MAX_NON_DSN_CHARS = 16 * 1024;
/** `\s` without the line terminators: the spaces within one line (ECMAScript's WhiteSpace). */
const INLINE_SPACE = String.raw`\t\v\f \u00a0\u1680\u2000-\u200a\u202f\u205f\u3000\ufeff`;

export interface DsnRecipient {
  final?: string;
  original?: string;
  action?: string;
  status?: string;
  diagnostic?: string;
}

/** What a bounce tells of its delivery: permanent or not, the status, the failed recipients. */
export interface BounceOutcome {
  hard: boolean;
  status?: string;
  recipients: string[];
}

// ---------------------------------------------------------------------------------------------
// The delivery status report

/** Per-recipient groups of a DSN (RFC 3464 section 2.3): blank-line separated blocks of fields. */
export function readDsn(text: string): DsnRecipient[] {
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

export function dsnOutcome(groups: readonly DsnRecipient[]): BounceOutcome {
  const failing = groups.filter((g) => g.action === 'failed' || g.action === 'delayed' || /^[45]/.test(g.status ?? ''));
  const chosen = failing.length > 0 ? failing : groups;
  const status =
    chosen.find((g) => g.status)?.status ?? chosen.map((g) => g.diagnostic?.match(STATUS)?.[0]).find(Boolean);
  const code = chosen.map((g) => diagnosticCode(g.diagnostic)).find(Boolean);
  const delayedOnly = chosen.every((g) => g.action === 'delayed');
  const recipients = unique(chosen.flatMap((g) => [g.original, g.final]).filter(isString)).slice(0, MAX_RECIPIENTS);
  return { hard: !delayedOnly && isPermanent(status, code), ...(status && { status }), recipients };
}

// ---------------------------------------------------------------------------------------------
// The prose of a bounce without a report

/** Status and permanence from a bounce's own words (see humanPart). */
export function proseOutcome(prose: string): Omit<BounceOutcome, 'recipients'> {
  const status = prose.match(PROSE_STATUS)?.[0];
  const code = smtpCodeIn(prose);
  return { hard: isPermanent(status, code), ...(status && { status }) };
}

/** Where a bounce's inline copy of the returned mail begins, after spaces and dashes on its line. */
const RETURNED_COPY_MARK = new RegExp(
  `^[${INLINE_SPACE}-]*(?:` +
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

/**
 * The bounce's own words, before the copy of the returned mail that often follows inline. The
 * copy starts at its mark's line, or above it where only spaces and dashes (blank lines, rules)
 * come between. That used to be one `^[\s-]*mark` pattern, quadratic in a run of blank lines (it
 * started over at each of them); now the mark is found within its line and the rule lines above
 * it are walked back over once.
 */
export function humanPart(text: string): string {
  const head = text.slice(0, MAX_NON_DSN_CHARS);
  const mark = head.search(RETURNED_COPY_MARK);
  if (mark === -1) return head;
  let cut = mark;
  let i = mark - 1;
  for (; i >= 0 && isSpaceOrDash(head[i] ?? ''); i--) if (isLineEnd(head[i] ?? '')) cut = i + 1;
  if (i < 0) cut = 0;
  return cut > 0 ? head.slice(0, cut) : head;
}

/** Failed recipients in a bounce's prose: few, well-known shapes only, to stay conservative. */
export function proseRecipients(prose: string): string[] {
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
  return found;
}

/** Original-Rcpt-To of a feedback report (RFC 5965), as addresses. */
export function feedbackAddresses(text: string): string[] {
  const found = [...text.matchAll(/^original-rcpt-to[ \t]*:(.*)$/gim)].map((m) => bareAddress(m[1] ?? ''));
  return unique(found.filter(isAddress)).slice(0, MAX_RECIPIENTS);
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

// An SMTP reply code where mailers quote one: at a line start, or after "said:", "error:", "...>:".
// The prefix at a line start stays within its line ([\s...] took the following blank lines too,
// once from each of them); an optional ':' between spaces is written so that only one quantifier
// can take each space (\s*:?\s* tried every split of a run of spaces).
const CODE_PATTERNS = [
  new RegExp(String.raw`^[${INLINE_SPACE}<>|#'"(]*([45][0-5]\d)[ -](?=[45]\.\d|[A-Za-z<#])`, 'm'),
  /(?:said|error|reply|response|returned|answer|code)\s*(?::\s*)?[('"]?([45][0-5]\d)\b/i,
  /[>:](?:\s*:)?\s+([45][0-5]\d)[ -](?=[45]\.\d|[A-Za-z<#])/,
];

export function smtpCodeIn(text: string): string | undefined {
  for (const p of CODE_PATTERNS) {
    const m = p.exec(text);
    if (m?.[1]) return m[1];
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Returned headers

/** The Message-ID field of a returned header block (up to its first blank line). */
export function messageIdInHeaderBlock(text: string): string | undefined {
  const end = text.search(/\n[ \t]*\n/);
  const fields = readFields(end >= 0 ? text.slice(0, end) : text);
  return asMessageId(fields.get('message-id'));
}

/** A Message-ID line pasted into a bounce's text, perhaps quoted with '>'. */
export function inlineMessageId(text: string): string | undefined {
  const m = /^[ \t>]*message-id[ \t]*:[ \t]*(\S.*)$/im.exec(text);
  return asMessageId(m?.[1]);
}

// ---------------------------------------------------------------------------------------------
// Small readers

/** Header-style fields of a block (first occurrence wins), names lower-cased, values trimmed. */
export function readFields(block: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const line of unfold(block).split('\n')) {
    // the value is trimmed below: spaces before it are not matched apart, or `[ \t]*(.*)$` would
    // try every split of a run of them when the line ends in a character `.` does not take
    const m = /^([A-Za-z][A-Za-z0-9-]*)[ \t]*:(.*)$/.exec(line);
    if (m?.[1] && m[2] !== undefined && !fields.has(m[1].toLowerCase())) fields.set(m[1].toLowerCase(), m[2].trim());
  }
  return fields;
}

/** "rfc822; <Addr@Host>" -> "addr@host"; undefined when no address is there. */
function dsnAddress(value: string | undefined): string | undefined {
  if (!value) return undefined;
  const address = bareAddress(value.includes(';') ? value.slice(value.indexOf(';') + 1) : value);
  return isAddress(address) ? address : undefined;
}

/** Something mail can go to: not a pipe to a program, not a phrase (DSNs carry both). */
export function isAddress(value: string): boolean {
  return /^[^\s@<>|"]+@[^\s@<>"]+$/.test(value);
}

/** "<Bob@Example.com>," -> "bob@example.com" */
export function bareAddress(value: string): string {
  const unbracketed = value.trim().replace(/^<|>$/g, '');
  // trailing punctuation by hand: /[.,;:]+$/ started over at each of a run of it
  let end = unbracketed.length;
  while (end > 0 && '.,;:'.includes(unbracketed[end - 1] ?? '')) end--;
  return unbracketed.slice(0, end).trim().toLowerCase();
}

/**
 * The first "<local@domain>" in the value, else the value itself when it is a bare local@domain.
 * Bracketed candidates are found with a pattern that stops at the next '<', then checked for an
 * '@' with something on either side; /<[^<>\s]+@[^<>\s]+>/ tried each '@' of a candidate against
 * the rest of it, quadratic in a run of them.
 */
export function asMessageId(value: string | undefined): string | undefined {
  if (!value) return undefined;
  for (const [candidate] of value.matchAll(/<[^<>\s]*>/g)) if (hasInnerAt(candidate.slice(1, -1))) return candidate;
  const bare = /^[^<>\s@]+@[^<>\s@]+$/.exec(value.trim())?.[0];
  return bare ? `<${bare}>` : undefined;
}

/** An '@' that is neither the first nor the last character. */
export function hasInnerAt(text: string): boolean {
  const at = text.indexOf('@', 1);
  return at !== -1 && at < text.length - 1;
}

export function unfold(text: string): string {
  return text.replace(/\r?\n[ \t]+/g, ' ').trim();
}

export function toLf(text: string): string {
  return text.replace(/\r\n?/g, '\n');
}

export function unique(values: string[]): string[] {
  return [...new Set(values)];
}

function isString(value: string | undefined): value is string {
  return typeof value === 'string' && value.length > 0;
}

/** `[\s-]` for one character. */
function isSpaceOrDash(c: string): boolean {
  return c === '-' || /^\s$/.test(c);
}

/** A character after which `^` matches in a multiline pattern. */
function isLineEnd(c: string): boolean {
  return c === '\n' || c === '\r' || c === '\u2028' || c === '\u2029';
}
