// SPF, DKIM and DMARC of one inbound mail, reduced to the verdicts the worker keeps on the message.
// What they make of the From (its trust) is decided in trust.ts.
//
// Mail from 127.0.0.1 (local testing) gets no exemption: no sender domain lists loopback in SPF,
// so SPF comes out none/neutral/fail and only an aligned DKIM signature can authenticate such a
// mail. Exempting loopback would also exempt whatever a local relay or proxy hands us.
import { Resolver } from 'node:dns/promises';
import { authenticate } from 'mailauth';
import type { AuthenticateResult, DKIMResult, DNSResolver } from 'mailauth';

/** A DNS resolver as mailauth calls it: (name, rrtype) => records; throws an Error with code 'ENOTFOUND'/'ENODATA' when none. */
export type DnsResolver = (name: string, rrtype: string) => Promise<unknown>;

export type Verdict = 'pass' | 'fail' | 'softfail' | 'neutral' | 'none' | 'temperror' | 'permerror' | 'policy';

export interface AuthResult {
  spf: Verdict;
  /** best DKIM result over all signatures: pass if any signature aligned or not passes, else the first failure kind, else 'none' */
  dkim: Verdict;
  /** domains whose DKIM signature passed */
  dkimDomains: string[];
  dmarc: Verdict;
  /** the domain of the From header DMARC evaluated, lower-cased, as written (no IDNA mapping) */
  fromDomain?: string;
  /** DMARC pass; or, when the domain publishes no DMARC record (dmarc 'none'), SPF or DKIM passed for a domain aligned (relaxed) with the From domain */
  fromAligned: boolean;
  /** the Authentication-Results header value mailauth produced, for display/debug */
  header: string;
}

export interface AuthInput {
  raw: Buffer;
  /** connecting client IP as seen by our SMTP server */
  ip: string;
  /** HELO/EHLO name */
  helo: string | undefined;
  /** envelope MAIL FROM ('' for <>) */
  mailFrom: string;
  /** our own hostname, used as the authserv-id in the result header */
  mta: string;
  /** injected so tests never need DNS from outside; production passes the system resolver */
  resolver?: DnsResolver;
}

/**
 * Signatures verified per mail at most: each costs a DNS query and a public-key operation, and a
 * hostile mail can carry hundreds. Real mail carries one to three (author, list, ESP).
 */
export const MAX_DKIM_SIGNATURES = 5;

/** One query may take this long; past it the lookup fails with ETIMEOUT, which mailauth reports as temperror. */
const QUERY_TIMEOUT_MS = 5_000;
/** All lookups of one mail together: SPF may chain 10 queries and a mail may carry any number of signatures. */
const MAIL_DNS_BUDGET_MS = 20_000;

// c-ares retries by itself (default 4 tries, growing timeouts); keep it inside our own query timeout.
const system = new Resolver({ timeout: 2_000, tries: 2 });
const systemResolver: DnsResolver = cachingResolver((name, rrtype) => system.resolve(name, rrtype));

/**
 * Answers (and "no such record" answers) are kept for a minute: mail comes from the same few
 * domains over and over, and every mail asks for their SPF, DMARC and DKIM records. Timeouts and
 * server failures are not kept, so the next mail asks again.
 */
export function cachingResolver(resolver: DnsResolver, ttlMs = 60_000, max = 10_000): DnsResolver {
  const cache = new Map<string, { until: number; value?: unknown; error?: unknown }>();
  return async (name, rrtype) => {
    const key = `${rrtype}:${name.toLowerCase()}`;
    const hit = cache.get(key);
    if (hit && hit.until > Date.now()) {
      if (hit.error) throw hit.error;
      return hit.value;
    }
    if (cache.size >= max) cache.clear();
    try {
      const value = await resolver(name, rrtype);
      cache.set(key, { until: Date.now() + ttlMs, value });
      return value;
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === 'ENOTFOUND' || code === 'ENODATA') cache.set(key, { until: Date.now() + ttlMs, error: err });
      throw err;
    }
  };
}

