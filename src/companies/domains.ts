// Companies and their email domains, and the rule that puts a customer in a company by address.
import { createRequire } from 'node:module';
import type { Db, Sql } from '../db/index.ts';

const require = createRequire(import.meta.url);
let freeMail: Set<string> | undefined;

/**
 * Free-mail and disposable domains never match a company: thousands of unrelated people write
 * from gmail.com. The lists are maintained packages shipped as data (no download at run time).
 */
export function isFreeMailDomain(domain: string): boolean {
  freeMail ??= new Set([
    ...(require('email-providers/all.json') as string[]),
    ...(require('disposable-email-domains') as string[]),
  ]);
  const d = domain.toLowerCase();
  // a subdomain of a free-mail provider (e.g. eu.mail.example-freemail.com) is free mail too
  return parentDomains(d).some((p) => freeMail!.has(p));
}

/** The domain and each parent that still has a dot: eu.acme.co.uk -> eu.acme.co.uk, acme.co.uk, co.uk */
function parentDomains(domain: string): string[] {
  const labels = domain.toLowerCase().replace(/\.$/, '').split('.');
  const out: string[] = [];
  for (let i = 0; i < labels.length - 1; i++) out.push(labels.slice(i).join('.'));
  return out;
}

function domainOf(address: string): string {
  return address.slice(address.lastIndexOf('@') + 1).toLowerCase();
}

/** The domains whose company could hold these addresses (free mail has none). */
export function candidateDomains(addresses: string[]): string[] {
  const out = new Set<string>();
  for (const a of addresses) {
    const domain = domainOf(a);
    if (domain && !isFreeMailDomain(domain)) for (const d of parentDomains(domain)) out.add(d);
  }
  return [...out];
}

/** Which company each of these domains belongs to. */
export async function companiesByDomain(sql: Sql, domains: string[]): Promise<Map<string, number>> {
  if (domains.length === 0) return new Map();
  const { rows } = await sql<{ domain: string; company_id: number }>(
    'SELECT domain, company_id FROM company_domains WHERE domain = ANY($1::text[])',
    [domains],
  );
  return new Map(rows.map((r) => [r.domain, r.company_id]));
}

/**
 * The company whose domain matches the address's domain or a parent of it, the most specific
 * first (eu.acme.com before acme.com); none for free-mail addresses. `byDomain` is what
 * companiesByDomain found for candidateDomains of the address.
 */
export function companyForAddress(address: string, byDomain: Map<string, number>): number | undefined {
  const domain = domainOf(address);
  if (!domain || isFreeMailDomain(domain)) return undefined;
  for (const d of parentDomains(domain)) {
    const company = byDomain.get(d);
    if (company !== undefined) return company;
  }
  return undefined;
}

/**
 * What companiesByDomain finds for one address's candidate domains, read directly (API, CLI and
 * followers place one customer at a time): the `byDomain` companyForAddress takes.
 */
export async function companyDomainsFor(db: Db, address: string): Promise<Map<string, number>> {
  const domain = domainOf(address);
  if (!domain || isFreeMailDomain(domain)) return new Map();
  const rows = (await db('company_domains')
    .whereIn('domain', parentDomains(domain))
    .select('domain', 'company_id')) as { domain: string; company_id: number }[];
  return new Map(rows.map((r) => [r.domain, r.company_id]));
}

/** The same rule for one address, its candidate domains read directly. */
export async function findCompanyForAddress(db: Db, address: string): Promise<number | undefined> {
  return companyForAddress(address, await companyDomainsFor(db, address));
}
