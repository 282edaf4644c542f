// Hostile mail cannot stall the service: mails built to cost CPU (huge header values, parameters
// of 50,000 spaces, deep MIME written in odd ways, hundreds of DKIM signatures) each end processed
// or quarantined with a reason, while the web role in the same process keeps answering /healthz;
// and a mail over its time budget is quarantined and its thread replaced, the next mail unharmed.
import { createHash } from 'node:crypto';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './helpers/db.ts';
import { startTestApi, type TestApi } from './helpers/api.ts';
import {
  eventually,
  startBossFor,
  startTestIngest,
  startTestWorker,
  testInboundSettings,
  testLog,
} from './helpers/app.ts';
import { sendRaw } from './helpers/smtp-client.ts';
import { createPgPool } from '../src/db/index.ts';
import { storeBatch } from '../src/ingest/index.ts';
import { processRawMessage } from '../src/inbound/index.ts';
import { MAX_DKIM_SIGNATURES, withoutExtraSignatures } from '../src/inbound/auth.ts';

let t: TestDatabase;
let api: TestApi;
let smtpPort: number;

beforeAll(async () => {
  t = await createTestDatabase();
  api = await startTestApi(t.url);
  const boss = await startBossFor(t.url, true);
  smtpPort = (await startTestIngest(t.url, { inboxes: ['support@localhost'], boss, maxMessageBytes: 8 * 1024 * 1024 }))
    .port;
  await startTestWorker(t.url, boss, 1, { ...testInboundSettings, cpuBudgetMs: 5_000 });
});

const head = (extra: string[]) =>
  ['From: Hostile <hostile@attack.test>', 'To: support@localhost', 'Subject: hostile', ...extra].join('\r\n');

/** Nested multiparts, `depth` deep, written with a space before the colon and folded parameters. */
function deepMime(depth: number): string {
  let body = 'Content-Type : text/plain;\r\n\tcharset=utf-8\r\n\r\nthe innermost text\r\n';
  for (let i = depth; i > 0; i--) {
    body = `Content-Type : multipart/mixed;\r\n boundary="d${i}"\r\n\r\n--d${i}\r\n${body}--d${i}--\r\n`;
  }
  return body;
}

/** Signatures that each ask for a body hash of their own (l=), the name written as mailauth also reads it. */
const oddDkim = (i: number, spelling: string) =>
  `${spelling} v=1; a=rsa-sha256; c=simple/simple; d=odd${i}.attack.test; s=s; l=${1_000_000 + i};\r\n h=from; bh=${'A'.repeat(43)}=; b=${'B'.repeat(100)}`;

const dkim = (i: number) =>
  `DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=sig${i}.attack.test; s=s${i};\r\n h=from:to:subject; bh=${'A'.repeat(43)}=;\r\n b=${'B'.repeat(340)}`;

const hostile: [string, string][] = [
  ['a 512 KB header value', `${head([`X-Huge: ${'a'.repeat(512 * 1024)}`])}\r\n\r\nbody\r\n`],
  [
    'a 400 KB folded header value',
    `${head([`X-Big: ${'word '.repeat(80 * 1024).replace(/(.{900}) /g, '$1\r\n ')}`])}\r\n\r\nbody\r\n`,
  ],
  ['a 512 KB Subject of spaces and =?', `${head([`Subject: ${'=? '.repeat(170 * 1024)}`])}\r\n\r\nbody\r\n`],
  [
    'a charset parameter of 50,000 spaces',
    `${head(['MIME-Version: 1.0', `Content-Type: text/plain; charset="${' '.repeat(50_000)}utf-8"`])}\r\n\r\nbody\r\n`,
  ],
  [
    'a filename parameter of 50,000 spaces',
    `${head(['MIME-Version: 1.0', 'Content-Type: multipart/mixed; boundary="x"'])}\r\n\r\n--x\r\nContent-Type: text/plain\r\n\r\nhi\r\n--x\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename="${' '.repeat(50_000)}a.bin"\r\n\r\nAAAA\r\n--x--\r\n`,
  ],
  ['MIME 400 deep, odd spacing and folds', `${head(['MIME-Version: 1.0'])}\r\n${deepMime(400)}`],
  ['MIME 1,200 deep (over the parts limit)', `${head(['MIME-Version: 1.0'])}\r\n${deepMime(1_200)}`],
  [
    '300 DKIM signatures',
    `${Array.from({ length: 300 }, (_, i) => dkim(i)).join('\r\n')}\r\n${head([])}\r\n\r\nsigned 300 times\r\n`,
  ],
  [
    '300 DKIM signatures spelled "DKIM-Signature :" over a 2 MB body',
    `${Array.from({ length: 300 }, (_, i) => oddDkim(i, 'DKIM-Signature :')).join('\r\n')}\r\n${head([])}\r\n\r\n${'x'.repeat(2 * 1024 * 1024)}\r\n`,
  ],
  [
    '300 DKIM signatures with a fold before the colon over a 2 MB body',
    `${Array.from({ length: 300 }, (_, i) => oddDkim(i, 'DKIM-Signature\r\n :')).join('\r\n')}\r\n${head([])}\r\n\r\n${'y'.repeat(2 * 1024 * 1024)}\r\n`,
  ],
  [
    'an attachment with an empty Content-Type field',
    `${head(['MIME-Version: 1.0', 'Content-Type: multipart/mixed; boundary="e"'])}\r\n\r\n--e\r\nContent-Type: text/plain\r\n\r\nhi\r\n--e\r\nContent-Type:\r\nContent-Disposition: attachment\r\n\r\nAAAA\r\n--e--\r\n`,
  ],
  ['a 200,000-character line of < and >', `${head([])}\r\n\r\n${'<>'.repeat(100_000)}\r\n`],
  [
    'HTML of 100,000 unclosed tags',
    `${head(['MIME-Version: 1.0', 'Content-Type: text/html'])}\r\n\r\n${'<div><b><a href="x">'.repeat(30_000)}\r\n`,
  ],
];