export async function authenticateMail(input: AuthInput): Promise<AuthResult> {
  const budget = new AbortController();
  const timer = setTimeout(() => budget.abort(), MAIL_DNS_BUDGET_MS);
  try {
    const resolver = bounded(input.resolver ?? systemResolver, budget.signal);
    const result = await authenticate(withoutExtraSignatures(input.raw, MAX_DKIM_SIGNATURES), {
      ip: input.ip,
      helo: input.helo,
      // '' (null sender): mailauth then checks SPF for postmaster@<helo>, as RFC 7208 2.4 asks.
      sender: input.mailFrom,
      mta: input.mta,
      // Only for the type: mailauth passes records through to its own parsers, whatever their shape.
      resolver: resolver as DNSResolver,
      // ARC matters only to whoever seals or overrides DMARC on it; we do neither. BIMI fetches logos
      // and certificates over HTTP. Both would add lookups that cannot change our verdicts.
      disableArc: true,
      disableBimi: true,
    });
    return await summarize(result);
  } catch (err) {
    // DNS trouble never lands here (mailauth maps it to temperror); this is mailauth failing on the
    // message itself. The mail must still become a ticket, so it is kept, unauthenticated.
    return unauthenticated(input.mta, err);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The mail with only its first `max` DKIM-Signature fields, for verification only; the stored mail
 * keeps all of them. Fields are read as mailauth reads them: a field is its first line and the
 * lines that continue it (starting with a space or tab), and its name is what stands before the
 * first colon of the unfolded field, white space trimmed; so "DKIM-Signature :" and a fold before
 * the colon count too. One pass over the header block; the body is never looked at.
 */
export function withoutExtraSignatures(raw: Buffer, max: number): Buffer {
  const fields: { start: number; end: number; signature: boolean }[] = [];
  let at = 0;
  let headerEnd = raw.length;
  while (at < raw.length) {
    const first = raw[at];
    if (first === 13 || first === 10) {
      headerEnd = at; // the empty line
      break;
    }
    // the field: this line and every continuation line
    let end = at;
    do {
      const nl = raw.indexOf(10, end);
      end = nl < 0 ? raw.length : nl + 1;
    } while (end < raw.length && (raw[end] === 32 || raw[end] === 9));
    fields.push({ start: at, end, signature: isSignatureField(raw, at, end) });
    at = end;
  }
  if (fields.filter((f) => f.signature).length <= max) return raw;
  const kept: Buffer[] = [];
  let seen = 0;
  for (const f of fields) if (!f.signature || ++seen <= max) kept.push(raw.subarray(f.start, f.end));
  kept.push(raw.subarray(headerEnd));
  return Buffer.concat(kept);
}

/** Whether the field between start and end is named DKIM-Signature (any case, any white space or fold before the colon). */
function isSignatureField(raw: Buffer, start: number, end: number): boolean {
  const name = 'dkim-signature';
  let i = start;
  for (let k = 0; k < name.length; k++, i++) {
    if (i >= end || (raw[i]! | 0x20) !== name.charCodeAt(k)) return false;
  }
  while (i < end && (raw[i] === 32 || raw[i] === 9 || raw[i] === 13 || raw[i] === 10)) i++;
  return raw[i] === 58; // ':'
}

/** A resolver over an in-memory zone: { 'TXT:example.com': [['v=spf1 -all']], 'TXT:sel._domainkey.example.com': [['v=DKIM1; k=rsa; p=...']], ... }; unknown names throw ENOTFOUND. For tests and for local development. */
export function staticResolver(zone: Record<string, unknown[]>): DnsResolver {
  const records = new Map<string, unknown[]>();
  const names = new Set<string>();
  for (const [key, rows] of Object.entries(zone)) {
    const colon = key.indexOf(':');
    if (colon <= 0) throw new TypeError(`zone key ${JSON.stringify(key)} is not TYPE:name`);
    const name = dnsName(key.slice(colon + 1));
    records.set(`${key.slice(0, colon).toUpperCase()}:${name}`, rows);
    names.add(name);
  }
  return async (name, rrtype) => {
    const rows = records.get(`${rrtype.toUpperCase()}:${dnsName(name)}`);
    // A fresh array per answer, as a real resolver gives; node reports an empty answer as ENODATA.
    if (rows && rows.length > 0) return [...rows];
    throw dnsError(names.has(dnsName(name)) ? 'ENODATA' : 'ENOTFOUND', name, rrtype);
  };
}

async function summarize(result: AuthenticateResult): Promise<AuthResult> {
  const signatures = result.dkim.results;
  const spf = result.spf ? verdict(result.spf.status.result) : 'none';
  // mailauth evaluates DMARC only for exactly one From address; none or several is malformed (RFC 7489 6.6.1).
  const dmarcVerdict = result.dmarc ? verdict(result.dmarc.status.result) : 'permerror';
  const fromDomain = singleFromDomain(result.dkim.headerFrom);
  const spfDomains = spf === 'pass' && result.spf ? [result.spf.domain] : [];
  const fromAligned =
    dmarcVerdict === 'pass' ||
    // No policy to ask: the From is still authenticated by an aligned pass. A policy that could not
    // be fetched (temperror) may say p=reject: that is no authentication.
    (dmarcVerdict === 'none' && fromDomain !== undefined && alignedPass(fromDomain, spfDomains, signatures));
  return {
    spf,
    dkim: bestDkim(signatures),
    dkimDomains: [...new Set(passed(signatures).map((s) => s.signingDomain.toLowerCase()))],
    dmarc: dmarcVerdict,
    ...(fromDomain === undefined ? {} : { fromDomain }),
    fromAligned,
    header: authResultsValue(result.headers),
  };
}

function bestDkim(signatures: DKIMResult[]): Verdict {
  const verdicts = signatures.map(signatureVerdict);
  if (verdicts.includes('pass')) return 'pass';
  // An unsigned mail carries mailauth's single 'none' placeholder.
  return verdicts.find((v) => v !== 'none') ?? 'none';
}

function signatureVerdict(signature: DKIMResult): Verdict {
  // mailauth calls a body hash mismatch 'neutral'; RFC 6376 6.1.3 makes it PERMFAIL, which RFC 8601
  // 2.7.1 reports as 'fail': the signature was checked and the message was altered after signing.
  if (signature.status.result === 'neutral' && signature.status.comment === 'body hash did not verify') return 'fail';
  return verdict(signature.status.result);
}

function passed(signatures: DKIMResult[]): (DKIMResult & { signingDomain: string })[] {
  return signatures.filter(
    (s): s is DKIMResult & { signingDomain: string } => s.status.result === 'pass' && !!s.signingDomain,
  );
}

/**
 * Alignment of the passing SPF and DKIM domains with the From domain, for when the domain
 * publishes no DMARC record: the same domain, or one a parent of the other (mail.example.com and
 * example.com). That is relaxed alignment without a public suffix list: organizational domains are
 * found by DMARC records, and a domain without one has none to compare. Two domains under one
 * suffix (a.com and b.com, a.co.uk and b.co.uk) never align; a signature or SPF pass for a public
 * suffix itself (co.uk) would need control of its DNS.
 */
function alignedPass(fromDomain: string, spfDomains: string[], signatures: DKIMResult[]): boolean {
  const from = fromDomain.toLowerCase();
  const related = (d: string) => {
    const other = d.toLowerCase().replace(/\.$/, '');
    return other === from || from.endsWith(`.${other}`) || other.endsWith(`.${from}`);
  };
  return [...spfDomains, ...passed(signatures).map((s) => s.signingDomain)].some(related);
}

function singleFromDomain(headerFrom: string[]): string | undefined {
  const [address, ...more] = headerFrom;
  if (address === undefined || more.length > 0) return undefined;
  const at = address.lastIndexOf('@');
  const domain =
    at < 0
      ? ''
      : address
          .slice(at + 1)
          .trim()
          .toLowerCase();
  // as mailauth evaluated it, not mapped: trust.ts compares it with the From our parser read
  return domain || undefined;
}

const VERDICTS: ReadonlySet<string> = new Set<Verdict>([
  'pass',
  'fail',
  'softfail',
  'neutral',
  'none',
  'temperror',
  'permerror',
  'policy',
]);

function verdict(result: string): Verdict {
  if (result === 'temperr') return 'temperror'; // older mailauth spelling, still in its type
  if (result === 'skipped') return 'none';
  // A result we cannot read authenticates nothing.
  return VERDICTS.has(result) ? (result as Verdict) : 'permerror';
}

/** The value of the Authentication-Results field in mailauth's header block, folding kept. */
function authResultsValue(headers: string): string {
  return /^Authentication-Results:[ \t]*(.*(?:\r?\n[ \t].*)*)/im.exec(headers)?.[1] ?? '';
}

function unauthenticated(mta: string, err: unknown): AuthResult {
  // A comment in the header may not hold unbalanced parentheses or line breaks (RFC 5322 3.2.2).
  const message = err instanceof Error ? err.message : String(err);
  const reason = message.replace(/[()\\\s]+/g, ' ').trim();
  return {
    spf: 'permerror',
    dkim: 'permerror',
    dkimDomains: [],
    dmarc: 'permerror',
    fromAligned: false,
    header: `${mta}; none (authentication failed: ${reason})`,
  };
}

/** Every query within QUERY_TIMEOUT_MS, and none at all once the mail's DNS budget is spent. */
function bounded(resolver: DnsResolver, budget: AbortSignal): DnsResolver {
  return async (name, rrtype) => {
    if (budget.aborted) throw dnsError('ETIMEOUT', name, rrtype);
    return withTimeout(resolver(name, rrtype), budget, () => dnsError('ETIMEOUT', name, rrtype));
  };
}

function withTimeout<T>(work: Promise<T>, budget: AbortSignal, timeout: () => Error): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const expire = (): void => {
      cleanup();
      reject(timeout());
    };
    const timer = setTimeout(expire, QUERY_TIMEOUT_MS);
    budget.addEventListener('abort', expire, { once: true });
    function cleanup(): void {
      clearTimeout(timer);
      budget.removeEventListener('abort', expire);
    }
    // A late answer after the timeout is dropped: the promise has settled already.
    work.then(
      (records) => {
        cleanup();
        resolve(records);
      },
      (err: unknown) => {
        cleanup();
        reject(err);
      },
    );
  });
}

/** An error shaped like node's dns errors, whose `code` is what mailauth reads. */
function dnsError(code: string, name: string, rrtype: string): Error & { code: string; hostname: string } {
  return Object.assign(new Error(`${code} ${rrtype} ${name}`), { code, hostname: name });
}

function dnsName(name: string): string {
  return name.trim().toLowerCase().replace(/\.$/, '');
}
