// `npm start` on a machine with no database configured: the embedded PostgreSQL is initialised on
// first start, a default inbox accepts mail, and a second start finds everything again.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { afterAll, expect, it } from 'vitest';
import nodemailer from 'nodemailer';

const bin = path.resolve(import.meta.dirname, '../bin/inbound.js');
const children = new Set<ChildProcess>();
let dataDir: string;
let env: NodeJS.ProcessEnv;

afterAll(async () => {
  for (const c of children) c.kill('SIGTERM');
  await Promise.all([...children].map((c) => new Promise((r) => c.once('exit', r))));
  if (dataDir) await rm(path.dirname(dataDir), { recursive: true, force: true });
});

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

async function startInbound(): Promise<{
  child: ChildProcess;
  ready: { smtp: string; http: string; inboxes: string[]; database: string };
}> {
  const child = spawn(process.execPath, [bin, 'start'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  child.once('exit', () => children.delete(child));
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  const ready = await new Promise<{ smtp: string; http: string; inboxes: string[]; database: string }>(
    (resolve, reject) => {
      createInterface({ input: child.stdout! }).on('line', (line) => {
        if (line.includes('"inbound ready"')) resolve(JSON.parse(line));
      });
      child.once('exit', (code) => reject(new Error(`exited ${code}: ${stderr}`)));
    },
  );
  return { child, ready };
}

async function messages(): Promise<{ status: string; message_id: string }[]> {
  const { stdout } = await promisify(execFile)(process.execPath, [bin, 'messages', 'list', '--json'], { env });
  return JSON.parse(stdout);
}

it('runs on its own PostgreSQL, accepts a first mail to support@localhost, and keeps it across restarts', async () => {
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'inbound-embedded-'));
  await chmod(tmp, 0o755);
  dataDir = path.join(tmp, 'data');
  env = {
    ...process.env,
    DATA_DIR: dataDir,
    EMBEDDED_PG_PORT: String(await freePort()),
    SMTP_PORT: '0',
    HTTP_PORT: '0',
    SMTP_HOST: '127.0.0.1',
    HTTP_HOST: '127.0.0.1',
  };
  delete env.DATABASE_URL;

  const first = await startInbound();
  expect(first.ready.inboxes).toEqual(['support@localhost']);
  expect(first.ready.database).toContain(dataDir);
  const port = Number(first.ready.smtp.split(':').at(-1));
  const transport = nodemailer.createTransport({ host: '127.0.0.1', port, secure: false, ignoreTLS: true });
  const info = await transport.sendMail({
    from: 'alice@example.com',
    to: 'support@localhost',
    subject: 'First mail',
    text: 'Hello',
  });
  transport.close();
  expect(info.response).toMatch(/^250 /);

  // the CLI finds the running embedded server; the worker has processed the mail
  let listed: { status: string; message_id: string }[] = [];
  for (let i = 0; i < 50; i++) {
    listed = await messages();
    if (listed[0]?.status === 'processed') break;
    await new Promise((r) => setTimeout(r, 100));
  }
  expect(listed).toEqual([expect.objectContaining({ status: 'processed', message_id: info.messageId })]);
  const health = await fetch(`${first.ready.http.replace('0.0.0.0', '127.0.0.1')}/readyz`);
  expect(health.status).toBe(200);

  first.child.kill('SIGTERM');
  expect(await new Promise((r) => first.child.once('exit', (code) => r(code)))).toBe(0);

  const second = await startInbound();
  expect(second.ready.inboxes).toEqual(['support@localhost']);
  expect(await messages()).toEqual([expect.objectContaining({ message_id: info.messageId })]);
}, 120_000);
