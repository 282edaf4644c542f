// Getting a database ready: DATABASE_URL or the embedded server, and the schema brought up to
// date. Kept apart from main.ts so commands that only need the database load only this.
import type { Config } from './config.ts';
import type { Logger } from './log.ts';
import { createDb, migrateLatest } from './db/index.ts';
import { startEmbeddedPostgres } from './db/index.ts';

export interface Database {
  url: string;
  embedded: boolean;
  /** where the data lives, for people: the embedded cluster's directory, or the server DATABASE_URL names */
  location: string;
  close(): Promise<void>;
}

/** DATABASE_URL when set, otherwise the embedded server under DATA_DIR (started if needed). */
export async function openDatabase(config: Config, log: Logger): Promise<Database> {
  if (config.databaseUrl) {
    const u = new URL(config.databaseUrl);
    const location = `PostgreSQL at ${u.hostname || 'localhost'}${u.port ? `:${u.port}` : ''}${u.pathname}`;
    return { url: config.databaseUrl, embedded: false, location, close: async () => {} };
  }
  const server = await startEmbeddedPostgres(config.dataDir, config.embeddedPgPort, log);
  return {
    url: server.url,
    embedded: true,
    location: `${server.dir} (embedded PostgreSQL)`,
    close: () => server.stop(),
  };
}

/** Our migrations, then pg-boss's own schema and our queues. Safe to run from several processes. */
export async function migrate(url: string, log: Logger): Promise<string[]> {
  const db = createDb(url, { poolMax: 2, applicationName: 'inbound-migrate', log });
  try {
    const ran = await migrateLatest(db);
    for (const name of ran) log.info({ migration: name }, 'migrated');
    // pg-boss is loaded here only: commands that never migrate do without it
    const { ensureQueues, startBoss } = await import('./queue/index.ts');
    const boss = await startBoss({ url, worker: false, poolMax: 2, log });
    try {
      await ensureQueues(boss);
    } finally {
      await boss.stop({ graceful: false });
    }
    return ran;
  } finally {
    await db.destroy();
  }
}
