// `inbound start --roles ...` as real processes on one database, as a site runs them: each is
// ready when it logs "inbound ready"; its ports come from its own log (port 0 picks them), and
// every JSON line it writes is kept for the test to read.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';
import type { LogLine } from './log.ts';

const root = path.resolve(import.meta.dirname, '../..');

export interface InboundProcess {
  name: string;
  child: ChildProcess;
  smtpPort?: number;
  httpPort?: number;
  /** every JSON line of its stdout so far */
  lines: LogLine[];
  /** resolves with the signal or exit code once the process is gone */
  exited: Promise<string>;
}

const running = new Set<ChildProcess>();
// should the test process end first, nothing outlives it
process.once('exit', () => {
  for (const c of running) c.kill('SIGKILL');
});

/** Starts one process and resolves once it is ready (or rejects with its stderr if it exits first). */
export async function startInbound(
  name: string,
  roles: string,
  env: Record<string, string>,
  timeoutMs = 300_000,
): Promise<InboundProcess> {
  const child = spawn(process.execPath, [path.join(root, 'bin/inbound.js'), 'start', '--roles', roles], {
    cwd: root,
    env: { ...process.env, SMTP_HOST: '127.0.0.1', SMTP_PORT: '0', HTTP_HOST: '127.0.0.1', HTTP_PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  const exited = new Promise<string>((resolve) =>
    child.once('exit', (code, signal) => {
      running.delete(child);
      resolve(signal ?? String(code));
    }),
  );
  const proc: InboundProcess = { name, child, lines: [], exited };
  let stderr = '';
  const lastLines = () =>
    proc.lines
      .slice(-5)
      .map((l) => JSON.stringify(l).slice(0, 1500))
      .join('\n');
  child.stderr!.on('data', (d) => {
    stderr = (stderr + d).slice(-4000);
  });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`${name} not ready in ${timeoutMs} ms; its last lines:\n${lastLines()}\n${stderr}`)),
      timeoutMs,
    );
    createInterface({ input: child.stdout! }).on('line', (text) => {
      let line: LogLine;
      try {
        line = JSON.parse(text);
      } catch {
        return;
      }
      proc.lines.push(line);
      if (line.msg === 'smtp listening') proc.smtpPort = line.port;
      if (line.msg === 'http listening') proc.httpPort = line.port;
      if (line.msg === 'inbound ready') {
        clearTimeout(timer);
        resolve();
      }
    });
    void exited.then((how) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited before it was ready (${how}): ${stderr}`));
    });
  });
  return proc;
}

/** Sends a signal and waits until the process is gone; resolves with how it ended. */
export async function stopInbound(p: InboundProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<string> {
  p.child.kill(signal);
  return p.exited;
}

/**
 * Stops every process still running: SIGTERM, then SIGKILL for what has not stopped within 15 s.
 * For the file's afterAll (at its top level: a hook registered inside beforeAll is never run).
 */
export async function stopAllInbound(): Promise<void> {
  await Promise.all(
    [...running].map(
      (c) =>
        new Promise<void>((resolve) => {
          const timer = setTimeout(() => c.kill('SIGKILL'), 15_000);
          c.once('exit', () => {
            clearTimeout(timer);
            resolve();
          });
          c.kill('SIGTERM');
        }),
    ),
  );
}
