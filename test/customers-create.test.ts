// How a customer is made, whichever way it comes: the one rule that names and places it (table
// driven, pure), and the one insert against a real database, raced by two transactions creating
// the same address at once: one customer, no customer row without its address, one event.
import pg from 'pg';
import { beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './helpers/db.ts';
import { prepared } from '../src/db/index.ts';
import { isUniqueViolation } from '../src/errors.ts';
import type { Boss } from '../src/queue/index.ts';
import {
  type CompanyRule,
  createCustomer,
  createCustomerFromMail,
  customerName,
  findOrCreateCustomer,
  newCustomer,
  newCustomerFor,
} from '../src/customers/index.ts';

const ACME = 1;
const EU_ACME = 2;
const companies = new Map([
  ['acme.test', ACME],
  ['eu.acme.test', EU_ACME],
  // a free-mail domain names nobody's company, even when someone stored it
  ['gmail.com', 3],
]);

describe('customerName', () => {
  it.each([
    ['ann@acme.test', 'Ann Example', 'Ann Example'],
    ['ann@acme.test', '  Ann  ', 'Ann'],
    ['ann@acme.test', '   ', 'ann'],
    ['ann@acme.test', undefined, 'ann'],
    ['ann@acme.test', null, 'ann'],
    ['first.last+tag@acme.test', '', 'first.last+tag'],
  ])('%s named %j is %j', (address, display, name) => {
    expect(customerName(address, display)).toBe(name);
  });
});

describe('newCustomer', () => {
  it.each<[string, string, CompanyRule, number | null, 'manual' | 'domain' | null]>([
    ['the company chosen by hand wins over the domain', 'ann@acme.test', { chosen: 42 }, 42, 'manual'],
    ['no company, chosen by hand', 'ann@acme.test', { chosen: null }, null, 'manual'],
    ['a domain match', 'ann@acme.test', { byDomain: companies }, ACME, 'domain'],
    ['the most specific domain', 'ann@eu.acme.test', { byDomain: companies }, EU_ACME, 'domain'],
    ['a parent domain', 'ann@x.eu.acme.test', { byDomain: companies }, EU_ACME, 'domain'],
    ['no match', 'ann@other.test', { byDomain: companies }, null, null],
    ['never free mail', 'ann@gmail.com', { byDomain: companies }, null, null],
    ['no companies at all', 'ann@acme.test', { byDomain: new Map() }, null, null],
  ])('%s', (_, address, rule, companyId, companySource) => {
    expect(newCustomer(address, 'Ann', rule)).toEqual({ address, name: 'Ann', companyId, companySource });
  });
});

let t: TestDatabase;
let acme: number;

const orphans = async () =>
  (
    await t.db.raw(
      `SELECT count(*)::int AS n FROM customers c WHERE NOT EXISTS (SELECT 1 FROM customer_emails e WHERE e.customer_id = c.id)`,
    )
  ).rows[0].n;

const customersOf = async (address: string) =>
  (await t.db('customer_emails').where({ address }).pluck('customer_id')) as number[];

const createdEvents = async (customerId: number) =>
  (await t.db('events').where({ type: 'customer.created', customer_id: customerId }).pluck('data')) as Record<
    string,
    unknown
  >[];

/** Until another session of this database waits for a lock (the second of two racing inserts). */
async function someoneWaits(): Promise<void> {
  for (const until = Date.now() + 10_000; Date.now() < until; ) {
    const { rows } = await t.db.raw(
      `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`,
    );
    if (rows[0].n > 0) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error('nobody waits');
}

beforeAll(async () => {
  t = await createTestDatabase();
  [{ id: acme }] = await t.db('companies').insert({ name: 'Acme' }).returning('id');
  await t.db('company_domains').insert({ domain: 'acme.test', company_id: acme });
});

describe('newCustomerFor', () => {
  it('reads the companies of the address when none is chosen', async () => {
    expect(await newCustomerFor(t.db, 'ann@acme.test', undefined)).toEqual({
      address: 'ann@acme.test',
      name: 'ann',
      companyId: acme,
      companySource: 'domain',
    });
    expect(await newCustomerFor(t.db, 'ann@acme.test', 'Ann', null)).toMatchObject({
      companyId: null,
      companySource: 'manual',
    });
  });
});

describe('findOrCreateCustomer', () => {
  it('creates once, then finds, with one customer.created event', async () => {
    const first = await findOrCreateCustomer(t.db, ' Once@Acme.test ', 'Once', { via: 'follower' });
    expect(first).toMatchObject({ created: true, customer: { name: 'Once', company_id: acme } });
    const again = await findOrCreateCustomer(t.db, 'once@acme.test', 'Other name', { via: 'follower' });
    expect(again).toEqual({ created: false, customer: first.customer });
    expect(await createdEvents(first.customer.id)).toEqual([{ via: 'follower' }]);
  });

  it('two transactions creating one address at once: one customer, no orphan row, one event', async () => {
    const address = 'race@acme.test';
    const first = await t.db.transaction();
    const a = await findOrCreateCustomer(first, address, 'First', { via: 'follower' });
    // the second does not see the first's uncommitted address, inserts, and waits for it
    const second = t.db.transaction((trx) => findOrCreateCustomer(trx, address, 'Second', { via: 'follower' }));
    await someoneWaits();
    await first.commit();
    const b = await second;
    expect(a.created).toBe(true);
    expect(b).toEqual({ created: false, customer: a.customer });
    expect(await customersOf(address)).toEqual([a.customer.id]);
    expect(await orphans()).toBe(0);
    expect(await createdEvents(a.customer.id)).toHaveLength(1);
  });

  it('when the first creation rolls back, the second creates the customer', async () => {
    const address = 'rollback@acme.test';
    const first = await t.db.transaction();
    await findOrCreateCustomer(first, address, 'First', { via: 'follower' });
    const second = t.db.transaction((trx) => findOrCreateCustomer(trx, address, 'Second', { via: 'follower' }));
    await someoneWaits();
    await first.rollback();
    const b = await second;
    expect(b).toMatchObject({ created: true, customer: { name: 'Second' } });
    expect(await customersOf(address)).toEqual([b.customer.id]);
    expect(await orphans()).toBe(0);
  });

  it('many at once: one customer, one event', async () => {
    const address = 'crowd@acme.test';
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        t.db.transaction((trx) => findOrCreateCustomer(trx, address, `N${i}`, { via: 'follower' })),
      ),
    );
    const ids = new Set(results.map((r) => r.customer.id));
    expect(ids.size).toBe(1);
    expect(results.filter((r) => r.created)).toHaveLength(1);
    expect(await orphans()).toBe(0);
    expect(await createdEvents([...ids][0]!)).toHaveLength(1);
  });
});

