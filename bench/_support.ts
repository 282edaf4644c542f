// Shared by the benchmarks: a database of their own, a steady SMTP load, and the report.
import { fork } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { loadConfig } from '../src/config.ts';
import { createLogger } from '../src/log.ts';
import { migrate, openDatabase } from '../src/main.ts';
import { SmtpClient } from '../test/helpers/smtp-client.ts';

export const log = createLogger(process.env.LOG_LEVEL ?? 'warn', 2);

/** A fresh, migrated database on DATABASE_URL's server (or the embedded one), dropped by `drop`. */
export async function benchDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const database = await openDatabase(loadConfig(), log);
  const name = `inbound_bench_${Date.now().toString(36)}`;
  const admin = new pg.Client({ connectionString: database.url });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  const u = new URL(database.url);
  u.pathname = `/${name}`;
  const url = u.toString();
  await migrate(url, log);
  return {
    url,
    async drop() {
      await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await admin.end();
      await database.close();
    },
  };
}

export interface LoadResult {
  mails: number;
  connections: number;
  seconds: number;
  msgsPerSec: number;
  /** From the last byte of DATA to the 250, milliseconds. */
  p50: number;
  p99: number;
  failed: number;
}

/** Runs smtpLoadInProcess in a child process (see _load.ts), one at a time. */
export function startLoadGenerator(): {
  run(port: number, mails: number, connections: number, bytes: number): Promise<LoadResult>;
  stop(): void;
} {
  const child = fork(path.join(import.meta.dirname, '_load.ts'), [], { stdio: 'inherit' });
  return {
    run(port, mails, connections, bytes) {
      return new Promise((resolve, reject) => {
        const onExit = (code: number | null) => reject(new Error(`load generator exited (${code})`));
        child.once('exit', onExit);
        child.once('message', (r) => {
          child.off('exit', onExit);
          resolve(r as LoadResult);
        });
        child.send({ port, mails, connections, bytes });
      });
    },
    stop: () => child.kill(),
  };
}

/** Sends `mails` copies of `body` (each with its own Message-ID) over `connections` persistent connections. */
export async function smtpLoadInProcess(
  port: number,
  mails: number,
  connections: number,
  body: (i: number) => Buffer,
): Promise<LoadResult> {
  const latencies: number[] = [];
  let next = 0;
  let failed = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: connections }, async () => {
      const { client } = await SmtpClient.connect(port);
      await client.command('EHLO bench.example');
      for (let i = next++; i < mails; i = next++) {
        await client.command('MAIL FROM:<bench@example.com>');
        await client.command('RCPT TO:<support@localhost>');
        await client.command('DATA');
        const t0 = performance.now();
        const r = await client.data(body(i));
        latencies.push(performance.now() - t0);
        if (r.code !== 250) failed++;
      }
      await client.command('QUIT');
      client.close();
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const pct = (p: number) => round(latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))] ?? 0);
  return {
    mails,
    connections,
    seconds: round(seconds),
    msgsPerSec: round(mails / seconds),
    p50: pct(0.5),
    p99: pct(0.99),
    failed,
  };
}

export function mailOfSize(bytes: number): (i: number) => Buffer {
  const line = 'Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor.\r\n';
  const text = line.repeat(Math.ceil(bytes / line.length)).slice(0, bytes);
  return (i) =>
    Buffer.from(
      `From: Bench <bench@example.com>\r\nTo: support@localhost\r\nSubject: Bench ${i}\r\nMessage-ID: <bench-${i}-${Date.now()}@example.com>\r\nContent-Type: text/plain\r\n\r\n${text}\r\n`,
    );
}

export const round = (n: number) => Math.round(n * 100) / 100;

export async function writeResult(name: string, result: object): Promise<string> {
  const file = path.resolve(import.meta.dirname, 'results', `${name}.json`);
  await mkdir(path.dirname(file), { recursive: true });
  const doc = { bench: name, at: new Date().toISOString(), node: process.version, cpus: os.cpus().length, ...result };
  await writeFile(file, `${JSON.stringify(doc, null, 2)}\n`);
  return file;
}
