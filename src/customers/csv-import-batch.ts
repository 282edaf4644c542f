// The writing half of the CSV import: a batch of checked rows against what is stored (and what
// earlier batches of the same file made), then its new customers and updates in one transaction.
import type { Knex } from 'knex';
import { PERMISSION_NAMES, type PortalPermissions } from './permissions.ts';
import type { ImportOptions, ImportSummary, RowError } from './csv-import.ts';

/** A row that passed the cell checks. */
export interface Row {
  line: number;
  name: string;
  email: string;
  alternates: string[];
  companyId: number | null;
  companySource: 'manual' | 'domain' | null;
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
        const ids = plan.creates.length ? await insertCustomers(trx, plan.creates) : [];
        for (const c of plan.changes) await applyUpdate(trx, c);
        return ids;
      });
    } catch (err) {
      if ((err as { code?: string }).code === '23505' && attempt < 3) continue;
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
  const addresses = batch.flatMap((r) => [r.email, ...r.alternates]);
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
    const mine = [row.email, ...row.alternates];
    const owner = owners.get(row.email);
    const earlier = (a: string) => {
      const id = owners.get(a);
      return placed.get(a) ?? (id === undefined ? undefined : (touched.get(id) ?? plan.met.get(id)));
    };
    const again = mine.find((a) => earlier(a) !== undefined);
    if (again) {
      plan.errors.push({ line: row.line, email: row.email, reason: `${again} is already on line ${earlier(again)}` });
      continue;
    }
    const foreign = mine.find((a) => owners.has(a) && owners.get(a) !== owner);
    if (foreign) {
      plan.errors.push({
        line: row.line,
        email: row.email,
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
 * New customers and their addresses in one statement, after the ids are reserved (so the caller
 * learns which row became which customer). The rows travel as one JSON document: one flat string
 * is cheaper to build than a dozen parameter arrays, and keeps the importer's memory low.
 */
async function insertCustomers(trx: Knex.Transaction, rows: Row[]): Promise<number[]> {
  const { rows: reserved } = await trx.raw(
    `SELECT nextval(pg_get_serial_sequence('customers', 'id'))::bigint AS id FROM generate_series(1, ?)`,
    [rows.length],
  );
  const ids = reserved.map((r: { id: string }) => Number(r.id));
  const doc = JSON.stringify(
    rows.map((r, i) => ({
      id: ids[i],
      name: r.name || r.email.slice(0, r.email.indexOf('@')),
      company_id: r.companyId,
      company_source: r.companySource,
      phone: r.phone,
      portal_permissions: r.permissions,
      emails: [r.email, ...r.alternates],
    })),
  );
  await trx.raw(
    `WITH input AS (
       SELECT * FROM json_to_recordset(?::json)
         AS x(id bigint, name text, company_id bigint, company_source text, phone text, portal_permissions jsonb, emails text[])
     ), customer AS (
       INSERT INTO customers (id, name, company_id, company_source, phone, portal_permissions) OVERRIDING SYSTEM VALUE
       SELECT id, name, company_id, company_source, phone, portal_permissions FROM input
     )
     INSERT INTO customer_emails (customer_id, address, is_primary)
     SELECT input.id, e.address, e.n = 1 FROM input CROSS JOIN LATERAL unnest(input.emails) WITH ORDINALITY AS e(address, n)`,
    [doc],
  );
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
    if (row.companySource === 'manual' && row.companyId !== c.company_id)
      Object.assign(set, { company_id: row.companyId, company_source: 'manual' });
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
