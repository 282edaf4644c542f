// The writing half of the CSV import: a batch of checked rows against what is stored (and what
// earlier batches of the same file made), then its new customers and updates in one transaction.
import type { Knex } from 'knex';
import { isUniqueViolation } from '../errors.ts';
import { insertCustomers } from './create.ts';
import type { ImportOptions, ImportSummary, RowError } from './csv-import-types.ts';
import type { NewCustomer } from './new-customer.ts';
import { PERMISSION_NAMES, type PortalPermissions } from './permissions.ts';

/** A row that passed the cell checks. */
export interface Row {
  line: number;
  /** the name cell: an empty one leaves an existing customer's name as it is */
  name: string;
  /** the customer the row makes when its address is new; its company, when 'manual', was named */
  customer: NewCustomer;
  alternates: string[];
  phone: string | null;
  permissions: PortalPermissions;
}

interface Existing {
  id: number;
  name: string;
  phone: string | null;
  company_id: number | null;
  company_source: string | null;
  portal_permissions: PortalPermissions;
  addresses: string[];
}

type Reject = (line: number, email: string | null, reason: string) => void;

/**
 * Checks a batch against the addresses stored (which include those of earlier batches) and
 * writes it in one transaction (a savepoint in a dry run). A parallel writer taking an address
 * between the check and the write makes it fail on the unique index: the batch is then checked
 * and written again.
 */
export async function writeBatch(
  db: Knex,
  batch: Row[],
  touched: Map<number, number>,
  opts: ImportOptions,
  summary: ImportSummary,
  reject: Reject,
): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    const plan = await planBatch(db, batch, touched, opts);
    let created: number[];
    try {
      created = await db.transaction(async (trx) => {
        const ids = await createCustomers(trx, plan.creates);
        for (const c of plan.changes) await applyUpdate(trx, c);
        return ids;
      });
    } catch (err) {
      if (isUniqueViolation(err) && attempt < 3) continue;
      throw err;
    }
    for (const [i, id] of created.entries()) touched.set(id, plan.creates[i]!.line);
    for (const [id, line] of plan.met) touched.set(id, line);
    for (const e of plan.errors) reject(e.line, e.email, e.reason);
    summary.created += plan.creates.length;
    summary.updated += plan.changes.length;
    summary.skipped += plan.skipped + (plan.updates - plan.changes.length);
    return;
  }
}

interface BatchPlan {
  creates: Row[];
  /** rows of existing customers, to update */
  updates: number;
  /** what those rows change (rows that change nothing are not here) */
  changes: Change[];
  skipped: number;
  errors: RowError[];
  /** existing customers this batch names, and the line naming them */
  met: Map<number, number>;
}

async function planBatch(
  db: Knex,
  batch: Row[],
  touched: Map<number, number>,
  opts: ImportOptions,
): Promise<BatchPlan> {
  const addresses = batch.flatMap((r) => [r.customer.address, ...r.alternates]);
  const { rows: found } = await db.raw<{ rows: { address: string; customer_id: number }[] }>(
    `SELECT address, customer_id FROM customer_emails WHERE address IN (SELECT json_array_elements_text(?::json))`,
    [JSON.stringify(addresses)],
  );
  const owners = new Map(found.map((o) => [o.address, Number(o.customer_id)]));
  const plan: BatchPlan = { creates: [], updates: 0, changes: [], skipped: 0, errors: [], met: new Map() };
  const updates: { row: Row; existing: number }[] = [];
  // addresses of this batch's new customers, by line
  const placed = new Map<string, number>();
  for (const row of batch) {
    const email = row.customer.address;
    const mine = [email, ...row.alternates];
    const owner = owners.get(email);
    const earlier = (a: string) => {
      const id = owners.get(a);
      return placed.get(a) ?? (id === undefined ? undefined : (touched.get(id) ?? plan.met.get(id)));
    };
    const again = mine.find((a) => earlier(a) !== undefined);
    if (again) {
      plan.errors.push({ line: row.line, email, reason: `${again} is already on line ${earlier(again)}` });
      continue;
    }
    const foreign = mine.find((a) => owners.has(a) && owners.get(a) !== owner);
    if (foreign) {
      plan.errors.push({
        line: row.line,
        email,
        reason: `address owned by another customer: ${foreign} belongs to customer ${owners.get(foreign)}`,
      });
      continue;
    }
    if (owner === undefined) {
      for (const a of mine) placed.set(a, row.line);
      plan.creates.push(row);
      continue;
    }
    plan.met.set(owner, row.line);
    if (opts.updateExisting) updates.push({ row, existing: owner });
    else plan.skipped++;
  }
  plan.updates = updates.length;
  plan.changes = await planUpdates(db, updates);
  return plan;
}

