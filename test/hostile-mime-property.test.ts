// Hostile MIME, generated: fast-check builds mails out of what breaks parsers (deep nesting, header
// bombs, huge boundaries, broken and lying encodings, thousands of parts, very long lines, bad
// charsets, NULs and control bytes, broken encoded words), sends each over real SMTP to the ingest
// and lets the real worker process it. Whatever the mail, it ends processed (with an outcome) or
// quarantined (with a reason), the worker still processes an ordinary mail after each batch, and
// the process's memory stays bounded. The per-mail time budget of the mail pool
// (MAIL_CPU_BUDGET_MS, inbound/mail-pool.ts) is what makes the first two hold for the costly ones.
//
// The seed is fixed, so every run (CI's too) tries the same mails; FC_SEED=<n> tries others, and
// FC_SEED=random a new seed each run. The seed in use is printed, and a failure names it and the
// mail's recipe. FC_RUNS sets the number of batches; FC_VERBOSE=1 prints what became of each mail,
// and FC_DUMP=<dir> writes each mail there as <n>.eml, to replay one.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './helpers/db.ts';
import { eventually, startBossFor, startTestIngest, startTestWorker, testInboundSettings } from './helpers/app.ts';
import { sampleMail, sendRaw } from './helpers/smtp-client.ts';

const SEED = process.env.FC_SEED === 'random' ? Date.now() % 2 ** 31 : Number(process.env.FC_SEED ?? 20_260_601);
const RUNS = Number(process.env.FC_RUNS ?? 40);
/** the time one mail's parse, classification and rendering may take, as MAIL_CPU_BUDGET_MS sets it */
const BUDGET_MS = 3_000;

let t: TestDatabase;
let smtpPort: number;

beforeAll(async () => {
  t = await createTestDatabase();
  const boss = await startBossFor(t.url, true);
  smtpPort = (await startTestIngest(t.url, { inboxes: ['support@localhost'], boss, maxMessageBytes: 24 * 1024 * 1024 }))
    .port;
  await startTestWorker(t.url, boss, 1, { ...testInboundSettings, cpuBudgetMs: BUDGET_MS });
});

// ---- generators; a mail is built as a latin1 string (one char, one byte) with its recipe ----

interface Built {
  /** what went into it, for the failure message */
  recipe: string[];
  bytes: string;
}

const utf8 = (s: string) => Buffer.from(s, 'utf8').toString('latin1');
const built = (recipe: string | string[], bytes: string): Built => ({
  recipe: Array.isArray(recipe) ? recipe : [recipe],
  bytes,
});

/** any byte, NULs and control bytes likelier than in random data */
const anyBytes = (maxLength: number) =>
  fc.string({
    unit: fc.oneof(
      { weight: 3, arbitrary: fc.integer({ min: 0, max: 255 }).map((b) => String.fromCharCode(b)) },
      { weight: 1, arbitrary: fc.constantFrom('\0', '\x01', '\x07', '\x1b', '\x7f', '\r', '\n', '\t', '\f', '\v') },
    ),
    maxLength,
  });

/** text as people and attackers write it: any Unicode (lone surrogates too), controls, markup */
const text = (maxLength: number) =>
  fc
    .string({
      unit: fc.oneof(
        { weight: 4, arbitrary: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 1 }) },
        {
          weight: 1,
          arbitrary: fc.constantFrom(
            '\0',
            '\x1b',
            '\u2028',
            '\ufeff',
            '\ud800',
            '\udfff',
            '\u202e',
            '=?',
            '?=',
            '<',
            '"',
          ),
        },
      ),
      maxLength,
    })
    .map(utf8);

const CHARSETS = [
  'utf-8',
  'UTF-8',
  'us-ascii',
  'iso-8859-1',
  'windows-1252',
  'utf-7',
  'utf-16',
  'utf-16le',
  'UTF-32',
  'iso-2022-jp',
  'shift_jis',
  'gb18030',
  'koi8-r',
  'x-unknown-charset',
  '',
  'utf-8"; charset="iso-8859-1',
  '../../../etc/passwd',
  'utf\u0000-8',
  'constructor',
  '__proto__',
  ' '.repeat(3000),
  'x'.repeat(5000),
];
const charset = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...CHARSETS) },
  { weight: 1, arbitrary: anyBytes(40).map((s) => s.replace(/[\r\n]/g, '')) },
);

