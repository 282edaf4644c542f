// Customers as agents manage them (API, CSV, later the portal). The rules hold whichever way a
// customer is made: an address belongs to one customer; a company chosen by hand stays; with no
// company chosen, the primary address's domain decides.
import type { Knex } from 'knex';
import type { Db } from '../db/index.ts';
import type { Boss } from '../queue/index.ts';
import { ConflictError, isUniqueViolation, NotFoundError, ValidationError } from '../errors.ts';
import { findCompanyForAddress } from '../companies/index.ts';
import { enqueueOutbound } from '../outbound/index.ts';
import { isValidAddress, normalizeAddress } from './address.ts';
import { applyPermissions, type PermissionsPatch, type PortalPermissions } from './permissions.ts';
import { insertCustomers } from './create.ts';
import { newCustomerFor } from './new-customer.ts';

export interface CustomerView {
  id: number;
  name: string;
  email: string | null;
  alternate_emails: string[];
  company_id: number | null;
  company_source: 'manual' | 'domain' | null;
  phone: string | null;
  portal_permissions: PortalPermissions;
  portal_status: string;
  /** the language of the mail we send them (null: the inbox's, then English) */
  locale: string | null;
  last_sign_in_at: Date | null;
  created_at: Date;
  updated_at: Date;
}

export interface CustomerInput {
  name?: string;
  email: string;
  alternate_emails?: string[];
  /** a number: that company, chosen by hand; null: no company, chosen by hand; absent: by domain */
  company_id?: number | null;
  phone?: string | null;
  portal_permissions?: PermissionsPatch;
  locale?: string | null;
  send_welcome?: boolean;
}

export interface CustomerPatch {
  name?: string;
  email?: string;
  alternate_emails?: string[];
  company_id?: number | null;
  /** 'domain': forget the hand-made choice and place by the address's domain again */
  company_source?: 'domain';
  phone?: string | null;
  portal_permissions?: PermissionsPatch;
  locale?: string | null;
}

const SELECT = `SELECT c.id, c.name,
    (SELECT e.address FROM customer_emails e WHERE e.customer_id = c.id AND e.is_primary) AS email,
    coalesce((SELECT array_agg(e.address ORDER BY e.id) FROM customer_emails e WHERE e.customer_id = c.id AND NOT e.is_primary), '{}') AS alternate_emails,
    c.company_id, c.company_source, c.phone, c.portal_permissions, c.portal_status, c.locale, c.last_sign_in_at, c.created_at, c.updated_at
  FROM customers c`;

export async function getCustomer(db: Db, id: number): Promise<CustomerView> {
  const { rows } = await db.raw(`${SELECT} WHERE c.id = ?`, [id]);
  if (!rows[0]) throw new NotFoundError(`no customer ${id}`);
  return rows[0];
}

export interface CustomerFilter {
  after?: number;
  limit: number;
  company_id?: number;
  email?: string;
  q?: string;
}

/** A page of customers by id; `after` is the last id of the previous page. */
export async function listCustomers(db: Db, f: CustomerFilter): Promise<CustomerView[]> {
  const where: string[] = [];
  const values: Knex.Value[] = [];
  const and = (condition: string, value: Knex.Value) => {
    where.push(condition);
    values.push(value);
  };
  if (f.after !== undefined) and('c.id > ?', f.after);
  if (f.company_id !== undefined) and('c.company_id = ?', f.company_id);
  if (f.email) and('c.id = (SELECT customer_id FROM customer_emails WHERE address = ?)', normalizeAddress(f.email));
  if (f.q) {
    const like = `%${f.q.replace(/[\\%_]/g, '\\$&')}%`;
    where.push(
      `(c.name ILIKE ? OR EXISTS (SELECT 1 FROM customer_emails e WHERE e.customer_id = c.id AND e.address LIKE lower(?)))`,
    );
    values.push(like, like);
  }
  const { rows } = await db.raw(
    `${SELECT} ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY c.id LIMIT ?`,
    [...values, f.limit],
  );
  return rows;
}

/** Lower-cased, checked and without repeats; the primary first. */
export function cleanAddresses(primary: string, alternates: string[] = []): string[] {
  const out: string[] = [];
  for (const raw of [primary, ...alternates]) {
    const a = normalizeAddress(raw);
    if (!isValidAddress(a)) throw new ValidationError(`not an email address: ${raw}`, { email: raw });
    if (!out.includes(a)) out.push(a);
  }
  return out;
}

/** 409 naming the owner when any of these addresses belongs to another customer. */
export async function assertAddressesFree(db: Db, addresses: string[], self?: number): Promise<void> {
  const taken = await db('customer_emails')
    .whereIn('address', addresses)
    .modify((q) => self !== undefined && q.whereNot('customer_id', self))
    .first('address', 'customer_id');
  if (taken)
    throw new ConflictError(`${taken.address} belongs to customer ${taken.customer_id}`, {
      owner_id: taken.customer_id,
      email: taken.address,
    });
}

