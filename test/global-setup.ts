// Once per test run: a PostgreSQL (DATABASE_URL, or an embedded one in a temp dir), and a template
// database with every migration and the queue schema, from which each test file clones its own.
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import pg from 'pg';
import { createLogger } from '../src/log.ts';
import { migrate } from '../src/main.ts';
import { startEmbeddedPostgres } from '../src/db/embedded.ts';
import { databaseUrl, quoteIdent } from './helpers/urls.ts';
import { freePort } from './helpers/ports.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    adminUrl: string;
    templateDb: string;
  }
}

export default async function setup(project: TestProject) {
  const log = createLogger(process.env.TEST_LOG_LEVEL ?? 'warn', 2);
  let adminUrl = process.env.DATABASE_URL;
  let stopEmbedded: (() => Promise<void>) | undefined;
  let tmp: string | undefined;
  if (!adminUrl) {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'inbound-test-pg-'));
    await chmod(tmp, 0o755); // PostgreSQL runs as its own user when we are root
    const server = await startEmbeddedPostgres(path.join(tmp, 'data'), await freePort(), log);
    adminUrl = server.url;
    stopEmbedded = server.stop;
  }

  const templateDb = `inbound_tpl_${process.pid}_${Date.now().toString(36)}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${quoteIdent(templateDb)}`);
  await admin.end();
  await migrate(databaseUrl(adminUrl, templateDb), log);

  project.provide('adminUrl', adminUrl);
  project.provide('templateDb', templateDb);

  return async () => {
    const c = new pg.Client({ connectionString: adminUrl });
    await c.connect();
    // Test files drop their own databases; this catches the ones a crashed file left behind.
    const { rows } = await c.query<{ datname: string }>(
      `SELECT datname FROM pg_database WHERE datname = $1 OR datname LIKE $2`,
      [templateDb, `${templateDb}_%`],
    );
    for (const { datname } of rows) await c.query(`DROP DATABASE IF EXISTS ${quoteIdent(datname)} WITH (FORCE)`);
    await c.end();
    await stopEmbedded?.();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  };
}
