// Customers and their addresses. An address belongs to at most one customer; a company chosen by
// hand stays, otherwise the address's domain decides (see companies).
import type { Db } from '../db/index.ts';
import { companyForAddress } from '../companies/index.ts';

export interface Customer {
  id: number;
  name: string;
  company_id: number | null;
  company_source: 'manual' | 'domain' | null;
}

/** Lower-case and trimmed: how addresses are compared and stored. */
export function normalizeAddress(address: string): string {
  return address.trim().toLowerCase();
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
  const existing = await findCustomerByAddress(db, email);
  if (existing) {
    await applyDomainCompany(db, existing, email);
    return { customer: existing, created: false };
  }
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

/** A customer without a company joins the one their domain matches; a hand-picked company stays. */
async function applyDomainCompany(db: Db, customer: Customer, address: string): Promise<void> {
  if (customer.company_id !== null || customer.company_source === 'manual') return;
  const companyId = await companyForAddress(db, address);
  if (!companyId) return;
  await db('customers').where({ id: customer.id }).whereNull('company_id').update({ company_id: companyId, company_source: 'domain', updated_at: db.fn.now() });
  customer.company_id = companyId;
  customer.company_source = 'domain';
}
