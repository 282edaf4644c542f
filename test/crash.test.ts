// Invariant 1 under a real crash: a 250 means the bytes are committed, exactly once. A real
// `inbound start --roles smtp` process is killed with SIGKILL while 10 connections send 1,000
// mails; every mail without a 250 is sent again to a restarted process.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomInt } from 'node:crypto';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { afterEach, beforeAll, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './helpers/db.ts';
import { SmtpClient } from './helpers/smtp-client.ts';

const MAILS = 1_000;
const CONNECTIONS = 10;
const root = path.resolve(import.meta.dirname, '..');

let t: TestDatabase;
const children = new Set<ChildProcess>();

beforeAll(async () => {
  t = await createTestDatabase();
  await t.db('inboxes').insert({ address: 'support@localhost', name: 'Support' });
});

afterEach(() => {
  for (const c of children) c.kill('SIGKILL');
});

/** Starts `inbound start --roles smtp` and resolves with its SMTP port once it listens. */
async function startSmtpProcess(): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, [path.join(root, 'bin/inbound.js'), 'start', '--roles', 'smtp'], {
    cwd: root,
    env: {
      ...process.env,
      DATABASE_URL: t.url,
      SMTP_HOST: '127.0.0.1',
      SMTP_PORT: '0',
      LOG_LEVEL: 'info',
      DB_POOL_MAX: '12',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  child.once('exit', () => children.delete(child));
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  const port = await new Promise<number>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    lines.on('line', (line) => {
      if (line.includes('"smtp listening"')) resolve(JSON.parse(line).port);
    });
    child.once('exit', (code) => reject(new Error(`inbound exited early (${code}): ${stderr}`)));
  });
  return { child, port };
}

function mail(i: number): Buffer {
  return Buffer.from(
    [
      `From: Sender ${i} <sender${i}@example.com>`,
      'To: support@localhost',
      `Subject: Crash test ${i}`,
      `Message-ID: <crash-${i}@example.com>`,
      'Content-Type: text/plain',
      '',
      `Mail number ${i}.`,
      'x'.repeat(200 + (i % 300)),
      '',
    ].join('\r\n'),
  );
}

/**
 * Sends the given mails over `connections` persistent connections. Returns the indexes that got a
 * 250. Stops at the first dead connection of each sender (the process was killed).
 */
async function sendAll(port: number, indexes: number[], onAck?: () => void): Promise<Set<number>> {
  const acked = new Set<number>();
  const queue = [...indexes];
  async function sender(): Promise<void> {
    let client: SmtpClient;
    try {
      const c = await SmtpClient.connect(port);
      if (c.greeting.code !== 220) return c.client.close();
      client = c.client;
      await client.command('EHLO crash.test');
    } catch {
      return;
    }
    try {
      for (let i = queue.shift(); i !== undefined; i = queue.shift()) {
        const steps = [await client.command('MAIL FROM:<sender@example.com>')];
        if (steps[0]!.code === 250) steps.push(await client.command('RCPT TO:<support@localhost>'));
        if (steps.at(-1)!.code === 250) steps.push(await client.command('DATA'));
        if (steps.at(-1)!.code === 354) steps.push(await client.data(mail(i)));
        const last = steps.at(-1)!;
        if (last.code === 250) {
          acked.add(i);
          onAck?.();
        } else if (last.code === 0) {
          return; // connection gone
        }
      }
    } finally {
      client.close();
    }
  }
  await Promise.all(Array.from({ length: CONNECTIONS }, sender));
  return acked;
}

it('every mail that got a 250 is stored exactly once across a SIGKILL and a restart', async () => {
  const all = Array.from({ length: MAILS }, (_, i) => i);
  const killAfter = randomInt(50, MAILS - 50);

  const first = await startSmtpProcess();
  let acks = 0;
  const ackedBeforeKill = await sendAll(first.port, all, () => {
    if (++acks === killAfter) first.child.kill('SIGKILL');
  });
  await new Promise((r) =>
    first.child.exitCode !== null || first.child.signalCode ? r(null) : first.child.once('exit', r),
  );
  expect(first.child.signalCode, `killed after ${killAfter} acks`).toBe('SIGKILL');
  expect(ackedBeforeKill.size).toBeGreaterThanOrEqual(killAfter);
  expect(ackedBeforeKill.size).toBeLessThan(MAILS);

  // Every acked mail is in the database before the restart: the 250 came after COMMIT.
  const { rows: before } = await t.db.raw<{ rows: { message_id: string }[] }>(
    `SELECT message_id FROM raw_messages WHERE duplicate_of IS NULL`,
  );
  const storedBefore = new Set(before.map((r) => r.message_id));
  for (const i of ackedBeforeKill) expect(storedBefore.has(`<crash-${i}@example.com>`)).toBe(true);

  const second = await startSmtpProcess();
  const missing = all.filter((i) => !ackedBeforeKill.has(i));
  const ackedAfter = await sendAll(second.port, missing);
  expect(ackedAfter.size).toBe(missing.length);
  second.child.kill('SIGTERM');
  await new Promise((r) => second.child.once('exit', r));

  const { rows } = await t.db.raw<{ rows: { message_id: string; originals: number; sha: string[] }[] }>(
    `SELECT message_id,
            count(*) FILTER (WHERE duplicate_of IS NULL)::int AS originals,
            array_agg(DISTINCT encode(sha256, 'hex')) AS sha
       FROM raw_messages GROUP BY message_id`,
  );
  expect(rows).toHaveLength(MAILS);
  for (const row of rows) {
    const i = Number(/crash-(\d+)@/.exec(row.message_id)![1]);
    expect(row.originals, row.message_id).toBe(1);
    expect(row.sha).toEqual([createHash('sha256').update(mail(i)).digest('hex')]);
  }
  // one processing job per stored mail, none for the duplicates
  const { rows: jobs } = await t.db.raw<{ rows: { n: number; distinct_raw: number }[] }>(
    `SELECT count(*)::int AS n, count(DISTINCT data->>'rawId')::int AS distinct_raw FROM pgboss.job WHERE name = 'inbound.process'`,
  );
  expect(jobs[0]).toEqual({ n: MAILS, distinct_raw: MAILS });
}, 120_000);
