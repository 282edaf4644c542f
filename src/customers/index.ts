// Customers and their addresses. An address belongs to at most one customer; a company chosen by
// hand stays, otherwise the address's domain decides (see companies). The statements are sent on
// a pipelined connection (db/sql.ts): a new customer is found by later statements of the same
// transaction through its address, so nothing waits for its id.
import type { Sql } from '../db/index.ts';

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
export const CUSTOMER_BY_ADDRESS = (param: string) => `(SELECT customer_id FROM customer_emails WHERE address = ${param})`;

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
export function createCustomer(sql: Sql, c: NewCustomer): Promise<unknown> {
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
