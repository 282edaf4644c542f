// CSV import: `inbound customers import` on a generated file of 100,000 customers (alternate
// addresses, companies by name and by domain, portal permissions, some bad rows), run as the
// real command in its own process. Reports rows per second and the process's peak RSS, against a
// reference in the same run: the same file parsed with the same CSV parser and written with plain
// batched INSERTs into a scratch table, without any of the checks.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { parse } from 'csv-parse';
import pg from 'pg';
import { benchDatabase, round, writeResult } from './_support.ts';

const { values } = parseArgs({ args: process.argv.slice(3), options: { rows: { type: 'string', default: '100000' } } });
const ROWS = Number(values.rows);
const COMPANIES = 200;
const bin = path.resolve(import.meta.dirname, '../bin/inbound.js');

const database = await benchDatabase();
const client = new pg.Client({ connectionString: database.url });
await client.connect();
const dir = await mkdtemp(path.join(os.tmpdir(), 'inbound-bench-import-'));

try {
  // companies: half are named in the file, every one has a domain that places customers
  await client.query(`INSERT INTO companies (name) SELECT 'Company ' || g FROM generate_series(1, $1) g`, [COMPANIES]);
  await client.query(
    `INSERT INTO company_domains (domain, company_id) SELECT 'company' || id || '.test', id FROM companies`,
  );

  const file = path.join(dir, 'customers.csv');
  const bad = await generate(file, ROWS);
  const bytes = (await stat(file)).size;
  console.log(`generated ${ROWS} rows (${bad} bad), ${round(bytes / 1048576)} MB`);

  const reference = await referenceImport(file);
  console.log(`reference (parse + plain INSERT): ${reference.rowsPerSec} rows/s`);
  const first = await runImport(file);
  console.log(
    `inbound customers import: ${first.rowsPerSec} rows/s, peak RSS ${first.peakRssMb} MB - ${first.summary}`,
  );
  const again = await runImport(file);
  console.log(
    `the same file again (nothing to change): ${again.rowsPerSec} rows/s, peak RSS ${again.peakRssMb} MB - ${again.summary}`,
  );
  const { rows } = await client.query(`SELECT count(*)::int AS n FROM customers`);
  if (rows[0].n !== ROWS - bad) throw new Error(`expected ${ROWS - bad} customers, found ${rows[0].n}`);

  const result = {
    rows: ROWS,
    bad_rows: bad,
    file_mb: round(bytes / 1048576),
    reference_rows_per_sec: reference.rowsPerSec,
    import: first,
    reimport: again,
    ratio_to_reference: round(first.rowsPerSec / reference.rowsPerSec),
    targets: { rows_per_sec: 5000, peak_rss_mb: 200 },
  };
  console.log(`ratio to reference ${result.ratio_to_reference}; written to ${await writeResult('import', result)}`);
} finally {
  await client.end();
  await rm(dir, { recursive: true, force: true });
  await database.drop();
}

/** A realistic file; every 500th row is bad (no address). Returns the number of bad rows. */
async function generate(file: string, n: number): Promise<number> {
  const out = createWriteStream(file);
  const write = async (s: string) => {
    if (!out.write(s)) await once(out, 'drain');
  };
  await write('name,email,alternate_emails,company,phone,portal_access,view_company_tickets\n');
  let bad = 0;
  for (let i = 1; i <= n; i++) {
    const c = (i % COMPANIES) + 1;
    const bad_ = i % 500 === 0;
    if (bad_) bad++;
    const email = bad_ ? '' : i % 3 === 0 ? `user${i}@company${c}.test` : `user${i}@example${i % 50}.test`;
    const alternates = i % 4 === 0 ? `u${i}@home.example;u${i}@other.example` : '';
    const company = i % 5 === 0 ? `Company ${c}` : '';
    const name = i % 7 === 0 ? `"Surname${i}, Given"` : `Given${i} Surname`;
    await write(
      `${name},${email},${alternates},${company},+1 555 ${String(i).padStart(7, '0')},${i % 2 ? 'yes' : ''},${i % 10 === 0 ? 'no' : ''}\n`,
    );
  }
  out.end();
  await once(out, 'finish');
  return bad;
}

async function referenceImport(file: string): Promise<{ seconds: number; rowsPerSec: number }> {
  await client.query(
    `CREATE TABLE bench_reference (name text, email text, alternate_emails text, company text, phone text)`,
  );
  const t0 = performance.now();
  let batch: string[][] = [];
  const flush = async () => {
    const cols = [0, 1, 2, 3, 4].map((i) => batch.map((r) => r[i] ?? ''));
    await client.query(
      `INSERT INTO bench_reference SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[])`,
      cols,
    );
    batch = [];
  };
  for await (const r of createReadStream(file).pipe(parse({ from_line: 2, relax_column_count: true })) as AsyncIterable<
    string[]
  >) {
    batch.push(r);
    if (batch.length === 1000) await flush();
  }
  if (batch.length) await flush();
  const seconds = (performance.now() - t0) / 1000;
  await client.query(`DROP TABLE bench_reference`);
  return { seconds: round(seconds), rowsPerSec: Math.round(ROWS / seconds) };
}

/** The real command in its own process; its peak RSS from /proc (VmHWM only ever grows). */
async function runImport(
  file: string,
): Promise<{ seconds: number; rowsPerSec: number; peakRssMb: number; summary: string }> {
  const t0 = performance.now();
  const child = spawn(process.execPath, [bin, 'customers', 'import', file], {
    env: { ...process.env, DATABASE_URL: database.url },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let stdout = '';
  child.stdout.on('data', (d) => (stdout += d));
  let peakKb = 0;
  const poll = setInterval(async () => {
    const status = await readFile(`/proc/${child.pid}/status`, 'utf8').catch(() => '');
    const m = /VmHWM:\s+(\d+) kB/.exec(status);
    if (m) peakKb = Math.max(peakKb, Number(m[1]));
  }, 20);
  const [code] = await once(child, 'exit');
  clearInterval(poll);
  const seconds = (performance.now() - t0) / 1000;
  const summary = stdout.trim().split('\n').pop() ?? '';
  if (code !== 1 && code !== 0) throw new Error(`import exited with ${code}: ${stdout.slice(-500)}`);
  return { seconds: round(seconds), rowsPerSec: Math.round(ROWS / seconds), peakRssMb: round(peakKb / 1024), summary };
}
