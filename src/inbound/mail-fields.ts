// Small readers over mailparser's result: addresses, Message-IDs, text safe for PostgreSQL.
import type { AddressObject, EmailAddress, ParsedMail } from 'mailparser';
import { normalizeAddress } from '../customers/index.ts';

export interface Address {
  address: string;
  name: string | undefined;
}

const VALID = /^[^\s@<>()[\]\\,;:"]+@[^\s@<>()[\]\\,;:"]+\.[^\s@<>()[\]\\,;:"]+$/;

/** PostgreSQL text cannot hold NUL; mail sometimes does. */
export function plainText(s: string): string {
  return s.includes('\u0000') ? s.replace(/\u0000/g, '') : s;
}

/** A plain address we can store and write to: one @, a dotted domain, no spaces or specials. */
export function isMailAddress(s: string): boolean {
  return s.length <= 320 && VALID.test(s.trim());
}

function flatten(list: EmailAddress[]): Address[] {
  const out: Address[] = [];
  for (const e of list) {
    if (e.group) out.push(...flatten(e.group));
    else if (e.address && VALID.test(e.address.trim())) {
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

/** In-Reply-To and References, newest first, each once, in <id> form. */
export function messageIdsOf(mail: ParsedMail): string[] {
  const refs = typeof mail.references === 'string' ? mail.references.split(/\s+/) : (mail.references ?? []);
  const ids = [...(mail.inReplyTo ? mail.inReplyTo.split(/\s+/) : []), ...refs.slice().reverse()]
    .map((s) => s.trim())
    .filter((s) => /^<[^<>\s]+>$/.test(s))
    .map((s) => plainText(s).slice(0, 998));
  return [...new Set(ids)].slice(0, 100);
}

/** Our outbound mail carries this header; seeing it inbound means a loop. */
export const LOOP_HEADER = 'X-Inbound-Loop';