/**
 * The batch's new customers, their addresses and customer.created events, by the one insert; the
 * ids in the order of the rows (the caller learns which row became which customer). A parallel
 * writer's address fails it: the batch is checked again.
 */
async function createCustomers(trx: Knex.Transaction, rows: Row[]): Promise<number[]> {
  const created = await insertCustomers(
    trx,
    rows.map((r) => ({
      ...r.customer,
      via: 'csv' as const,
      alternates: r.alternates,
      phone: r.phone,
      permissions: r.permissions,
    })),
    'fail',
  );
  const ids: number[] = [];
  for (const c of created) ids[c.n - 1] = c.id;
  return ids;
}

interface Change {
  id: number;
  line: number;
  set: Record<string, unknown>;
  addAlternates: string[];
}

/** What each existing customer's row would change; rows that change nothing are left out. */
async function planUpdates(db: Knex | Knex.Transaction, updates: { row: Row; existing: number }[]): Promise<Change[]> {
  if (updates.length === 0) return [];
  const { rows } = await db.raw(
    `SELECT c.id, c.name, c.phone, c.company_id, c.company_source, c.portal_permissions,
            array(SELECT e.address FROM customer_emails e WHERE e.customer_id = c.id) AS addresses
       FROM customers c WHERE c.id = ANY(?::bigint[])`,
    [updates.map((u) => u.existing)],
  );
  const byId = new Map<number, Existing>(rows.map((r: Existing) => [Number(r.id), r]));
  const out: Change[] = [];
  for (const { row, existing } of updates) {
    const c = byId.get(existing);
    if (!c) continue;
    const set: Record<string, unknown> = {};
    // an empty cell leaves the value as it is
    if (row.name && row.name !== c.name) set.name = row.name;
    if (row.phone && row.phone !== c.phone) set.phone = row.phone;
    // a company named in the file is a choice by hand; one the customer already has stays as placed
    const { companyId, companySource } = row.customer;
    if (companySource === 'manual' && companyId !== c.company_id)
      Object.assign(set, { company_id: companyId, company_source: 'manual' });
    const perms = { ...c.portal_permissions, ...row.permissions };
    if (PERMISSION_NAMES.some((k) => perms[k] !== c.portal_permissions[k]))
      set.portal_permissions = JSON.stringify(perms);
    const addAlternates = row.alternates.filter((a) => !c.addresses.includes(a));
    if (Object.keys(set).length || addAlternates.length) out.push({ id: c.id, line: row.line, set, addAlternates });
  }
  return out;
}

async function applyUpdate(trx: Knex.Transaction, c: Change): Promise<void> {
  if (Object.keys(c.set).length)
    await trx('customers')
      .where({ id: c.id })
      .update({ ...c.set, updated_at: trx.fn.now() });
  if (c.addAlternates.length)
    await trx('customer_emails').insert(
      c.addAlternates.map((address) => ({ customer_id: c.id, address, is_primary: false })),
    );
  await trx('events').insert({
    type: 'customer.updated',
    customer_id: c.id,
    data: { via: 'import', fields: [...Object.keys(c.set), ...(c.addAlternates.length ? ['alternate_emails'] : [])] },
  });
}