async function companyExists(db: Db, id: number): Promise<void> {
  if (!(await db('companies').where({ id }).first('id')))
    throw new ValidationError(`no company ${id}`, { company_id: id });
}

/** Creates a customer as an agent asks (API, or `via` 'cli'): 409 when an address is taken. */
export async function createCustomer(
  db: Knex,
  boss: Boss,
  input: CustomerInput,
  via: 'api' | 'cli' = 'api',
): Promise<CustomerView> {
  const addresses = cleanAddresses(input.email, input.alternate_emails);
  const [primary, ...alternates] = addresses as [string, ...string[]];
  return withUniqueAddresses(db, addresses, async (trx) => {
    await assertAddressesFree(trx, addresses);
    if (input.company_id != null) await companyExists(trx, input.company_id);
    // a parallel creation of one of these addresses fails the insert: the same 409 as the check
    const [row] = await insertCustomers(
      trx,
      [
        {
          ...(await newCustomerFor(trx, primary, input.name, input.company_id)),
          via,
          alternates,
          phone: input.phone?.trim() || null,
          permissions: applyPermissions({}, input.portal_permissions ?? {}),
          locale: input.locale ?? null,
        },
      ],
      'fail',
    );
    if (input.send_welcome) await queueWelcome(trx, boss, row!.id, primary);
    return getCustomer(trx, row!.id);
  });
}

/** Queues the portal welcome mail in this transaction and marks the customer invited. */
export async function queueWelcome(
  trx: Knex.Transaction,
  boss: Boss,
  customerId: number,
  email: string,
): Promise<void> {
  await enqueueOutbound(boss, trx, { kind: 'portal_welcome', recipient: email, customerId });
  await trx('customers').where({ id: customerId, portal_status: 'none' }).update({ portal_status: 'invited' });
}

export async function updateCustomer(db: Knex, id: number, patch: CustomerPatch): Promise<CustomerView> {
  const current = await getCustomer(db, id);
  const primary = patch.email ?? current.email ?? undefined;
  // changing the primary keeps the old one as an alternate, unless the alternates are replaced too
  const keep = patch.alternate_emails ?? [...(current.email ? [current.email] : []), ...current.alternate_emails];
  const addresses = primary === undefined ? [] : cleanAddresses(primary, keep);
  return withUniqueAddresses(
    db,
    addresses,
    async (trx) => {
      const row = await trx('customers').where({ id }).forUpdate().first('id', 'portal_permissions');
      if (!row) throw new NotFoundError(`no customer ${id}`);
      const changes: Record<string, unknown> = { updated_at: trx.fn.now() };
      if (patch.name !== undefined) {
        if (!patch.name.trim()) throw new ValidationError('a customer needs a name');
        changes.name = patch.name.trim();
      }
      if (patch.phone !== undefined) changes.phone = patch.phone?.trim() || null;
      if (patch.locale !== undefined) changes.locale = patch.locale;
      if (patch.portal_permissions)
        changes.portal_permissions = JSON.stringify(applyPermissions(row.portal_permissions, patch.portal_permissions));
      if (patch.company_id !== undefined) {
        if (patch.company_id !== null) await companyExists(trx, patch.company_id);
        Object.assign(changes, { company_id: patch.company_id, company_source: 'manual' });
      } else if (patch.company_source === 'domain' && addresses[0]) {
        const companyId = (await findCompanyForAddress(trx, addresses[0])) ?? null;
        Object.assign(changes, { company_id: companyId, company_source: companyId === null ? null : 'domain' });
      }
      await trx('customers').where({ id }).update(changes);
      if (patch.email !== undefined || patch.alternate_emails !== undefined) await setAddresses(trx, id, addresses);
      await trx('events').insert({ type: 'customer.updated', customer_id: id, data: { fields: Object.keys(patch) } });
      return getCustomer(trx, id);
    },
    id,
  );
}

/** Makes the customer's addresses exactly these, the first primary. */
async function setAddresses(trx: Knex.Transaction, id: number, addresses: string[]): Promise<void> {
  await assertAddressesFree(trx, addresses, id);
  await trx('customer_emails').where({ customer_id: id }).whereNotIn('address', addresses).delete();
  await trx('customer_emails').where({ customer_id: id }).update({ is_primary: false });
  await trx('customer_emails')
    .insert(addresses.map((address, i) => ({ customer_id: id, address, is_primary: i === 0 })))
    .onConflict('address')
    .merge(['is_primary']);
}

export async function deleteCustomer(db: Knex, id: number): Promise<void> {
  await db.transaction(async (trx) => {
    const c = await getCustomer(trx, id);
    // tickets stay (requester cleared); addresses, follows and tokens go with the customer
    await trx('customers').where({ id }).delete();
    await trx('events').insert({
      type: 'customer.deleted',
      data: { customer_id: id, name: c.name, emails: [c.email, ...c.alternate_emails] },
    });
  });
}