const ENCODINGS = [
  '7bit',
  '8bit',
  'binary',
  'base64',
  'BASE64',
  'quoted-printable',
  'Quoted-Printable',
  'x-uuencode',
  'gzip',
  '',
  'base64; x=1',
  ' base64 ',
  'q'.repeat(2000),
];

/** An encoded word, well formed or not: unknown charsets and encodings, bad base64 and Q, no end. */
const encodedWord = fc
  .tuple(
    charset,
    fc.constantFrom('B', 'b', 'Q', 'q', 'X', ''),
    fc.oneof(
      fc.base64String({ maxLength: 80 }),
      anyBytes(60).map((s) => s.replace(/[\r\n?]/g, '')),
      fc.constantFrom('=ZZ=', '====', '_=_', 'A', '=?utf-8?B?', '?=?='),
    ),
    fc.boolean(),
  )
  .map(([cs, enc, payload, ended]) => `=?${cs.replace(/[\r\n]/g, '')}?${enc}?${payload}${ended ? '?=' : ''}`);

/** A header value: text, encoded words (sometimes thousands, side by side), NULs. */
const headerValue = fc.oneof(
  text(200),
  fc.array(encodedWord, { minLength: 1, maxLength: 8 }).map((w) => w.join(' ')),
  fc
    .tuple(encodedWord, fc.integer({ min: 500, max: 5000 }))
    .map(([w, n]) => Array.from({ length: n }, () => w).join('')),
  anyBytes(300).map((s) => s.replace(/\r?\n(?![ \t])/g, '\r\n ')),
);

/** A filename parameter: plain, encoded words, RFC 2231 continuations that lie about their order. */
const filename = fc.oneof(
  headerValue.map((v) => `filename="${v.replace(/[\r\n"]/g, '')}"`),
  fc.constantFrom(
    'filename="../../../etc/passwd"',
    'filename="..\\..\\boot.ini"',
    `filename="${'a'.repeat(20_000)}.txt"`,
    "filename*=utf-8''%ZZ%00%FF%2e%2e%2f",
    "filename*0*=utf-8''a%E2; filename*2=c; filename*4294967295=d",
    'filename*0=a; filename*0=b; filename*1000000=c',
    'filename=',
    'filename="<img src=x onerror=alert(1)>.html"',
    'filename="\u0000.exe"',
  ),
);

/** A leaf's content for its Content-Transfer-Encoding, honest or lying. */
const content = fc.oneof(
  fc.base64String({ maxLength: 400 }),
  fc.constantFrom(
    '!!!not base64!!!\r\n====\r\nAAA',
    'QUJD\r\nRE=F\r\n=\r\n',
    '=ZZ=0=\r\n=\r=\n==3D=',
    `${'='.repeat(3000)}\r\n`,
    '<html><body><!-- never closed <script>alert(1)</script><![CDATA[ <style>',
    `${'<div><table><tr><td><a href="javascript:alert(1)">'.repeat(2000)}`,
    `<p style="${'x:'.repeat(20_000)}">${'&amp;&#x;&#99999999;'.repeat(2000)}</p>`,
    '\x1b$B$3$s\x1b(B\x1b$B',
    '+AGEAbABlAHIAdAAoADEAKQ-',
  ),
  anyBytes(800),
  text(400),
);

const LEAF_TYPES = [
  'text/plain',
  'text/html',
  'text/calendar',
  'application/octet-stream',
  'image/png',
  'message/delivery-status',
  'text/rfc822-headers',
  'application/pgp-signature',
  'x/x',
  '',
];

const leaf = fc
  .record({
    type: fc.constantFrom(...LEAF_TYPES),
    charset,
    encoding: fc.constantFrom(...ENCODINGS),
    attachment: fc.option(filename, { nil: undefined }),
    extra: fc.option(headerValue, { nil: undefined }),
    body: content,
  })
  .map((l) =>
    built(
      `leaf ${l.type} ${l.encoding.slice(0, 20)}`,
      [
        `Content-Type: ${l.type}; charset="${l.charset}"`,
        `Content-Transfer-Encoding: ${l.encoding}`,
        ...(l.attachment ? [`Content-Disposition: attachment; ${l.attachment}`] : []),
        ...(l.extra ? [`Content-Description: ${l.extra}`] : []),
        '',
        l.body,
      ].join('\r\n'),
    ),
  );

