// Small readers over mailparser's result: addresses, Message-IDs, text safe for PostgreSQL.
import type { AddressObject, EmailAddress, ParsedMail } from 'mailparser';
import { normalizeAddress } from '../customers/index.ts';

export interface Address {
  address: string;
  name: string | undefined;
}

/**
 * Longest header value a pattern reads: headerValue cuts there. RFC 5322 caps a line at 998
 * characters, but a field may be folded over several lines, so a real unfolded value (a long
 * Subject, a Content-Type with its parameters, a list of failed recipients) can pass 998; 4,096
 * holds any field a mailer writes for what we read from it, while a hostile value of megabytes
 * costs the patterns after it no more than these 4 KB do.
 */
export const MAX_HEADER_CHARS = 4_096;

/** A header value as our patterns see it: its first MAX_HEADER_CHARS characters. */
export function headerValue(value: string): string {
  return value.length > MAX_HEADER_CHARS ? value.slice(0, MAX_HEADER_CHARS) : value;
}

// The domain is a first character (a dot too), the characters up to the next dot, that dot, and
// at least one more: the domains with a dot neither first nor last, as /[^…]+\.[^…]+$/ read
// them. Both parts of that could take dots, so it tried each dot against the rest of the domain
// (quadratic in a run of ".a"); here only the dot itself can end the middle part.
const ADDRESS_CHAR = String.raw`[^\s@<>()[\]\\,;:"]`;
const ADDRESS_CHAR_NOT_DOT = String.raw`[^\s@<>()[\]\\,;:".]`;
const VALID = new RegExp(`^${ADDRESS_CHAR}+@${ADDRESS_CHAR}${ADDRESS_CHAR_NOT_DOT}*\\.${ADDRESS_CHAR}+$`);
/** RFC 5321 allows 64 + 1 + 255 characters; a longer one is nothing we can write to. */
const MAX_ADDRESS = 320;

/** PostgreSQL text cannot hold NUL; mail sometimes does. */
export function plainText(s: string): string {
  // a lone UTF-16 surrogate (an encoded word in UTF-16 can carry one) becomes U+FFFD: JSON and
  // PostgreSQL's text refuse it
  const text = s.isWellFormed() ? s : s.toWellFormed();
  return text.includes('\u0000') ? text.replace(/\u0000/g, '') : text;
}

/** A plain address we can store and write to: one @, a dotted domain, no spaces or specials. */
export function isMailAddress(s: string): boolean {
  return s.length <= MAX_ADDRESS && VALID.test(s.trim());
}

function flatten(list: EmailAddress[]): Address[] {
  const out: Address[] = [];
  for (const e of list) {
    if (e.group) out.push(...flatten(e.group));
    else if (e.address && isMailAddress(e.address)) {
      out.push({
        address: normalizeAddress(e.address),
        name: e.name ? plainText(e.name).trim() || undefined : undefined,
      });
    }
  }
  return out;
}

function objects(v: AddressObject | AddressObject[] | undefined): AddressObject[] {
  return v === undefined ? [] : Array.isArray(v) ? v : [v];
}

/** Valid, normalised addresses of the given header fields, each once. */
export function addressList(mail: ParsedMail, fields: ('to' | 'cc' | 'from' | 'replyTo')[]): Address[] {
  const seen = new Set<string>();
  const out: Address[] = [];
  for (const f of fields) {
    for (const a of flatten(objects(mail[f]).flatMap((o) => o.value))) {
      if (!seen.has(a.address)) {
        seen.add(a.address);
        out.push(a);
      }
    }
  }
  return out;
}

/**
 * In-Reply-To and References, newest first, each once, in <id> form. Not cut by headerValue:
 * References lists the newest last, and an id longer than 998 characters is kept cut to 998 as
 * the stored Message-ID of its mail is. The patterns here are linear in any length: a split at
 * spaces and an anchored test of each piece with a single character class.
 */
export function messageIdsOf(mail: ParsedMail): string[] {
  const refs = typeof mail.references === 'string' ? mail.references.split(/\s+/) : (mail.references ?? []);
  const ids = [...(mail.inReplyTo ? mail.inReplyTo.split(/\s+/) : []), ...refs.slice().reverse()]
    .map((s) => s.trim())
    .filter((s) => /^<[^<>\s]+>$/.test(s))
    .map((s) => plainText(s).slice(0, 998));
  return [...new Set(ids)].slice(0, 100);
}