describe('createCustomerFromMail', () => {
  it('writes the customer, its address and the event; a parallel creation rolls the second mail back', async () => {
    const address = 'mail@acme.test';
    const [one, two] = [new pg.Client({ connectionString: t.url }), new pg.Client({ connectionString: t.url })];
    await Promise.all([one.connect(), two.connect()]);
    try {
      await one.query('BEGIN');
      await createCustomerFromMail(prepared(one), {
        address,
        name: 'Mail',
        companyId: acme,
        event: { address: 'Mail@Acme.test', rawId: 7 },
      });
      await two.query('BEGIN');
      const second = createCustomerFromMail(prepared(two), { address, name: 'Mail again', companyId: null }).then(
        () => undefined,
        (err: unknown) => err,
      );
      await someoneWaits();
      await one.query('COMMIT');
      expect(isUniqueViolation(await second, 'customer_emails_address_key')).toBe(true);
      await two.query('ROLLBACK');
    } finally {
      await Promise.all([one.end(), two.end()]);
    }
    const [id] = await customersOf(address);
    expect(await t.db('customers').where({ id }).first('name', 'company_id', 'company_source')).toEqual({
      name: 'Mail',
      company_id: acme,
      company_source: 'domain',
    });
    expect(await createdEvents(id!)).toEqual([{ via: 'mail', address: 'Mail@Acme.test', rawId: 7 }]);
    expect(await orphans()).toBe(0);
  });

  it('records every customer it makes, a follower of a mail too', async () => {
    const client = new pg.Client({ connectionString: t.url });
    await client.connect();
    try {
      await createCustomerFromMail(prepared(client), { address: 'cc@acme.test', name: 'Cc', companyId: acme });
    } finally {
      await client.end();
    }
    const [id] = await customersOf('cc@acme.test');
    expect(await createdEvents(id!)).toEqual([{ via: 'mail' }]);
  });
});

describe('createCustomer', () => {
  const boss = {} as Boss; // only for send_welcome
  it('records the way it came (api, cli)', async () => {
    const api = await createCustomer(t.db, boss, { email: 'api@acme.test' });
    const cli = await createCustomer(t.db, boss, { email: 'cli@acme.test', company_id: null }, 'cli');
    expect(api).toMatchObject({ name: 'api', company_id: acme, company_source: 'domain' });
    expect(cli).toMatchObject({ name: 'cli', company_id: null, company_source: 'manual' });
    expect(await createdEvents(api.id)).toEqual([{ via: 'api' }]);
    expect(await createdEvents(cli.id)).toEqual([{ via: 'cli' }]);
  });

  it('two at once for one address: one customer, the other a 409, no orphan row', async () => {
    const results = await Promise.allSettled(
      [1, 2].map((i) =>
        createCustomer(t.db, boss, { email: 'twice@acme.test', name: `T${i}`, alternate_emails: [`alt${i}@x.test`] }),
      ),
    );
    expect(results.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
    const rejected = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    expect(rejected.reason).toMatchObject({ status: 409 });
    expect(await customersOf('twice@acme.test')).toHaveLength(1);
    expect(await orphans()).toBe(0);
  });
});