const boundary = fc.oneof(
  { weight: 3, arbitrary: fc.stringMatching(/^[A-Za-z0-9'()+_,./:=? -]{1,70}$/) },
  { weight: 1, arbitrary: fc.integer({ min: 71, max: 20_000 }).map((n) => 'b'.repeat(n)) },
  { weight: 1, arbitrary: fc.constantFrom('', '"', '--', ' ', '\0', '=?utf-8?B?', 'a\r\n b') },
);

/** Multiparts nested as deep as fast-check's depth allows; boundaries that lie, clash or never close. */
const tree: fc.Arbitrary<Built> = fc.letrec<{ node: Built }>((tie) => ({
  node: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    leaf,
    fc
      .record({
        subtype: fc.constantFrom('mixed', 'alternative', 'related', 'digest', 'report', 'signed', 'x-unknown'),
        boundary,
        children: fc.array(tie('node'), { maxLength: 4 }),
        closed: fc.boolean(),
        preamble: fc.option(anyBytes(100), { nil: undefined }),
      })
      .map((m) =>
        built(
          [`multipart/${m.subtype} (${m.children.length})`, ...m.children.flatMap((c) => c.recipe)],
          [
            `Content-Type: multipart/${m.subtype}; boundary="${m.boundary}"`,
            '',
            m.preamble ?? '',
            ...m.children.map((c) => `--${m.boundary}\r\n${c.bytes}`),
            m.closed ? `--${m.boundary}--` : '',
          ].join('\r\n'),
        ),
      ),
    tie('node').map((inner) =>
      built(
        ['message/rfc822', ...inner.recipe],
        `Content-Type: message/rfc822\r\n\r\nSubject: inner\r\n${inner.bytes}`,
      ),
    ),
  ),
})).node;

/** One multipart inside the next, hundreds deep (over the 1,000 parts limit too), odd spellings. */
const deepNesting = fc
  .record({
    depth: fc.integer({ min: 50, max: 1_500 }),
    sameBoundary: fc.boolean(),
    closed: fc.boolean(),
    spacing: fc.constantFrom('Content-Type:', 'Content-Type :', 'content-type:\r\n'),
  })
  .map(({ depth, sameBoundary, closed, spacing }) => {
    let body = `${spacing} text/plain\r\n\r\ninnermost\r\n`;
    for (let i = depth; i > 0; i--) {
      const b = sameBoundary ? 'same' : `d${i}`;
      body = `${spacing} multipart/mixed; boundary="${b}"\r\n\r\n--${b}\r\n${body}${closed ? `--${b}--\r\n` : ''}`;
    }
    return built(`deep nesting ${depth}${sameBoundary ? ' one boundary' : ''}${closed ? '' : ' unclosed'}`, body);
  });

/** A mail of many tiny attachments: up to 10,000 parts. */
const manyParts = fc
  .record({ count: fc.integer({ min: 500, max: 10_000 }), named: fc.boolean() })
  .map(({ count, named }) => {
    const parts = Array.from(
      { length: count },
      (_, i) =>
        `--m\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment${named ? `; filename="f${i}.bin"` : ''}\r\nContent-Transfer-Encoding: base64\r\n\r\nQQ==\r\n`,
    );
    return built(
      `${count} attachments`,
      `Content-Type: multipart/mixed; boundary="m"\r\n\r\n--m\r\nContent-Type: text/plain\r\n\r\nsee files\r\n${parts.join('')}--m--\r\n`,
    );
  });

/** A very long line (no line break for up to 2 MB), of text, markup or base64. */
const longLine = fc
  .record({
    size: fc.integer({ min: 10_000, max: 2 * 1024 * 1024 }),
    unit: fc.constantFrom('a', '<b>', '=', 'A', '\0', ' ', '=?'),
    type: fc.constantFrom('text/plain', 'text/html'),
    encoding: fc.constantFrom('7bit', 'base64', 'quoted-printable'),
  })
  .map(({ size, unit, type, encoding }) =>
    built(
      `long line ${size} of ${JSON.stringify(unit)} ${type} ${encoding}`,
      `Content-Type: ${type}\r\nContent-Transfer-Encoding: ${encoding}\r\n\r\n${unit.repeat(Math.ceil(size / unit.length))}\r\n`,
    ),
  );

/** One part under a boundary far longer than the 70 characters allowed. */
const hugeBoundary = fc
  .integer({ min: 1_000, max: 500_000 })
  .map((n) =>
    built(
      `boundary of ${n}`,
      `Content-Type: multipart/mixed; boundary="${'B'.repeat(n)}"\r\n\r\n--${'B'.repeat(n)}\r\nContent-Type: text/plain\r\n\r\nhi\r\n--${'B'.repeat(n)}--\r\n`,
    ),
  );

const body = fc.oneof(
  { weight: 4, arbitrary: tree },
  { weight: 1, arbitrary: deepNesting },
  { weight: 1, arbitrary: manyParts },
  { weight: 1, arbitrary: longLine },
  { weight: 1, arbitrary: hugeBoundary },
);

/** Header bombs: thousands of fields, a huge folded one, fields without a colon, 8-bit names. */
const headerBomb = fc.oneof(
  fc.constant(built('no header bomb', '')),
  fc
    .integer({ min: 1_000, max: 8_000 })
    .map((n) => built(`${n} headers`, Array.from({ length: n }, (_, i) => `X-Bomb-${i}: v${i}\r\n`).join(''))),
  fc
    .record({ size: fc.integer({ min: 10_000, max: 700_000 }), fold: fc.integer({ min: 1, max: 2_000 }) })
    .map(({ size, fold }) => {
      const words = 'w'.repeat(fold);
      const n = Math.ceil(size / (fold + 3));
      return built(
        `folded header of ${size} every ${fold}`,
        `X-Folded: ${Array.from({ length: n }, () => words).join('\r\n ')}\r\n`,
      );
    }),
  fc.constantFrom(
    built('fields without a colon', 'no colon here\r\n: empty name\r\n \r\n\tcontinued nothing\r\n'),
    built('8-bit field names', 'X-\xff\xfe: v\r\nX-\0: nul\r\n\xc3\xa9: accent\r\n'),
    built('repeated Content-Type', 'Content-Type: text/html\r\nContent-Type: multipart/mixed\r\n'),
    built('lying MIME-Version', 'MIME-Version: 9.9 (x)\r\n'),
  ),
);

/** How lines end: the standard, or bare LF or CR throughout. */
const lineEnds = fc.constantFrom('crlf', 'crlf', 'crlf', 'lf', 'cr');

const hostileMail = fc
  .record({ from: headerValue, subject: headerValue, bomb: headerBomb, body, ends: lineEnds })
  .map((m) => ({
    recipe: [...m.bomb.recipe, ...m.body.recipe, `line ends ${m.ends}`],
    build(id: string): Buffer {
      let raw = [
        `From: ${m.from.replace(/\r?\n(?![ \t])/g, ' ')} <hostile@attack.test>`,
        'To: support@localhost',
        `Subject: ${m.subject.replace(/\r?\n(?![ \t])/g, ' ')}`,
        // each mail is new: never a duplicate of another run's
        `Message-ID: <${id}@property.attack.test>`,
        'MIME-Version: 1.0',
        m.bomb.bytes + m.body.bytes,
      ].join('\r\n');
      if (m.ends === 'lf') raw = raw.replace(/\r\n/g, '\n');
      if (m.ends === 'cr') raw = raw.replace(/\r\n/g, '\r');
      // a line that starts with a dot after a bare LF or CR is stuffed too (sendRaw stuffs after CRLF)
      raw = raw.replace(/([\r\n])\./g, '$1..');
      return Buffer.from(raw, 'latin1');
    },
  }));

// ---- the system under test ----

/** Sends one mail over SMTP; its raw_messages id. */
async function send(raw: Buffer): Promise<number> {
  const reply = await sendRaw(smtpPort, 'hostile@attack.test', ['support@localhost'], raw);
  expect(reply.code, reply.text).toBe(250);
  return Number(/queued as (\d+)/.exec(reply.text)![1]);
}

interface Ended {
  id: number;
  status: string;
  outcome: string | null;
  error: string | null;
}

/** Waits until every mail has ended, processed or quarantined. */
async function ended(ids: number[]): Promise<Ended[]> {
  return eventually(async () => {
    const rows: Ended[] = await t
      .db('raw_messages')
      .whereIn('id', ids)
      .whereIn('status', ['processed', 'quarantined'])
      .select('id', 'status', 'outcome', 'error');
    return rows.length === ids.length ? rows : undefined;
  }, 120_000);
}

/** A full collection first, when the flag can be set, so heapUsed says what is still reachable. */
function collect(): void {
  try {
    setFlagsFromString('--expose-gc');
    (runInNewContext('gc') as () => void)();
  } catch {
    // without it the figures include garbage; the bounds are generous enough for that
  }
}

function memory() {
  collect();
  const m = process.memoryUsage();
  return { rss: m.rss, heapUsed: m.heapUsed, arrayBuffers: m.arrayBuffers };
}

const MB = 1024 * 1024;
let canaries = 0;

/** An ordinary mail, which must become a ticket: the worker is up and well. */
async function canary(): Promise<void> {
  canaries++;
  const id = await send(
    Buffer.from(sampleMail({ messageId: `<canary-${canaries}@example.com>`, subject: `Canary ${canaries}` })),
  );
  const [row] = await ended([id]);
  expect(row, `the ordinary mail after batch ${canaries}`).toMatchObject({
    status: 'processed',
    outcome: 'ticket_created',
  });
}

describe('hostile MIME, generated', () => {
  it('every mail ends processed or quarantined with a reason; the worker stays up; memory stays bounded', async () => {
    console.log(`hostile-mime-property: seed ${SEED}, ${RUNS} batches (FC_SEED and FC_RUNS change them)`);
    // threads started and code loaded: what follows is what the mails cost
    await canary();
    const before = memory();
    let peak = before.rss;
    let mails = 0;
    const statuses: Record<string, number> = {};

    await fc.assert(
      fc.asyncProperty(fc.array(hostileMail, { minLength: 1, maxLength: 3 }), async (batch) => {
        const ids: number[] = [];
        for (const mail of batch) {
          mails++;
          const raw = mail.build(`m${SEED}-${mails}`);
          if (process.env.FC_DUMP) writeFileSync(path.join(process.env.FC_DUMP, `${mails}.eml`), raw);
          ids.push(await send(raw));
        }
        const rows = await ended(ids);
        for (const row of rows) {
          const recipe = batch[ids.indexOf(row.id)]!.recipe.join(', ');
          const said = row.status === 'quarantined' ? `quarantined: ${row.error?.slice(0, 60)}` : row.outcome!;
          statuses[said] = (statuses[said] ?? 0) + 1;
          if (process.env.FC_VERBOSE) console.log(`#${ids.indexOf(row.id)} ${said} <- ${recipe.slice(0, 300)}`);
          if (row.status === 'quarantined') expect(row.error, `quarantined without a reason: ${recipe}`).toBeTruthy();
          else expect(row.outcome, `processed without an outcome: ${recipe}`).toBeTruthy();
        }
        await canary();
        peak = Math.max(peak, process.memoryUsage().rss);
      }),
      // a failing batch is reported as it is: shrinking would send hundreds more mails
      { seed: SEED, numRuns: RUNS, endOnFailure: true, verbose: 1 },
    );

    const after = memory();
    const figures = {
      mails,
      statuses,
      rss_mb: [before.rss, after.rss, peak].map((b) => Math.round(b / MB)),
      heap_used_mb: [before.heapUsed, after.heapUsed].map((b) => Math.round(b / MB)),
      array_buffers_mb: [before.arrayBuffers, after.arrayBuffers].map((b) => Math.round(b / MB)),
    };
    console.log(`hostile-mime-property: ${JSON.stringify(figures)} (rss: before, after, peak)`);
    expect(mails).toBeGreaterThanOrEqual(RUNS);
    // generous: a leak of what the mails were made of (tens of MB a batch) still shows
    expect(after.heapUsed - before.heapUsed, 'heap growth').toBeLessThan(150 * MB);
    expect(after.arrayBuffers - before.arrayBuffers, 'buffer growth').toBeLessThan(200 * MB);
    expect(after.rss - before.rss, 'resident growth').toBeLessThan(1_024 * MB);
  }, 600_000);
});