export async function addAlternateEmail(db: Knex, id: number, email: string): Promise<CustomerView> {
  const [address] = cleanAddresses(email);
  return withUniqueAddresses(
    db,
    [address!],
    async (trx) => {
      await getCustomer(trx, id);
      await assertAddressesFree(trx, [address!], id);
      const added = await trx('customer_emails')
        .insert({ customer_id: id, address, is_primary: false })
        .onConflict('address')
        .ignore()
        .returning('id');
      if (added.length)
        await trx('events').insert({ type: 'customer.email_added', customer_id: id, data: { email: address } });
      return getCustomer(trx, id);
    },
    id,
  );
}

export async function removeAlternateEmail(db: Knex, id: number, email: string): Promise<CustomerView> {
  return db.transaction(async (trx) => {
    const address = normalizeAddress(email);
    const row = await trx('customer_emails').where({ customer_id: id, address }).first('id', 'is_primary');
    if (!row) throw new NotFoundError(`customer ${id} has no address ${address}`);
    if (row.is_primary)
      throw new ValidationError(`${address} is the primary address: make another address primary first`);
    await trx('customer_emails').where({ id: row.id }).delete();
    await trx('events').insert({ type: 'customer.email_removed', customer_id: id, data: { email: address } });
    return getCustomer(trx, id);
  });
}

/**
 * Folds `sourceId` into `targetId`: addresses (as alternates), tickets, follows, messages and
 * history move, settings the target lacks are taken over, and the source is deleted.
 */
export async function mergeCustomers(db: Knex, targetId: number, sourceId: number): Promise<CustomerView> {
  if (targetId === sourceId) throw new ValidationError('a customer cannot be merged into itself');
  return db.transaction(async (trx) => {
    // both rows locked in id order, so two merges of the same pair cannot deadlock
    const rows = await trx('customers').whereIn('id', [targetId, sourceId]).orderBy('id').forUpdate().select('*');
    const target = rows.find((r) => r.id === targetId);
    const source = rows.find((r) => r.id === sourceId);
    if (!target) throw new NotFoundError(`no customer ${targetId}`);
    if (!source) throw new NotFoundError(`no customer ${sourceId}`);
    const moved = (await trx('customer_emails').where({ customer_id: sourceId }).pluck('address')) as string[];
    await trx('customer_emails').where({ customer_id: sourceId }).update({ customer_id: targetId, is_primary: false });
    await trx('tickets').where({ requester_id: sourceId }).update({ requester_id: targetId });
    await trx.raw(
      `INSERT INTO ticket_followers (ticket_id, customer_id, created_at)
       SELECT f.ticket_id, ?, f.created_at FROM ticket_followers f JOIN tickets t ON t.id = f.ticket_id
        WHERE f.customer_id = ? AND t.requester_id IS DISTINCT FROM ?
       ON CONFLICT DO NOTHING`,
      [targetId, sourceId, targetId],
    );
    // the target may now follow tickets it requests itself
    await trx.raw(
      `DELETE FROM ticket_followers f USING tickets t WHERE t.id = f.ticket_id AND f.customer_id = ? AND t.requester_id = ?`,
      [targetId, targetId],
    );
    await trx('messages').where({ author_customer_id: sourceId }).update({ author_customer_id: targetId });
    await trx('events').where({ customer_id: sourceId }).update({ customer_id: targetId });
    await trx('outbound_messages').where({ customer_id: sourceId }).update({ customer_id: targetId });
    const takeAccount = target.portal_status === 'none' && source.portal_status !== 'none';
    await trx('customers')
      .where({ id: targetId })
      .update({
        phone: target.phone ?? source.phone,
        portal_permissions: JSON.stringify({ ...source.portal_permissions, ...target.portal_permissions }),
        ...(target.company_id === null && target.company_source === null && source.company_id !== null
          ? { company_id: source.company_id, company_source: source.company_source }
          : {}),
        ...(takeAccount
          ? {
              portal_status: source.portal_status,
              portal_password_hash: source.portal_password_hash,
              last_sign_in_at: source.last_sign_in_at,
            }
          : {}),
        updated_at: trx.fn.now(),
      });
    await trx('customers').where({ id: sourceId }).delete();
    await trx('events').insert({
      type: 'customer.merged',
      customer_id: targetId,
      data: { merged_customer_id: sourceId, name: source.name, emails: moved },
    });
    return getCustomer(trx, targetId);
  });
}

/**
 * Runs fn in a transaction; a unique violation on an address (a parallel request took it between
 * our check and our insert) becomes the same 409 the check gives.
 */
async function withUniqueAddresses<T>(
  db: Knex,
  addresses: string[],
  fn: (trx: Knex.Transaction) => Promise<T>,
  self?: number,
): Promise<T> {
  try {
    return await db.transaction(fn);
  } catch (err) {
    if (isUniqueViolation(err, 'customer_emails_address_key')) {
      await assertAddressesFree(db, addresses, self);
    }
    throw err;
  }
}
