// The customers CSV export against formula injection: every cell quoted, and a formula start
// escaped at the start of a cell and after every ',' or ';' in it (where a spreadsheet splitting on
// them would start a new cell); the import takes the escape off again, so an export re-imports
// unchanged.
import { Readable, Writable } from 'node:stream';
import { parse } from 'csv-parse/sync';
import { beforeAll, describe, expect, it } from 'vitest';
import { escapeCell, unescapeCell } from '../src/customers/csv-format.ts';
import { exportCustomers } from '../src/customers/csv-export.ts';
import { importCustomers } from '../src/customers/csv-import.ts';
import type { Knex } from '../src/db/index.ts';
import { createTestDatabase, type TestDatabase } from './helpers/db.ts';

const TRIGGERS = ['=', '+', '-', '@', '\t', '\r', '\uFF1D', '\uFF0B', '\uFF0D', '\uFF20'];

/** Where a spreadsheet could start a formula: the cell, and each piece after a ',' or ';', leading spaces and quotes skipped. */
function formulaStarts(cell: string): string[] {
  return cell
    .split(/[,;]/)
    .map((piece) => piece.replace(/^[ "]*/, ''))
    .filter((piece) => TRIGGERS.includes(piece[0] ?? ''));
}

describe('escapeCell and unescapeCell', () => {
  const cases: [string, string][] = [
    ['=cmd|calc!A1', "'=cmd|calc!A1"],
    ['+1 555 0100', "'+1 555 0100"],
    ["a;=cmd|' /C calc'!A0", "a;'=cmd|' /C calc'!A0"],
    ['Smith, =1+1', "Smith, '=1+1"],
    ['a,@SUM(A1)', "a,'@SUM(A1)"],
    ['a; "-2+3', `a; "'-2+3`],
    ['a;\tb', "a;'\tb"],
    ['x;\uFF1D1+1', "x;'\uFF1D1+1"],
    ['one;two;=three;-four', "one;two;'=three;'-four"],
    // an apostrophe already in the data gets one more, so the import gives it back
    ["'=literal", "''=literal"],
    ["a;''+b", "a;'''+b"],
    // nothing a spreadsheet would run: unchanged
    ['Anna Smith', 'Anna Smith'],
    ["it's a;b, c", "it's a;b, c"],
    ['a-b=c@d', 'a-b=c@d'],
    ["x,'", "x,'"],
    ['', ''],
  ];
  for (const [value, escaped] of cases) {
    it(`escapes ${JSON.stringify(value)} as ${JSON.stringify(escaped)} and back`, () => {
      expect(escapeCell(value)).toBe(escaped);
      expect(unescapeCell(escaped)).toBe(value);
      expect(formulaStarts(escapeCell(value))).toEqual([]);
    });
  }

  it('round-trips every short string over the characters that matter, and leaves no formula start', () => {
    const alphabet = [',', ';', ' ', '"', "'", '=', '-', '@', '\t', 'a'];
    let values = [''];
    let checked = 0;
    for (let len = 1; len <= 5; len++) {
      values = values.flatMap((v) => alphabet.map((c) => v + c));
      for (const v of values) {
        // the import trims each cell: values with surrounding whitespace cannot round-trip anyway
        if (v !== v.trim()) continue;
        const e = escapeCell(v);
        if (unescapeCell(e) !== v || formulaStarts(e).length) {
          expect({ v, e, back: unescapeCell(e), starts: formulaStarts(e) }).toBe('round-trip without formula starts');
        }
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(50_000);
  });

  it('runs in linear time on hostile input', () => {
    const hostile = [
      `,${' '.repeat(200_000)}x`,
      `;${"'".repeat(200_000)}x`,
      `${', "'.repeat(100_000)}x`,
      `${";'".repeat(100_000)}=`,
      ' '.repeat(200_000),
    ];
    const started = performance.now();
    for (const h of hostile) {
      unescapeCell(escapeCell(h));
      unescapeCell(h);
    }
    expect(performance.now() - started).toBeLessThan(1000);
  });
});

describe('customers export', () => {
  let t: TestDatabase;

  // values as they may be in the database (typed in the API, or mail), not as a CSV gives them
  const PEOPLE = [
    { name: "a;=cmd|' /C calc'!A0", email: 'one@example.test', phone: '1;@SUM(1)', alternates: [] },
    { name: "'=already quoted", email: '-dash@example.test', phone: "'+1 555", alternates: [] },
    {
      name: 'Smith, =1+1',
      email: 'three@example.test',
      phone: null,
      alternates: ['x@example.test', '+y@example.test'],
    },
    { name: 'tab;\tx, "@SUM(1)', email: 'four@example.test', phone: '', alternates: [] },
    { name: 'plain, no formula; here', email: 'five@example.test', phone: '+49 30 1234', alternates: [] },
    { name: 'full;\uFF1D1+1', email: 'six@example.test', phone: null, alternates: [] },
  ];
  const COMPANY = 'Evil, Inc;=HYPERLINK("http://x.test")';

  async function seed(db: Knex) {
    const [company] = await db('companies').insert({ name: COMPANY }).returning('id');
    for (const [i, p] of PEOPLE.entries()) {
      const [c] = await db('customers')
        .insert({
          name: p.name,
          phone: p.phone,
          company_id: i === 0 ? company.id : null,
          company_source: i === 0 ? 'manual' : null,
        })
        .returning('id');
      await db('customer_emails').insert([
        { customer_id: c.id, address: p.email, is_primary: true },
        ...p.alternates.map((a) => ({ customer_id: c.id, address: a, is_primary: false })),
      ]);
    }
  }

  async function exported(db: Knex): Promise<string> {
    const chunks: Buffer[] = [];
    const out = new Writable({
      write(chunk: Buffer, _enc, done) {
        chunks.push(Buffer.from(chunk));
        done();
      },
    });
    await exportCustomers(db, out);
    return Buffer.concat(chunks).toString('utf8');
  }

  /** what the export and import care about, in id order */
  async function people(db: Knex) {
    const rows = await db('customers as c')
      .leftJoin('companies as co', 'co.id', 'c.company_id')
      .orderBy('c.id')
      .select('c.id', 'c.name', 'c.phone', 'co.name as company');
    const emails = await db('customer_emails').orderBy('id').select('customer_id', 'address', 'is_primary');
    return rows.map((r) => ({
      name: r.name,
      phone: r.phone || null,
      company: r.company,
      email: emails.find((e) => e.customer_id === r.id && e.is_primary)?.address,
      alternates: emails.filter((e) => e.customer_id === r.id && !e.is_primary).map((e) => e.address),
    }));
  }

  beforeAll(async () => {
    t = await createTestDatabase();
    await seed(t.db);
  });

  it('quotes every cell, the header and empty cells too', async () => {
    const csv = await exported(t.db);
    const lines = csv.split('\n');
    expect(lines.pop()).toBe('');
    expect(lines[0]).toBe(
      '"name","email","alternate_emails","company","phone","portal_access","view_company_tickets","create_tickets","view_priority","edit_priority","view_type","edit_type","view_tags","view_assignee","close_tickets"',
    );
    expect(lines).toHaveLength(PEOPLE.length + 1);
    // a line of quoted cells only: "..." (with "" inside) separated by commas
    for (const line of lines) expect(line).toMatch(/^"(?:[^"]|"")*"(?:,"(?:[^"]|"")*")*$/);
    expect(lines[3]).toBe(
      `"Smith, '=1+1","three@example.test","x@example.test;'+y@example.test","",""${',""'.repeat(10)}`,
    );
  });

  it('escapes a formula start after a ; or , inside a cell, and leaves none anywhere', async () => {
    const csv = await exported(t.db);
    expect(csv).toContain(`"a;'=cmd|' /C calc'!A0","one@example.test"`);
    expect(csv).toContain(`"Evil, Inc;'=HYPERLINK(""http://x.test"")","1;'@SUM(1)"`);
    expect(csv).toContain(`"''=already quoted","'-dash@example.test"`);
    expect(csv).toContain(`"tab;'\tx, ""'@SUM(1)"`);
    expect(csv).toContain(`"plain, no formula; here","five@example.test","","","'+49 30 1234"`);
    const cells = (parse(csv) as string[][]).flat();
    for (const cell of cells) expect(formulaStarts(cell), cell).toEqual([]);
  });

  it('re-imports unchanged: into the same directory nothing changes, into an empty one the same customers', async () => {
    const csv = await exported(t.db);
    const before = await people(t.db);
    expect(before.map((p) => p.name)).toEqual(PEOPLE.map((p) => p.name));

    for (const updateExisting of [false, true]) {
      const summary = await importCustomers(t.db, Readable.from([csv]), { updateExisting });
      expect(summary).toMatchObject({ created: 0, updated: 0, skipped: PEOPLE.length, failed: 0 });
    }
    expect(await people(t.db)).toEqual(before);

    const fresh = await createTestDatabase();
    await fresh.db('companies').insert({ name: COMPANY });
    const summary = await importCustomers(fresh.db, Readable.from([csv]));
    expect(summary).toMatchObject({ created: PEOPLE.length, failed: 0 });
    expect(await people(fresh.db)).toEqual(before);
    expect(await exported(fresh.db)).toBe(csv);
  });
});
