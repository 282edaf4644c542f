// What classify.ts and its detectors read from a mail, read once: the top-level header fields as
// written (also of a mail mailparser could not split into lines), the sender, the content type
// and a capped LF text of the body; plus the small readers over its parts and addresses. Pure.
import type { Attachment, ParsedMail } from 'mailparser';
import { bareAddress, hasInnerAt, toLf, unfold } from './dsn.ts';
import { headerValue } from './mail-fields.ts';

/** Hostile mail can be megabytes of text; every signal we look for sits near the top. */
export const MAX_SCAN_CHARS = 256 * 1024;

// Every header value below is cut by headerValue (mail-fields.ts) before any pattern reads it.
export interface MailView {
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

/** Local parts of a mailer daemon's own address. */
export const DAEMON_LOCAL = /^(mailer[-_.]?daemon|mail[-_.]?daemon|post[-_.]?master)$/i;

export function readMail(mail: ParsedMail, mailFrom: string): MailView {
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
    nullPathReasons: nullPathReasons(mailFrom, headers.get('return-path') ?? []),
    daemonPath: [mailFrom, ...(headers.get('return-path') ?? [])].some((p) =>
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
// Small readers

export function hasPart(view: MailView, types: string[]): boolean {
  return view.attachments.some((a) => types.includes(typeOf(a)));
}

/** A part's content type, lower-cased; mailparser leaves it other than a string for an empty field. */
export function typeOf(part: Attachment): string {
  const type: unknown = part.contentType;
  return typeof type === 'string' ? type.toLowerCase() : '';
}

export function attachmentText(part: Attachment, max: number): string {
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
export function looseAddress(value: string): { address?: string; name: string } {
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

/** First word of a header's first value, lower-cased: "auto-replied; owner=x" -> "auto-replied". */
export function firstToken(values: string[] | undefined): string | undefined {
  if (!values || values.length === 0) return undefined;
  return (
    (values[0] ?? '')
      .trim()
      .split(/[\s;,]/)[0]
      ?.toLowerCase() ?? ''
  );
}

export function localPart(address: string): string {
  const at = address.lastIndexOf('@');
  return at >= 0 ? address.slice(0, at) : address;
}
