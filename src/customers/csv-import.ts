// CSV import of customers, streamed: rows are read, checked and written a batch at a time, so a
// file of any size runs in bounded memory. Every rejected row is reported with its line number and
// reason; re-running a file changes nothing (existing customers are skipped, or with
// updateExisting updated only where the file says something new). A dry run is the same import
// in one transaction that is rolled back, so it reports exactly what the import would do.
import type { Readable } from 'node:stream';
import v8 from 'node:v8';
import vm from 'node:vm';
import { parse, type CsvError } from 'csv-parse';
import type { Knex } from 'knex';
import { ValidationError } from '../errors.ts';
import { isFreeMailDomain, parentDomains } from '../companies/index.ts';
import { isValidAddress, normalizeAddress } from './address.ts';
import { PERMISSION_NAMES, type PortalPermissions } from './permissions.ts';
import { ALTERNATES_SEPARATOR, CSV_COLUMNS, parsePermission, PORTAL_USER_COLUMNS, unescapeCell } from './csv-format.ts';

export const IMPORT_MAX_BYTES = 200 * 1024 * 1024;
const BATCH = 1000;
const COLLECT_EVERY = 20;

/**
 * Each batch is alive while it is written, so V8 promotes it to the old generation, and with
 * the process mostly waiting on the database its first full collection comes only after ~100 MB
 * of such dead batches. A full collection every 20 batches (~10 ms each) keeps the importer's
 * memory flat whatever the size of the file.
 */
const collect: () => void = (() => {
  v8.setFlagsFromString('--expose-gc');
  return vm.runInNewContext('gc') as () => void;
})();

export interface RowError {
  line: number;
  email: string | null;
  reason: string;
}

export interface ImportSummary {
  created: number;
  updated: number;
  skipped: number;
  failed: number;
  dry_run: boolean;
  errors: RowError[];
}

export interface ImportOptions {
  dryRun?: boolean;
  updateExisting?: boolean;
  /** after each batch: rows read so far and bytes of the file consumed */
  onProgress?: (p: { rows: number; bytes: number }) => void;
}

