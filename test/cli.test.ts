import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './helpers/db.ts';

const run = promisify(execFile);
const bin = path.resolve(import.meta.dirname, '../bin/inbound.js');
let t: TestDatabase;

beforeAll(async () => {
  t = await createTestDatabase();
});

async function inbound(args: string[], env: Record<string, string> = {}) {
  try {
    const { stdout, stderr } = await run(process.execPath, [bin, ...args], {
      env: { ...process.env, DATABASE_URL: t.url, ...env },
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('inbound CLI', () => {
  it('adds and lists inboxes', async () => {
    expect((await inbound(['inbox', 'add', 'Help@Example.COM', '--name', 'Help desk'])).stdout).toMatch(
      /added inbox help@example.com/,
    );
    const dup = await inbound(['inbox', 'add', 'help@example.com']);
    expect(dup.code).toBe(2);
    expect(dup.stderr).toMatch(/exists already/);
    expect((await inbound(['inbox', 'add', 'not-an-address'])).stderr).toMatch(/not an email address/);
    const list = JSON.parse((await inbound(['inbox', 'list', '--json'])).stdout);
    expect(list).toEqual([expect.objectContaining({ address: 'help@example.com', name: 'Help desk', enabled: true })]);
    expect((await inbound(['inbox', 'list'])).stdout).toMatch(/help@example.com\s+Help desk/);
  });

  it('lists raw messages, all of them as one JSON array unless --limit, filtered by --status', async () => {
    const rows = Array.from({ length: 120 }, (_, i) => ({
      mail_from: `s${i}@example.com`,
      rcpt_to: ['help@example.com'],
      size: 1,
      sha256: Buffer.alloc(32, i),
      message_id: `<m${i}@example.com>`,
      raw: Buffer.from('x'),
      status: i % 10 === 0 ? 'quarantined' : 'received',
      error: i % 10 === 0 ? 'cannot parse' : null,
    }));
    await t.db('raw_messages').insert(rows);
    const all = JSON.parse((await inbound(['messages', 'list', '--json'])).stdout);
    expect(all).toHaveLength(120);
    expect(all[0]).toMatchObject({
      id: expect.any(Number),
      mail_from: 's0@example.com',
      rcpt_to: ['help@example.com'],
      size: 1,
      message_id: '<m0@example.com>',
      status: 'quarantined',
      error: 'cannot parse',
    });
    expect(all[0]).not.toHaveProperty('raw');
    expect(JSON.parse((await inbound(['messages', 'list', '--json', '--limit', '5'])).stdout)).toHaveLength(5);
    const q = JSON.parse((await inbound(['messages', 'list', '--status', 'quarantined', '--json'])).stdout);
    expect(q).toHaveLength(12);
    expect((await inbound(['messages', 'list', '--status', 'lost'])).stderr).toMatch(/--status must be one of/);
  });

  it('stops on a bad configuration value, naming the variable', async () => {
    const r = await inbound(['inbox', 'list'], { SMTP_PORT: 'abc' });
    expect(r.code).toBe(78);
    expect(r.stderr).toMatch(/SMTP_PORT="abc"/);
  });

  it('answers an unknown command with its usage', async () => {
    const r = await inbound(['frobnicate']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown command: frobnicate/);
    expect((await inbound(['start', '--roles', 'smtp,mars'])).stderr).toMatch(/unknown role 'mars'/);
  });
});
