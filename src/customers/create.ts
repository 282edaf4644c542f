// The one insert of new customers, whichever way they come: each with its primary address (and
// alternates, if any) and its customer.created event, in one statement. Mail sends it on its
// pipelined connection, the API, CLI, CSV import and followers by address through knex.
import type { Db, Sql } from '../db/index.ts';
import { ConflictError } from '../errors.ts';
import { normalizeAddress } from './address.ts';
import { type Customer, findCustomerByAddress } from './lookup.ts';
import { type NewCustomer, newCustomerFor } from './new-customer.ts';
import type { PortalPermissions } from './permissions.ts';

/** The way a customer came, recorded as `via` in its customer.created event. */
export type CreatedVia = 'mail' | 'api' | 'cli' | 'csv' | 'follower' | 'portal';

/** A new customer (newCustomer's row) with the way it came and what else that path knows. */
export interface CustomerToInsert extends NewCustomer {
  via: CreatedVia;
  /** normalised, none of them the primary */
  alternates?: string[];
  phone?: string | null;
  permissions?: PortalPermissions;
  locale?: string | null;
}

/**
 * What to do with a customer whose primary address another customer has: 'fail' ends the
 * statement with a unique violation (customer_emails_address_key), and with it the transaction;
 * 'skip' leaves the customer out (ON CONFLICT waits for a transaction inserting the same address
 * and skips the row once that one commits).
 */
type WhenTaken = 'fail' | 'skip';

/**
 * The primary address goes in first, under a customer id taken from the sequence ahead, and a
 * customer row only for an address that went in: a taken address leaves no customer without
 * one, even when two transactions create it at once. (The foreign key from the address to the
 * customer is checked at the end of the statement, when both rows are there.) The rows travel as
 * one JSON document: one parameter for one customer or a CSV batch of a thousand.
 */
function insertStatement(param: string, taken: WhenTaken): string {
  return `WITH input AS (
       SELECT nextval(pg_get_serial_sequence('customers', 'id')) AS id, x.*
         FROM ROWS FROM (json_to_recordset(${param}::json)
                AS (address text, name text, company_id bigint, company_source text, phone text,
                    portal_permissions jsonb, locale text, alternates text[], event jsonb))
              WITH ORDINALITY
           AS x(address, name, company_id, company_source, phone, portal_permissions, locale, alternates, event, n)
     ), email AS (
       INSERT INTO customer_emails (customer_id, address, is_primary)
       SELECT id, address, true FROM input
       ${taken === 'skip' ? 'ON CONFLICT (address) DO NOTHING' : ''}
       RETURNING customer_id
     ), customer AS (
       INSERT INTO customers (id, name, company_id, company_source, phone, portal_permissions, locale)
       OVERRIDING SYSTEM VALUE
       SELECT i.id, i.name, i.company_id, i.company_source, i.phone, coalesce(i.portal_permissions, '{}'), i.locale
         FROM input i JOIN email e ON e.customer_id = i.id
       RETURNING id, name, company_id, company_source
     ), alternate AS (
       INSERT INTO customer_emails (customer_id, address, is_primary)
       SELECT i.id, a.address, false FROM customer c JOIN input i USING (id) CROSS JOIN LATERAL unnest(i.alternates) AS a(address)
     ), event AS (
       INSERT INTO events (type, customer_id, data)
       SELECT 'customer.created', i.id, i.event FROM customer c JOIN input i USING (id)
     )
     SELECT c.id, c.name, c.company_id, c.company_source, i.n FROM customer c JOIN input i USING (id)`;
}

// the texts, built once: the pipelined connection prepares each distinct text once
const MAIL_INSERT = insertStatement('$1', 'fail');
const INSERT = { fail: insertStatement('?', 'fail'), skip: insertStatement('?', 'skip') };

/**
 * The JSON document of insertStatement; absent keys are NULL. A lone UTF-16 surrogate (a name
 * from an encoded word in UTF-16 can carry one) becomes U+FFFD, as a text parameter would:
 * PostgreSQL's JSON parser refuses the escape JSON.stringify writes for it.
 */
function document(rows: CustomerToInsert[]): string {
  return JSON.stringify(
    rows.map((r) => ({
      address: r.address,
      name: r.name,
      company_id: r.companyId,
      // rows written without a source are placed by domain when they have a company
      company_source: r.companySource !== undefined ? r.companySource : r.companyId === null ? null : 'domain',
      phone: r.phone ?? undefined,
      portal_permissions: r.permissions,
      locale: r.locale ?? undefined,
      alternates: r.alternates?.length ? r.alternates : undefined,
      event: { via: r.via, ...r.event },
    })),
    (_key, value) => (typeof value === 'string' && !value.isWellFormed() ? value.toWellFormed() : value),
  );
}

/** The customers inserted, each with `n`, its place (from 1) among the rows given. */
export async function insertCustomers(
  db: Db,
  rows: CustomerToInsert[],
  taken: WhenTaken,
): Promise<(Customer & { n: number })[]> {
  if (rows.length === 0) return [];
  const { rows: created } = await db.raw<{ rows: (Customer & { n: number })[] }>(INSERT[taken], [document(rows)]);
  return created;
}

/**
 * Creates a customer with its primary address, as a statement of a mail's pipelined transaction.
 * An address another transaction created meanwhile is a unique violation: the transaction rolls
 * back and the mail is processed again.
 */
export function createCustomerFromMail(sql: Sql, c: NewCustomer): Promise<unknown> {
  return sql(MAIL_INSERT, [document([{ ...c, via: 'mail' }])]);
}

/**
 * The customer an address belongs to, made by the one rule (newCustomer) when it is new. Safe
 * against a parallel creation of the same address: one customer, and no customer row without it.
 */
export async function findOrCreateCustomer(
  db: Db,
  address: string,
  displayName: string | undefined,
  how: { via: CreatedVia; event?: Record<string, unknown> },
): Promise<{ customer: Customer; created: boolean }> {
  const email = normalizeAddress(address);
  for (let attempt = 1; attempt <= 3; attempt++) {
    // Domain matching places new customers only: a known customer's company (or none) is settled,
    // and moving customers when a company gains a domain is that change's business.
    const existing = await findCustomerByAddress(db, email);
    if (existing) return { customer: existing, created: false };
    const [created] = await insertCustomers(
      db,
      [{ ...(await newCustomerFor(db, email, displayName)), ...how }],
      'skip',
    );
    if (created) {
      const { n: _, ...customer } = created;
      return { customer, created: true };
    }
    // another transaction created the address and committed: the next statement sees its customer
  }
  throw new ConflictError(`${email} was created and removed again meanwhile; try again`, { email });
}
