// Which customer an address belongs to. Inbound processing sends its statements on a pipelined
// connection (db/sql.ts): a new customer is found by later statements of the same transaction
// through its address, so nothing waits for its id.
import type { Db, Sql } from '../db/index.ts';
import { normalizeAddress } from './address.ts';

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

export async function findCustomerByAddress(db: Db, address: string): Promise<Customer | undefined> {
  return db('customer_emails as e')
    .join('customers as c', 'c.id', 'e.customer_id')
    .where('e.address', normalizeAddress(address))
    .first<Customer | undefined>('c.id', 'c.name', 'c.company_id', 'c.company_source');
}
