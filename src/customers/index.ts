// Customers and their addresses. An address belongs to at most one customer; a company chosen by
// hand stays, otherwise the address's domain decides (see companies).
import type { Db } from '../db/index.ts';
import { companyForAddress } from '../companies/index.ts';
import { normalizeAddress } from './address.ts';

export { isValidAddress, normalizeAddress } from './address.ts';

export interface Customer {
  id: number;
  name: string;
  company_id: number | null;
  company_source: 'manual' | 'domain' | null;
}

export async function findCustomerByAddress(db: Db, address: string): Promise<Customer | undefined> {
  return db('customer_emails as e')
    .join('customers as c', 'c.id', 'e.customer_id')
    .where('e.address', normalizeAddress(address))
    .first<Customer | undefined>('c.id', 'c.name', 'c.company_id', 'c.company_source');
}

/**
 * The customer an address belongs to, created (with the display name, and a company by domain)
 * when it is new. Safe against a parallel creation of the same address.
 */
export async function findOrCreateCustomer(
  db: Db,
  address: string,
  displayName: string | undefined,
): Promise<{ customer: Customer; created: boolean }> {
  const email = normalizeAddress(address);
  // Domain matching places new customers only: a known customer's company (or none) is settled,
  // and moving customers when a company gains a domain is that change's business.
  const existing = await findCustomerByAddress(db, email);
  if (existing) return { customer: existing, created: false };
  const companyId = await companyForAddress(db, email);
  // the customer and its address in one statement
  const { rows } = await db.raw<{ rows: (Customer & { email_id: number | null })[] }>(
    `WITH c AS (
       INSERT INTO customers (name, company_id, company_source) VALUES (:name, :companyId, :source)
       RETURNING id, name, company_id, company_source
     ), e AS (
       INSERT INTO customer_emails (customer_id, address, is_primary) SELECT id, :email, true FROM c
       ON CONFLICT (address) DO NOTHING RETURNING id
     )
     SELECT c.*, (SELECT id FROM e) AS email_id FROM c`,
    {
      name: displayName?.trim() || email.slice(0, email.indexOf('@')),
      companyId: companyId ?? null,
      source: companyId ? 'domain' : null,
      email,
    },
  );
  const { email_id, ...customer } = rows[0]!;
  if (email_id === null) {
    // another transaction created this address first: use its customer
    await db('customers').where({ id: customer.id }).delete();
    return { customer: (await findCustomerByAddress(db, email))!, created: false };
  }
  return { customer, created: true };
}

export * from './directory.ts';
export * from './permissions.ts';