interface Row {
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

export async function importCustomers(db: Knex, input: Readable, opts: ImportOptions = {}): Promise<ImportSummary> {
  if (!opts.dryRun) return runImport(db, input, opts);
  let summary: ImportSummary | undefined;
  await db
    .transaction(async (trx) => {
      summary = await runImport(trx, input, opts);
      throw ROLLBACK;
    })
    .catch((err: unknown) => {
      if (err !== ROLLBACK) throw err;
    });
  return summary!;
}

const ROLLBACK = Symbol('dry run');

async function runImport(db: Knex, input: Readable, opts: ImportOptions): Promise<ImportSummary> {
  const summary: ImportSummary = { created: 0, updated: 0, skipped: 0, failed: 0, dry_run: Boolean(opts.dryRun), errors: [] };
  const reject = (line: number, email: string | null, reason: string) => {
    summary.failed++;
    summary.errors.push({ line, email, reason });
  };
  const companies = await loadCompanies(db);
  // the customers this run has made or met, by the line that did: a later row reaching one of them
  // again is a mistake in the file. Ids, not addresses: a few MB for a million rows.
  const touched = new Map<number, number>();

  const parser = input.pipe(
    parse({
      bom: true,
      columns: (header: string[]) => checkHeader(header),
      skip_empty_lines: true,
      relax_column_count: true,
      skip_records_with_error: true,
      info: true,
    }),
  );
  parser.on('skip', (err: CsvError & { lines?: number }) => reject(err.lines ?? 0, null, `unreadable CSV: ${err.message}`));
  input.on('error', (err) => parser.destroy(err));

  let batch: Row[] = [];
  let batches = 0;
  let rows = 0;
  let bytes = 0;
  // the parser tells where a record ends; a quoted cell may span lines, and people look for the start
  let ended = 1;
  let empty = 0;
  type Info = { lines: number; bytes: number; empty_lines: number };
  for await (const { record, info } of parser as AsyncIterable<{ record: Record<string, string>; info: Info }>) {
    rows++;
    bytes = info.bytes;
    const line = ended + 1 + (info.empty_lines - empty);
    [ended, empty] = [info.lines, info.empty_lines];
    const row = readRow(record, line, companies);
    if (row instanceof Error) reject(line, cell(record.email) || null, row.message);
    else batch.push(row);
    if (batch.length >= BATCH) {
      await writeBatch(db, batch, touched, opts, summary, reject);
      batch = [];
      opts.onProgress?.({ rows, bytes });
      if (++batches % COLLECT_EVERY === 0) collect();
    }
  }
  if (batch.length) await writeBatch(db, batch, touched, opts, summary, reject);
  opts.onProgress?.({ rows, bytes });
  summary.errors.sort((a, b) => a.line - b.line);
  if (summary.created + summary.updated > 0) {
    await db('events').insert({ type: 'customers.imported', data: { created: summary.created, updated: summary.updated, failed: summary.failed } });
  }
  return summary;
}

const KNOWN = new Set<string>([...CSV_COLUMNS, ...PORTAL_USER_COLUMNS]);

function checkHeader(header: string[]): string[] {
  const names = header.map((h) => h.trim().toLowerCase());
  if (!names.includes('email')) throw new ValidationError(`the CSV has no "email" column (columns: ${CSV_COLUMNS.join(', ')})`);
  const unknown = names.filter((n) => n && !KNOWN.has(n));
  if (unknown.length) throw new ValidationError(`unknown CSV column${unknown.length > 1 ? 's' : ''}: ${unknown.join(', ')} (columns: ${CSV_COLUMNS.join(', ')})`);
  return names;
}

function cell(v: string | undefined): string {
  return unescapeCell((v ?? '').trim());
}

interface Companies {
  byName: Map<string, number>;
  byDomain: Map<string, number>;
}

async function loadCompanies(db: Knex): Promise<Companies> {
  const [names, domains] = await Promise.all([
    db('companies').select('id', 'name') as Promise<{ id: number; name: string }[]>,
    db('company_domains').select('domain', 'company_id') as Promise<{ domain: string; company_id: number }[]>,
  ]);
  return {
    byName: new Map(names.map((c) => [c.name.trim().toLowerCase(), c.id])),
    byDomain: new Map(domains.map((d) => [d.domain, d.company_id])),
  };
}

/** The company a new customer's domain places them in, by the inbound rule (most specific, never free-mail). */
function companyByDomain(address: string, companies: Companies): number | null {
  const domain = address.slice(address.lastIndexOf('@') + 1);
  if (companies.byDomain.size === 0 || isFreeMailDomain(domain)) return null;
  for (const d of parentDomains(domain)) {
    const id = companies.byDomain.get(d);
    if (id !== undefined) return id;
  }
  return null;
}

function readRow(r: Record<string, string>, line: number, companies: Companies): Row | Error {
  const email = normalizeAddress(cell(r.email));
  if (!email) return new Error('no email address');
  if (!isValidAddress(email)) return new Error(`bad address '${cell(r.email)}'`);
  const alternates: string[] = [];
  for (const raw of cell(r.alternate_emails).split(ALTERNATES_SEPARATOR)) {
    const a = normalizeAddress(raw);
    if (!a) continue;
    if (!isValidAddress(a)) return new Error(`bad alternate address '${raw.trim()}'`);
    if (a !== email && !alternates.includes(a)) alternates.push(a);
  }
  const companyName = cell(r.company);
  let companyId: number | null;
  let companySource: Row['companySource'];
  if (companyName) {
    const id = companies.byName.get(companyName.toLowerCase());
    if (id === undefined) return new Error(`unknown company '${companyName}'`);
    [companyId, companySource] = [id, 'manual'];
  } else {
    companyId = companyByDomain(email, companies);
    companySource = companyId === null ? null : 'domain';
  }
  const phone = cell(r.phone);
  if (phone.length > 50) return new Error('phone number longer than 50 characters');
  const name = cell(r.name);
  if (name.length > 200) return new Error('name longer than 200 characters');
  const permissions: PortalPermissions = {};
  for (const k of PERMISSION_NAMES) {
    const v = parsePermission(r[k] ?? '');
    if (v instanceof Error) return new Error(`${k}: ${v.message}`);
    if (v !== undefined) permissions[k] = v;
  }
  return { line, name, email, alternates, companyId, companySource, phone: phone || null, permissions };
}

type Reject = (line: number, email: string | null, reason: string) => void;

/**
 * Checks a batch against the addresses stored (which include those of earlier batches) and
 * writes it in one transaction (a savepoint in a dry run). A parallel writer taking an address
 * between the check and the write makes it fail on the unique index: the batch is then checked
 * and written again.
 */
async function writeBatch(db: Knex, batch: Row[], touched: Map<number, number>, opts: ImportOptions, summary: ImportSummary, reject: Reject): Promise<void> {
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
    created.forEach((id, i) => touched.set(id, plan.creates[i]!.line));
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

async function planBatch(db: Knex, batch: Row[], touched: Map<number, number>, opts: ImportOptions): Promise<BatchPlan> {
  const addresses = batch.flatMap((r) => [r.email, ...r.alternates]);
  const { rows: found } = await db.raw<{ rows: { address: string; customer_id: number }[] }>(
    `SELECT address, customer_id FROM customer_emails WHERE address IN (SELECT json_array_elements_text(?::json))`, [JSON.stringify(addresses)],
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
      return placed.get(a) ?? (id === undefined ? undefined : touched.get(id) ?? plan.met.get(id));
    };
    const again = mine.find((a) => earlier(a) !== undefined);
    if (again) {
      plan.errors.push({ line: row.line, email: row.email, reason: `${again} is already on line ${earlier(again)}` });
      continue;
    }
    const foreign = mine.find((a) => owners.has(a) && owners.get(a) !== owner);
    if (foreign) {
      plan.errors.push({ line: row.line, email: row.email, reason: `address owned by another customer: ${foreign} belongs to customer ${owners.get(foreign)}` });
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
  const { rows: reserved } = await trx.raw(`SELECT nextval(pg_get_serial_sequence('customers', 'id'))::bigint AS id FROM generate_series(1, ?)`, [rows.length]);
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
    if (row.companySource === 'manual' && row.companyId !== c.company_id) Object.assign(set, { company_id: row.companyId, company_source: 'manual' });
    const perms = { ...c.portal_permissions, ...row.permissions };
    if (PERMISSION_NAMES.some((k) => perms[k] !== c.portal_permissions[k])) set.portal_permissions = JSON.stringify(perms);
    const addAlternates = row.alternates.filter((a) => !c.addresses.includes(a));
    if (Object.keys(set).length || addAlternates.length) out.push({ id: c.id, line: row.line, set, addAlternates });
  }
  return out;
}

async function applyUpdate(trx: Knex.Transaction, c: Change): Promise<void> {
  if (Object.keys(c.set).length) await trx('customers').where({ id: c.id }).update({ ...c.set, updated_at: trx.fn.now() });
  if (c.addAlternates.length) await trx('customer_emails').insert(c.addAlternates.map((address) => ({ customer_id: c.id, address, is_primary: false })));
  await trx('events').insert({ type: 'customer.updated', customer_id: c.id, data: { via: 'import', fields: [...Object.keys(c.set), ...(c.addAlternates.length ? ['alternate_emails'] : [])] } });
}
