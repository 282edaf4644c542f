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
import { isValidAddress, normalizeAddress } from './address.ts';
import { PERMISSION_NAMES, type PortalPermissions } from './permissions.ts';
import { ALTERNATES_SEPARATOR, CSV_COLUMNS, parsePermission, PORTAL_USER_COLUMNS, unescapeCell } from './csv-format.ts';
import { writeBatch, type Row } from './csv-import-batch.ts';
import type { ImportOptions, ImportSummary } from './csv-import-types.ts';
import { newCustomer } from './new-customer.ts';

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
  const summary: ImportSummary = {
    created: 0,
    updated: 0,
    skipped: 0,
    failed: 0,
    dry_run: Boolean(opts.dryRun),
    errors: [],
  };
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
  parser.on('skip', (err: CsvError & { lines?: number }) =>
    reject(err.lines ?? 0, null, `unreadable CSV: ${err.message}`),
  );
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
    await db('events').insert({
      type: 'customers.imported',
      data: { created: summary.created, updated: summary.updated, failed: summary.failed },
    });
  }
  return summary;
}

const KNOWN = new Set<string>([...CSV_COLUMNS, ...PORTAL_USER_COLUMNS]);

function checkHeader(header: string[]): string[] {
  const names = header.map((h) => h.trim().toLowerCase());
  if (!names.includes('email'))
    throw new ValidationError(`the CSV has no "email" column (columns: ${CSV_COLUMNS.join(', ')})`);
  const unknown = names.filter((n) => n && !KNOWN.has(n));
  if (unknown.length)
    throw new ValidationError(
      `unknown CSV column${unknown.length > 1 ? 's' : ''}: ${unknown.join(', ')} (columns: ${CSV_COLUMNS.join(', ')})`,
    );
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
  let chosen: number | undefined;
  if (companyName) {
    chosen = companies.byName.get(companyName.toLowerCase());
    if (chosen === undefined) return new Error(`unknown company '${companyName}'`);
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
  // the customer this row makes if its address is new: named and placed by the one rule
  const customer = newCustomer(email, name, chosen === undefined ? { byDomain: companies.byDomain } : { chosen });
  return { line, name, customer, alternates, phone: phone || null, permissions };
}
