// Customers and their addresses. An address belongs to at most one customer; a company chosen by
// hand stays, otherwise the address's domain decides (see companies). Inbound processing sends its
// statements on a pipelined connection (db/sql.ts): a new customer is found by later statements of
// the same transaction through its address, so nothing waits for its id.
import type { Db, Sql } from '../db/index.ts';
import { findCompanyForAddress } from '../companies/index.ts';
import { normalizeAddress } from './address.ts';

export { isValidAddress, normalizeAddress } from './address.ts';

export interface Customer {
  id: number;
  name: string;
  company_id: number | null;
  company_source: 'manual' | 'domain' | null;
}

/** The customers these (normalised) addresses belong to, by address. */
export async function findCustomersByAddress(sql: Sql, addresses: string[]): Promise<Map<string, Customer>> {
  const found = new Map<string, Customer>();
  if (addresses.length === 0) return found;
  const { rows } = await sql<Customer & { address: string }>(
    `SELECT e.address, c.id, c.name, c.company_id, c.company_source
       FROM customer_emails e JOIN customers c ON c.id = e.customer_id
      WHERE e.address = ANY($1::text[])`,
    [addresses],
  );
  for (const { address, ...customer } of rows) found.set(address, customer);
  return found;
}

/** The customer an address names, as a scalar subquery for statements that follow its creation. */
export const CUSTOMER_BY_ADDRESS = (param: string) =>
  `(SELECT customer_id FROM customer_emails WHERE address = ${param})`;

export interface NewCustomer {
  /** normalised */
  address: string;
  name: string;
  companyId: number | null;
  /** recorded as a customer.created event when set */
  event?: Record<string, unknown>;
}

/**
 * Creates a customer with its primary address. An address another transaction created meanwhile
 * is a unique violation: the caller's transaction rolls back and the mail is processed again.
 */
export function createCustomerFromMail(sql: Sql, c: NewCustomer): Promise<unknown> {
  return sql(
    `WITH c AS (
       INSERT INTO customers (name, company_id, company_source) VALUES ($1, $2, $3) RETURNING id
     ), e AS (
       INSERT INTO customer_emails (customer_id, address, is_primary) SELECT id, $4, true FROM c
     )
     INSERT INTO events (type, customer_id, data) SELECT 'customer.created', id, $5::jsonb FROM c WHERE $5::jsonb IS NOT NULL`,
    [c.name, c.companyId, c.companyId === null ? null : 'domain', c.address, c.event ?? null],
  );
}

/** The name a customer gets from a mail: the display name, else the address's local part. */
export function customerName(address: string, displayName: string | undefined): string {
  return displayName?.trim() || address.slice(0, address.indexOf('@'));
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
  const companyId = await findCompanyForAddress(db, email);
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
export { importCustomers, IMPORT_MAX_BYTES, type ImportSummary } from './csv-import.ts';
export { exportCustomers } from './csv-export.ts';