describe('hostile mail', () => {
  const stalls: number[] = [];
  let probing = true;
  let probe: Promise<void>;
  // the event loop of this process: SMTP, the worker's main thread and the web role share it
  const delay = monitorEventLoopDelay({ resolution: 10 });

  beforeAll(() => {
    delay.enable();
    // /healthz of the web role living in this same process, every 50 ms, throughout
    probe = (async () => {
      while (probing) {
        const t0 = performance.now();
        const r = await fetch(`${api.base.replace(/\/api\/v1$/, '')}/healthz`);
        expect(r.status).toBe(200);
        stalls.push(performance.now() - t0);
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
  });
  afterAll(async () => {
    probing = false;
    await probe;
  });

  it.each(hostile)('%s: ends processed or quarantined with a reason', async (_name, raw) => {
    const reply = await sendRaw(smtpPort, 'hostile@attack.test', ['support@localhost'], raw);
    expect(reply.code).toBe(250);
    const rawId = Number(/queued as (\d+)/.exec(reply.text)![1]);
    const row = await eventually(
      () => t.db('raw_messages').where({ id: rawId }).whereIn('status', ['processed', 'quarantined']).first(),
      60_000,
    );
    if (row.status === 'quarantined') expect(row.error).toBeTruthy();
    else expect(row.outcome).toBeTruthy();
  });

  it('kept /healthz answering all along', () => {
    expect(stalls.length).toBeGreaterThan(10);
    // a blocked event loop shows as seconds; a busy 2-core machine as tens of milliseconds
    expect(Math.max(...stalls)).toBeLessThan(2_000);
    delay.disable();
    expect(delay.max / 1e6).toBeLessThan(2_000);
  });
});

describe('the time budget', () => {
  it('quarantines a mail that takes too long, and the next mail is processed as usual', async () => {
    const pool = createPgPool(t.url, { poolMax: 2, log: testLog, pipeline: true });
    const boss = await startBossFor(t.url);
    const store = async (raw: Buffer) => {
      const [s] = await storeBatch(pool, boss, [
        {
          mailFrom: 'big@attack.test',
          rcptTo: ['support@localhost'],
          remoteAddress: '127.0.0.1',
          helo: 'test',
          smtpSession: undefined,
          sha256: createHash('sha256').update(raw).digest(),
          messageId: undefined,
          raw,
        },
      ]);
      return s!.id;
    };
    const paragraph = '<p style="color:#333">Lorem <b>ipsum</b> <a href="https://example.com">dolor</a>.</p>\n';
    const big = Buffer.from(
      `${head(['MIME-Version: 1.0', 'Content-Type: text/html'])}\r\n\r\n${paragraph.repeat(40_000)}\r\n`,
    );
    const ctx = { pool, log: testLog, settings: { ...testInboundSettings, cpuBudgetMs: 20 } };
    const slow = await store(big);
    await expect(processRawMessage(ctx, slow)).resolves.toBe('quarantined');
    const row = await t.db('raw_messages').where({ id: slow }).first();
    expect(row).toMatchObject({ status: 'quarantined', error: expect.stringContaining('time budget exceeded') });
    // the thread was replaced: a small mail goes through at once, within the same tiny budget's pool
    const small = await store(Buffer.from(`${head(['Message-ID: <small@attack.test>'])}\r\n\r\nsmall\r\n`));
    await expect(processRawMessage({ ...ctx, settings: testInboundSettings }, small)).resolves.toBe('ticket_created');
    await pool.end();
  });
});

describe('DKIM signatures', () => {
  it.each(['DKIM-Signature :', 'DKIM-Signature\t:', 'DKIM-Signature\r\n :', 'dkim-signature:'])(
    'are capped however the field name is written: %j',
    (spelling) => {
      const raw = Buffer.from(
        `${Array.from({ length: 20 }, (_, i) => oddDkim(i, spelling)).join('\r\n')}\r\n${head([])}\r\n\r\nbody\r\n`,
      );
      const cut = withoutExtraSignatures(raw, MAX_DKIM_SIGNATURES).toString('latin1');
      expect(cut.match(/d=odd\d+\.attack\.test/g)).toHaveLength(MAX_DKIM_SIGNATURES);
      expect(cut.endsWith(`${head([])}\r\n\r\nbody\r\n`)).toBe(true);
    },
  );

  it('keeps no part of a cut signature when the header ends the mail', () => {
    const raw = Buffer.from(Array.from({ length: 8 }, (_, i) => `DKIM-Signature: v=1;\r\n b=xx${i}`).join('\r\n'));
    const cut = withoutExtraSignatures(raw, MAX_DKIM_SIGNATURES).toString('latin1');
    expect(cut).toContain('b=xx4');
    expect(cut).not.toMatch(/b=xx[567]/);
  });

  it(`are verified ${MAX_DKIM_SIGNATURES} at most; the stored mail keeps them all`, () => {
    const raw = Buffer.from(
      `${Array.from({ length: 300 }, (_, i) => dkim(i)).join('\r\n')}\r\n${head([])}\r\n\r\nx\r\n`,
    );
    const cut = withoutExtraSignatures(raw, MAX_DKIM_SIGNATURES).toString('latin1');
    expect(cut.match(/^DKIM-Signature:/gm)).toHaveLength(MAX_DKIM_SIGNATURES);
    expect(cut).toContain('d=sig4.attack.test');
    expect(cut).not.toContain('d=sig5.attack.test');
    expect(cut.endsWith(`${head([])}\r\n\r\nx\r\n`)).toBe(true);
  });
});
