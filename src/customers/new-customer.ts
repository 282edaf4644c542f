// How a new customer is made, whichever way it comes (mail, API, CLI, CSV, a follower added by
// address): its name, and the company it is placed in. Pure, so the inbound plan decides with the
// companies it read with its facts; newCustomerFor reads what one address needs.
import type { Db } from '../db/index.ts';
import { companyDomainsFor, companyForAddress } from '../companies/index.ts';

export type CompanySource = 'manual' | 'domain';

/**
 * A customer to create with its primary address. The inbound plan may still write these rows
 * itself; what it writes without `companySource` is placed by domain when it has a company.
 */
export interface NewCustomer {
  /** normalised */
  address: string;
  name: string;
  companyId: number | null;
  companySource?: CompanySource | null;
  /** what the customer.created event records besides the path it came by (`via`) */
  event?: Record<string, unknown>;
}

/**
 * Where a new customer goes: a company chosen by hand (null: none, chosen by hand), or the
 * company matching the address's domain among these (companiesByDomain or companyDomainsFor).
 */
export type CompanyRule = { chosen: number | null } | { byDomain: Map<string, number> };

/** The display name, else the address's local part. */
export function customerName(address: string, displayName: string | null | undefined): string {
  const at = address.lastIndexOf('@');
  return displayName?.trim() || (at < 0 ? address : address.slice(0, at));
}

/**
 * The new customer an address makes: named by customerName, placed in the company chosen by hand
 * ('manual') when there is one, else in the company of its domain ('domain'), else nowhere.
 */
export function newCustomer(address: string, displayName: string | null | undefined, rule: CompanyRule): NewCustomer {
  const name = customerName(address, displayName);
  if ('chosen' in rule) return { address, name, companyId: rule.chosen, companySource: 'manual' };
  // no companies, nothing to match (and the free-mail lists need not be read)
  const companyId = rule.byDomain.size ? (companyForAddress(address, rule.byDomain) ?? null) : null;
  return { address, name, companyId, companySource: companyId === null ? null : 'domain' };
}

/** The same for one address, its company domains read here when no company is chosen (undefined). */
export async function newCustomerFor(
  db: Db,
  address: string,
  displayName: string | null | undefined,
  chosen?: number | null,
): Promise<NewCustomer> {
  return newCustomer(
    address,
    displayName,
    chosen === undefined ? { byDomain: await companyDomainsFor(db, address) } : { chosen },
  );
}
