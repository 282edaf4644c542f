// A database of the test file's own, cloned from the migrated template: files run in parallel
// without seeing each other's rows or jobs.
import { randomBytes } from 'node:crypto';
import { afterAll, inject } from 'vitest';
import pg from 'pg';
import { createDb, type Knex } from '../../src/db/index.ts';
import { databaseUrl, quoteIdent } from './urls.ts';

export interface TestDatabase {
  url: string;
  name: string;
  db: Knex;
}

export async function createTestDatabase(): Promise<TestDatabase> {
  const adminUrl = inject('adminUrl');
  const template = inject('templateDb');
  const name = `${template}_${randomBytes(4).toString('hex')}`;
  await adminQuery(adminUrl, `CREATE DATABASE ${quoteIdent(name)} TEMPLATE ${quoteIdent(template)}`);
  const url = databaseUrl(adminUrl, name);
  const db = createDb(url, { poolMax: 5, applicationName: 'inbound-test' });
  afterAll(async () => {
    await db.destroy();
    await adminQuery(adminUrl, `DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`);
  });
  return { url, name, db };
}

async function adminQuery(url: string, sql: string): Promise<void> {
  // CREATE DATABASE from one template is serialised by PostgreSQL; parallel files retry briefly.
  for (let attempt = 0; ; attempt++) {
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    try {
      await c.query(sql);
      return;
    } catch (err) {
      if ((err as { code?: string }).code !== '55006' || attempt >= 20) throw err;
      await new Promise((r) => setTimeout(r, 100 + Math.random() * 200));
    } finally {
      await c.end();
    }
  }
}
