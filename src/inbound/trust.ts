// Who wrote a mail, and how far we may believe it: the one place that decides.
//
// The author of a mail is its single From mailbox (RFC 5322 3.6.2). How far it is trusted:
//
// | trust           | when                                                                          |
// |-----------------|-------------------------------------------------------------------------------|
// | authenticated   | DMARC pass; or the domain publishes no DMARC record and SPF or DKIM passed     |
// |                 | for a domain aligned (relaxed) with it                                        |
// | unauthenticated | DMARC none (without such an aligned pass), temperror or permerror             |
// | untrusted       | DMARC fail; no From, several From fields, several mailboxes or a group in it; |
// |                 | a From address whose domain is not the one DMARC evaluated                    |
//
// What each level may do is decided where mail is turned into tickets (plan.ts): only an
// authenticated agent posts an agent reply by mail; an untrusted author never joins an existing
// ticket, adds no followers and gets no automatic mail (no backscatter to a forged address); mail
// that is not authenticated adds no followers to an existing ticket.
import type { ParsedMail } from 'mailparser';
import { normalizeAddress } from '../customers/index.ts';
import type { AuthResult } from './auth.ts';
import { type Address, isMailAddress, plainText } from './mail-fields.ts';

export type Trust = 'authenticated' | 'unauthenticated' | 'untrusted';

export interface Authorship {
  /** the From mailbox; when the From is unusable, the envelope sender (and the trust is 'untrusted') */
  author: Address | undefined;
  trust: Trust;
  /** why, in words for the agent who reviews the mail */
  reason: string;
}

/** The author of a mail and the trust its authentication earns. */
export function authorship(mail: ParsedMail, envelopeFrom: string, auth: AuthResult | undefined): Authorship {
  const fromFields = mail.headerLines.filter((l) => l.key === 'from').length;
  const entries = mail.from?.value ?? [];
  const envelope: Address | undefined = isMailAddress(envelopeFrom)
    ? { address: normalizeAddress(envelopeFrom), name: undefined }
    : undefined;
  const untrusted = (reason: string, author = envelope): Authorship => ({ author, trust: 'untrusted', reason });

  if (fromFields === 0 || entries.length === 0) return untrusted('the mail has no From');
  if (fromFields > 1) return untrusted('the mail has more than one From field');
  if (entries.some((e) => e.group !== undefined)) return untrusted('the From is a group');
  if (entries.length > 1) return untrusted(`the From names ${entries.length} mailboxes`);
  const [entry] = entries;
  if (!entry?.address || !isMailAddress(entry.address)) return untrusted('the From address is not a valid address');
  const author: Address = {
    address: normalizeAddress(entry.address),
    name: entry.name ? plainText(entry.name).trim() || undefined : undefined,
  };

  const domain = author.address.slice(author.address.lastIndexOf('@') + 1);
  // fullwidth and other compatibility characters that fold into another, ASCII-looking name
  if (domain.normalize('NFKC') !== domain)
    return untrusted('the From domain is written with look-alike characters', author);
  if (!auth) return { author, trust: 'unauthenticated', reason: 'not checked' };
  // mailauth reads the From itself; a From two parsers read differently is a forgery's tool
  if (auth.fromDomain !== domain) return untrusted('the From domain is not the one DMARC evaluated', author);
  if (auth.dmarc === 'fail') return untrusted('DMARC fail', author);
  // DMARC of a domain written in Unicode is looked up as written, not as its A-label: no verdict
  // of it is relied on
  if (/[^\x00-\x7f]/.test(domain))
    return { author, trust: 'unauthenticated', reason: 'an internationalised From domain' };
  if (auth.dmarc === 'pass') return { author, trust: 'authenticated', reason: 'DMARC pass' };
  if (auth.dmarc === 'none' && auth.fromAligned)
    return { author, trust: 'authenticated', reason: 'no DMARC policy; aligned SPF or DKIM pass' };
  return { author, trust: 'unauthenticated', reason: `DMARC ${auth.dmarc}` };
}
