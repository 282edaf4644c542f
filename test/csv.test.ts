// CSV import and export of customers through the real command line and the API: a real-looking
// file with bad rows and its report, dry runs, re-runs, and import -> export -> import.
import { execFile } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { parse } from 'csv-parse/sync';
import { beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './helpers/db.ts';
import { startTestApi, type TestApi } from './helpers/api.ts';

const run = promisify(execFile);
const bin = path.resolve(import.meta.dirname, '../bin/inbound.js');
let t: TestDatabase;
let api: TestApi;
let dir: string;

async function inbound(args: string[]) {
  try {
    const { stdout, stderr } = await run(process.execPath, [bin, ...args], {
      env: { ...process.env, DATABASE_URL: t.url, LOG_LEVEL: 'warn' },
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

/** Everything the import can change, to compare before and after. */
async function snapshot() {
  const customers = await t
    .db('customers')
    .orderBy('id')
    .select('id', 'name', 'company_id', 'company_source', 'phone', 'portal_permissions', 'updated_at');
  const emails = await t.db('customer_emails').orderBy('id').select('customer_id', 'address', 'is_primary');
  return { customers, emails };
}

// A file as people make them: a BOM, CRLF line ends, a quoted name with a comma, a multi-line
// cell, odd case and spaces, a formula-looking name, and rows that must be refused.
const FILE = [
  '\uFEFFname,email,alternate_emails,company,phone,portal_access,view_company_tickets',
  '"Smith, Anna", Anna.Smith@Acme.test ,anna@home.test; a.smith@acme.test ,,+1 555 0100,yes,',
  'Bob Jones,bob@gmail.com,,Acme Corp,,,yes',
  '"Carla ""CJ"" Day",carla@contoso.test,,,"Building 4\nFloor 2",no,no',
  'No Address,,,,,,',
  'Bad Address,dave@@example.test,,,,,',
  'Eve Twice,eve@example.test,anna@home.test,,,,',
  'Fred,fred@example.test,,Umbrella Inc,,,',
  'Gina,gina@example.test,,,,perhaps,',
  '=cmd|calc!A1,formula@example.test,,,,,',
  'Ann Again,ANNA.SMITH@acme.test,,,,,',
  'Owned,new-person@example.test,owned-elsewhere@example.test,,,,',
  '',
].join('\r\n');

beforeAll(async () => {
  t = await createTestDatabase();
  api = await startTestApi(t.url);
  dir = await mkdtemp(path.join(os.tmpdir(), 'inbound-csv-'));
  await api.call('POST', '/companies', { name: 'Acme Corp', domains: ['acme.test'] });
  await api.call('POST', '/customers', {
    email: 'someone@example.test',
    alternate_emails: ['owned-elsewhere@example.test'],
  });
  await writeFile(path.join(dir, 'customers.csv'), FILE);
});

describe('customers import', () => {
  it('a dry run reports what it would do and changes nothing', async () => {
    const before = await snapshot();
    const r = await inbound(['customers', 'import', path.join(dir, 'customers.csv'), '--dry-run']);
    expect(r.stdout).toMatch(/dry run, nothing changed: would have created 4, updated 0, skipped 0, failed 7/);
    expect(await snapshot()).toEqual(before);
  });

  it('imports the good rows and reports every rejected one with its line and reason', async () => {
    const r = await inbound(['customers', 'import', path.join(dir, 'customers.csv')]);
    expect(r.code).toBe(1); // some rows failed
    const someone = await t.db('customer_emails').where({ address: 'someone@example.test' }).first('customer_id');
    const report = r.stdout.trim().split('\n');
    expect(report).toEqual([
      'line 6: no email address',
      "line 7 (dave@@example.test): bad address 'dave@@example.test'",
      'line 8 (eve@example.test): anna@home.test is already on line 2',
      "line 9 (fred@example.test): unknown company 'Umbrella Inc'",
      "line 10 (gina@example.test): portal_access: 'perhaps' is not yes or no",
      'line 12 (anna.smith@acme.test): anna.smith@acme.test is already on line 2',
      `line 13 (new-person@example.test): address owned by another customer: owned-elsewhere@example.test belongs to customer ${someone.customer_id}`,
      'created 4, updated 0, skipped 0, failed 7',
    ]);
    const anna = (await api.call('GET', '/customers?email=anna.smith@acme.test')).body.data[0];
    expect(anna).toMatchObject({
      name: 'Smith, Anna',
      alternate_emails: ['anna@home.test', 'a.smith@acme.test'],
      company_source: 'domain',
      phone: '+1 555 0100',
      portal_permissions: { portal_access: true },
    });
    const bob = (await api.call('GET', '/customers?email=bob@gmail.com')).body.data[0];
    expect(bob).toMatchObject({ company_source: 'manual', portal_permissions: { view_company_tickets: true } });
    expect(bob.company_id).toBe(anna.company_id);
    const carla = (await api.call('GET', '/customers?email=carla@contoso.test')).body.data[0];
    expect(carla).toMatchObject({
      name: 'Carla "CJ" Day',
      phone: 'Building 4\nFloor 2',
      company_id: null,
      portal_permissions: { portal_access: false, view_company_tickets: false },
    });
    const formula = (await api.call('GET', '/customers?email=formula@example.test')).body.data[0];
    expect(formula.name).toBe('=cmd|calc!A1');
  });

  it('records each customer it made (customer.created, via csv) and the import itself', async () => {
    const created = await t
      .db('events as v')
      .join('customer_emails as e', 'e.customer_id', 'v.customer_id')
      .where({ 'v.type': 'customer.created', 'e.is_primary': true })
      .orderBy('e.address')
      .select('e.address', 'v.data');
    expect(created).toEqual([
      { address: 'anna.smith@acme.test', data: { via: 'csv' } },
      { address: 'bob@gmail.com', data: { via: 'csv' } },
      { address: 'carla@contoso.test', data: { via: 'csv' } },
      { address: 'formula@example.test', data: { via: 'csv' } },
      { address: 'someone@example.test', data: { via: 'api' } },
    ]);
    expect(await t.db('events').where({ type: 'customers.imported' }).pluck('data')).toEqual([
      { created: 4, updated: 0, failed: 7 },
    ]);
  });

  it('re-running the same file changes nothing, with or without --update-existing', async () => {
    const before = await snapshot();
    const again = await inbound(['customers', 'import', path.join(dir, 'customers.csv')]);
    expect(again.stdout).toMatch(/created 0, updated 0, skipped 4, failed 7/);
    const update = await inbound(['customers', 'import', path.join(dir, 'customers.csv'), '--update-existing']);
    expect(update.stdout).toMatch(/created 0, updated 0, skipped 4, failed 7/);
    expect(await snapshot()).toEqual(before);
  });

  it('--update-existing updates what the file changes, and only that', async () => {
    const file = path.join(dir, 'update.csv');
    await writeFile(file, 'name,email,alternate_emails,phone\nAnna Smith-Jones,anna.smith@acme.test,anna@work.test,\n');
    const skipped = await inbound(['customers', 'import', file]);
    expect(skipped.stdout).toMatch(/created 0, updated 0, skipped 1, failed 0/);
    const r = await inbound(['customers', 'import', file, '--update-existing']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/created 0, updated 1, skipped 0, failed 0/);
    const anna = (await api.call('GET', '/customers?email=anna.smith@acme.test')).body.data[0];
    // alternates are added, never dropped; an empty cell (phone) leaves the value
    expect(anna).toMatchObject({
      name: 'Anna Smith-Jones',
      phone: '+1 555 0100',
      alternate_emails: ['anna@home.test', 'a.smith@acme.test', 'anna@work.test'],
    });
  });

  it('import -> export -> import sees no change, and formulas are escaped in the export', async () => {
    const exported = path.join(dir, 'export.csv');
    const first = await inbound(['customers', 'export']);
    expect(first.code).toBe(0);
    await writeFile(exported, first.stdout);
    // every cell quoted, the header and empty cells too
    expect(first.stdout.split('\n')[0]).toBe(
      '"name","email","alternate_emails","company","phone","portal_access","view_company_tickets","create_tickets","view_priority","edit_priority","view_type","edit_type","view_tags","view_assignee","close_tickets"',
    );
    expect(first.stdout).toContain(`"'=cmd|calc!A1","formula@example.test"`);
    expect(first.stdout).toContain(`"'+1 555 0100"`);
    expect(first.stdout).toContain(
      `"Anna Smith-Jones","anna.smith@acme.test","anna@home.test;a.smith@acme.test;anna@work.test","Acme Corp","'+1 555 0100",`,
    );
    const before = await snapshot();
    for (const flags of [[], ['--update-existing']]) {
      const r = await inbound(['customers', 'import', exported, ...flags]);
      expect(r.stdout.trim()).toBe(`created 0, updated 0, skipped ${before.customers.length}, failed 0`);
    }
    expect(await snapshot()).toEqual(before);
    expect((await inbound(['customers', 'export'])).stdout).toBe(first.stdout);

    // into an empty directory the export makes the same customers again
    const fresh = await createTestDatabase();
    await fresh.db('companies').insert({ name: 'Acme Corp' });
    const r = await run(process.execPath, [bin, 'customers', 'import', exported], {
      env: { ...process.env, DATABASE_URL: fresh.url },
    });
    expect(r.stdout.trim()).toBe(`created ${before.customers.length}, updated 0, skipped 0, failed 0`);
    const again = await run(process.execPath, [bin, 'customers', 'export'], {
      env: { ...process.env, DATABASE_URL: fresh.url },
    });
    expect(again.stdout).toBe(first.stdout);
  });

  it('exports one company, and portal users with their status', async () => {
    const acme = await inbound(['customers', 'export', '--company', 'acme corp']);
    expect((parse(acme.stdout, { columns: true }) as { email: string }[]).map((r) => r.email)).toEqual([
      'anna.smith@acme.test',
      'bob@gmail.com',
    ]);
    expect(acme.stdout).toContain('anna.smith@acme.test');
    expect(acme.stdout).toContain('bob@gmail.com');
    expect(acme.stdout).not.toContain('carla@contoso.test');
    expect((await inbound(['customers', 'export', '--company', 'Nobody'])).code).toBe(1);

    await t
      .db('customers')
      .whereIn('id', t.db('customer_emails').where({ address: 'carla@contoso.test' }).select('customer_id'))
      .update({ portal_status: 'active', last_sign_in_at: new Date('2026-11-20T10:00:00Z') });
    const portal = await inbound(['portal-users', 'export']);
    const records = parse(portal.stdout, { columns: true }) as Record<string, string>[];
    expect(portal.stdout.split('\n')[0]).toBe(
      '"name","email","alternate_emails","company","phone","portal_access","view_company_tickets","create_tickets","view_priority","edit_priority","view_type","edit_type","view_tags","view_assignee","close_tickets","portal_status","last_sign_in_at"',
    );
    expect(records).toEqual([
      expect.objectContaining({
        email: 'carla@contoso.test',
        phone: 'Building 4\nFloor 2',
        portal_status: 'active',
        last_sign_in_at: '2026-11-20T10:00:00.000Z',
      }),
    ]);
    // and it re-imports: the extra columns are read past
    await writeFile(path.join(dir, 'portal.csv'), portal.stdout);
    expect((await inbound(['customers', 'import', path.join(dir, 'portal.csv')])).stdout).toMatch(
      /skipped 1, failed 0/,
    );
  });

  it('refuses a file without an email column or with unknown columns, naming them', async () => {
    await writeFile(path.join(dir, 'bad.csv'), 'name,mail\nA,a@example.test\n');
    const r = await inbound(['customers', 'import', path.join(dir, 'bad.csv')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/no "email" column/);
    await writeFile(path.join(dir, 'bad2.csv'), 'name,email,emial\nA,a@example.test,x\n');
    expect((await inbound(['customers', 'import', path.join(dir, 'bad2.csv')])).stderr).toMatch(
      /unknown CSV column: emial/,
    );
  });
});

describe('POST /api/v1/customers/import', () => {
  async function upload(body: string, query = '', token = api.adminToken) {
    const form = new FormData();
    form.append('file', new Blob([body], { type: 'text/csv' }), 'customers.csv');
    const r = await fetch(`${api.base}/customers/import${query}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}` },
      body: form,
    });
    return { status: r.status, body: await r.json() };
  }

  it('returns the same summary and report as the command line', async () => {
    const csv = 'name,email,company\nHal,hal@api.test,\nIvy,ivy@api.test,No Such Co\nHal again,hal@api.test,\n';
    const dry = await upload(csv, '?dry_run=true');
    expect(dry).toEqual({
      status: 200,
      body: {
        created: 1,
        updated: 0,
        skipped: 0,
        failed: 2,
        dry_run: true,
        errors: [
          { line: 3, email: 'ivy@api.test', reason: "unknown company 'No Such Co'" },
          { line: 4, email: 'hal@api.test', reason: 'hal@api.test is already on line 2' },
        ],
      },
    });
    expect(await t.db('customer_emails').where({ address: 'hal@api.test' }).first()).toBeUndefined();
    const real = await upload(csv);
    expect(real.body).toMatchObject({ created: 1, failed: 2, dry_run: false });
    expect((await upload(csv)).body).toMatchObject({ created: 0, skipped: 1, failed: 2 });
  });

  it('is for admins, and needs a file', async () => {
    expect((await upload('email\nx@api.test\n', '', api.agentToken)).status).toBe(403);
    const r = await fetch(`${api.base}/customers/import`, {
      method: 'POST',
      headers: { authorization: `Bearer ${api.adminToken}`, 'content-type': 'application/json' },
      body: '{}',
    });
    expect(r.status).toBe(400);
    expect((await upload('name\nx\n')).status).toBe(422);
  });
});

describe('admin and token commands', () => {
  it('creates an admin with a one-time password link, and a token printed alone on stdout', async () => {
    const r = await inbound(['admin', 'create', 'Boss@Example.test', '--name', 'The Boss']);
    expect(r.code).toBe(0);
    const link = /(http:\/\/\S+\/admin\/password\/(\S+))/.exec(r.stdout)!;
    expect(link).toBeTruthy();
    const { findToken } = await import('../src/access/index.ts');
    const token = await findToken(t.db, 'password_set', link[2]!);
    expect(token).toMatchObject({ purpose: 'password_set' });
    expect(token!.expires_at.getTime() - Date.now()).toBeGreaterThan(23.9 * 3600_000);
    expect(token!.expires_at.getTime() - Date.now()).toBeLessThanOrEqual(24 * 3600_000);
    expect(await findToken(t.db, 'session', link[2]!)).toBeUndefined(); // one purpose only
    const stored = await t.db('tokens').where({ id: token!.id }).first();
    expect(stored.token_hash.toString('hex')).not.toContain(Buffer.from(link[2]!).toString('hex'));

    expect((await inbound(['admin', 'create', 'boss@example.test'])).code).toBe(2);
    const tok = await inbound(['token', 'create', '--agent', 'boss@example.test']);
    expect(tok.stdout).toMatch(/^inb_[A-Za-z0-9_-]{43}\n$/);
    const me = await fetch(`${api.base}/customers?limit=1`, {
      headers: { authorization: `Bearer ${tok.stdout.trim()}` },
    });
    expect(me.status).toBe(200);
    expect((await inbound(['token', 'create', '--agent', 'nobody@example.test'])).code).toBe(1);
  });

  it('takes a password on stdin, hashed with scrypt', async () => {
    const child = execFile(process.execPath, [bin, 'admin', 'create', 'second@example.test', '--password-stdin'], {
      env: { ...process.env, DATABASE_URL: t.url },
    });
    child.stdin!.end('correct horse battery\n');
    const code = await new Promise((r) => child.on('exit', r));
    expect(code).toBe(0);
    const agent = await t.db('agents').where({ email: 'second@example.test' }).first();
    expect(agent.password_hash).toMatch(/^scrypt\$65536\$8\$2\$/);
    const { verifyPassword } = await import('../src/access/index.ts');
    expect(await verifyPassword('correct horse battery', agent.password_hash)).toBe(true);
    expect(await verifyPassword('correct horse battery!', agent.password_hash)).toBe(false);
  });
});
