// Every charset read right: text parts and attachment filenames in 8-bit bytes with no charset, or a
// wrong one, go through SMTP and the worker and are stored as the text their writer wrote, with no
// U+FFFD. One row per charset, a short realistic sentence and a filename in its language, sent in
// the ways mailers get it wrong: no declaration, a wrong declaration, raw bytes in filename=, and
// RFC 2231 filename*= with the charset declared, declared wrongly or missing.
import iconv from 'iconv-lite';
import { beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './helpers/db.ts';
import { eventually, startBossFor, startTestIngest, startTestWorker } from './helpers/app.ts';
import { sendRaw } from './helpers/smtp-client.ts';
import { withCharsets } from '../src/inbound/charset.ts';
import { PARSE_LIMITS } from '../src/inbound/parse.ts';

interface Row {
  charset: string;
  /** 20 to 60 characters in the charset's language */
  text: string;
  filename: string;
  /** a name of the charset that is wrong for these bytes, as mailers write it */
  wrong: string;
}

/**
 * GB2312, GBK and GB18030 bytes of the same text cannot be told apart, and need not be: each is a
 * subset of the next, and the text is read with the largest (gb18030). The GBK row holds a
 * character outside GB2312 (镕), the GB18030 row one outside GBK (𠮷, four bytes).
 */
const ROWS: Row[] = [
  {
    charset: 'gb2312',
    text: '您好，我的打印机坏了，请尽快帮我修理一下。谢谢！',
    filename: '发票二月.pdf',
    wrong: 'utf-8',
  },
  { charset: 'gbk', text: '朱镕基先生，您的发票已经寄出，请查收。', filename: '合同草案.docx', wrong: 'us-ascii' },
  { charset: 'gb18030', text: '我们下午三点在𠮷野家开会，请准时参加。', filename: '会议纪要.doc', wrong: 'utf-8' },
  { charset: 'big5', text: '您好，我的印表機壞了，請盡快幫我修理。謝謝！', filename: '報價單三月.pdf', wrong: 'utf-8' },
  {
    charset: 'shift_jis',
    text: 'お世話になっております。プリンターが故障しました。',
    filename: '見積書.pdf',
    wrong: 'utf-8',
  },
  {
    charset: 'iso-2022-jp',
    text: 'お世話になっております。プリンターが故障しました。',
    filename: '請求書.pdf',
    wrong: 'us-ascii',
  },
  { charset: 'euc-kr', text: '안녕하세요, 프린터가 고장났습니다. 도와주세요.', filename: '견적서.pdf', wrong: 'utf-8' },
  {
    charset: 'koi8-r',
    text: 'Здравствуйте, у меня не работает принтер.',
    filename: 'Счёт за март.pdf',
    wrong: 'utf-8',
  },
  {
    charset: 'windows-1251',
    text: 'Добрый день! Счёт за март во вложении.',
    filename: 'Договор поставки.pdf',
    wrong: 'us-ascii',
  },
  {
    charset: 'iso-8859-2',
    text: 'Proszę o szybką odpowiedź, ściągnięty plik nie działa.',
    filename: 'Faktura źródło.pdf',
    wrong: 'utf-8',
  },
  {
    charset: 'windows-1250',
    text: 'Dobrý den, tiskárna nefunguje. Pošlete prosím technika.',
    filename: 'Účtenka září.pdf',
    wrong: 'utf-8',
  },
  {
    charset: 'windows-1252',
    text: 'Bonjour, la facture de février est déjà réglée.',
    filename: 'Facture février.pdf',
    wrong: 'utf-8',
  },
  {
    charset: 'windows-1252',
    text: 'Grüße aus München, die Rechnung über 50 € ist bezahlt.',
    filename: 'Übersicht März.pdf',
    wrong: 'us-ascii',
  },
  {
    charset: 'utf-8',
    text: 'Привет, 你好, こんにちは — Grüße aus Köln!',
    filename: 'Отчёт 报告 Größe.pdf',
    wrong: 'us-ascii',
  },
];

/** ISO-2022-JP (RFC 1468) from EUC-JP: JIS X 0208 between ESC $ B and ESC ( B, 7-bit. */
function iso2022jp(text: string): Buffer {
  const euc = iconv.encode(text, 'euc-jp');
  const out: number[] = [];
  let kanji = false;
  for (let i = 0; i < euc.length; i++) {
    const b = euc[i]!;
    if (b >= 0xa1) {
      if (!kanji) out.push(0x1b, 0x24, 0x42);
      kanji = true;
      out.push(b & 0x7f, euc[++i]! & 0x7f);
    } else {
      if (kanji) out.push(0x1b, 0x28, 0x42);
      kanji = false;
      out.push(b);
    }
  }
  if (kanji) out.push(0x1b, 0x28, 0x42);
  return Buffer.from(out);
}

const bytes = (row: Row, s: string) => (row.charset === 'iso-2022-jp' ? iso2022jp(s) : iconv.encode(s, row.charset));
const percent = (b: Buffer) =>
  [...b]
    .map((c) =>
      c < 0x80 && /[A-Za-z0-9._-]/.test(String.fromCharCode(c))
        ? String.fromCharCode(c)
        : `%${c.toString(16).toUpperCase().padStart(2, '0')}`,
    )
    .join('');
const ascii = (s: string) => Buffer.from(s, 'latin1');

/** How a mail gets its charsets wrong; each builds the part of the mail after its first headers. */
interface Case {
  name: string;
  /** whether the filename is read back (else only the body) */
  filename: boolean;
  /** header lines (raw bytes allowed) and the body of a mail for the row */
  build: (row: Row) => Buffer[];
}

const textPart = (row: Row, charset: string | undefined, encoding = '8bit') => {
  const body = bytes(row, row.text);
  return [
    ascii(
      `Content-Type: text/plain${charset ? `; charset=${charset}` : ''}\r\nContent-Transfer-Encoding: ${encoding}\r\n\r\n`,
    ),
    encoding === 'base64' ? ascii(body.toString('base64')) : body,
    ascii('\r\n'),
  ];
};

/** A text part and a PDF whose Content-Disposition is `disposition` (raw bytes allowed). */
const withFile = (row: Row, charset: string | undefined, disposition: Buffer[]) => [
  ascii('MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="cs-b"\r\n\r\n--cs-b\r\n'),
  ...textPart(row, charset),
  ascii(
    '--cs-b\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment; ',
  ),
  ...disposition,
  ascii('\r\n\r\nJVBERi0xLjQK\r\n--cs-b--\r\n'),
];

const declaredRight = (row: Row) => (row.charset === 'utf-8' ? undefined : row.charset);

const CASES: Case[] = [
  {
    name: 'body, no charset',
    filename: false,
    build: (r) => [ascii('MIME-Version: 1.0\r\n'), ...textPart(r, undefined)],
  },
  {
    name: 'body, no charset, base64',
    filename: false,
    build: (r) => [ascii('MIME-Version: 1.0\r\n'), ...textPart(r, undefined, 'base64')],
  },
  {
    name: 'body, wrong charset',
    filename: false,
    build: (r) => [ascii('MIME-Version: 1.0\r\n'), ...textPart(r, r.wrong)],
  },
  {
    name: 'raw filename=, body declared',
    filename: true,
    build: (r) => withFile(r, declaredRight(r), [ascii('filename="'), bytes(r, r.filename), ascii('"')]),
  },
  {
    name: 'raw filename=, nothing declared',
    filename: true,
    build: (r) => withFile(r, undefined, [ascii('filename="'), bytes(r, r.filename), ascii('"')]),
  },
  {
    name: "filename*=charset''",
    filename: true,
    build: (r) => withFile(r, declaredRight(r), [ascii(`filename*=${r.charset}''${percent(bytes(r, r.filename))}`)]),
  },
  {
    name: 'filename*= wrong charset, body declared',
    filename: true,
    build: (r) => withFile(r, declaredRight(r), [ascii(`filename*=${r.wrong}''${percent(bytes(r, r.filename))}`)]),
  },
  {
    name: "filename*='' and nothing declared",
    filename: true,
    build: (r) => withFile(r, undefined, [ascii(`filename*=''${percent(bytes(r, r.filename))}`)]),
  },
];

let t: TestDatabase;
let port: number;

beforeAll(async () => {
  t = await createTestDatabase();
  const boss = await startBossFor(t.url, true);
  port = (await startTestIngest(t.url, { inboxes: ['support@localhost'], boss })).port;
  await startTestWorker(t.url, boss, 1);
});

interface Stored {
  text: string;
  visible_text: string;
  subject: string;
  from_name: string | null;
  filename: string | null;
}

/** Sends the mail and reads back what was stored of it. */
async function roundTrip(head: Buffer, rest: Buffer[]): Promise<Stored> {
  const reply = await sendRaw(port, 'writer@charsets.test', ['support@localhost'], Buffer.concat([head, ...rest]));
  expect(reply.code, reply.text).toBe(250);
  const rawId = Number(/queued as (\d+)/.exec(reply.text)![1]);
  return eventually(async () => {
    const raw = await t.db('raw_messages').where({ id: rawId }).first('status', 'error');
    if (raw?.status === 'quarantined') throw new Error(`quarantined: ${raw.error}`);
    const m = await t
      .db('messages')
      .where({ raw_message_id: rawId })
      .first('id', 'text', 'visible_text', 'subject', 'from_name');
    if (!m) return undefined;
    const file = await t.db('message_attachments').where({ message_id: m.id }).first('filename');
    return { ...m, filename: file?.filename ?? null } as Stored;
  });
}

let seq = 0;
const head = (subject: Buffer = ascii('A charset test')) =>
  Buffer.concat([
    ascii(
      `From: Writer <writer@charsets.test>\r\nTo: support@localhost\r\nMessage-ID: <cs${++seq}.${Date.now()}@charsets.test>\r\nSubject: `,
    ),
    subject,
    ascii('\r\n'),
  ]);

describe('every charset read right', () => {
  for (const row of ROWS) {
    describe(`${row.charset}: ${row.text}`, () => {
      it.each(CASES.map((c) => [c.name, c] as const))('%s', async (_, c) => {
        const stored = await roundTrip(head(), c.build(row));
        expect(stored.text).toContain(row.text);
        expect(stored.visible_text).toContain(row.text);
        expect(stored.text + stored.visible_text).not.toContain('\uFFFD');
        if (c.filename) expect(stored.filename).toBe(row.filename);
      });

      it('raw Subject and From name with nothing declared', async () => {
        const from = Buffer.concat([
          ascii('From: "'),
          bytes(row, row.filename.split('.')[0]!),
          ascii('" <writer@charsets.test>\r\n'),
        ]);
        const rest = [
          ascii('To: support@localhost\r\nSubject: '),
          bytes(row, row.text),
          ascii(`\r\nMessage-ID: <cs${++seq}@charsets.test>\r\n`),
        ];
        const stored = await roundTrip(Buffer.concat([from, ...rest]), [
          ascii('Content-Type: text/plain\r\n\r\n'),
          bytes(row, row.text),
          ascii('\r\n'),
        ]);
        expect(stored.subject).toBe(row.text);
        expect(stored.from_name).toBe(row.filename.split('.')[0]);
        expect(stored.text).toContain(row.text);
      });
    });
  }
});

/** Encoded words and UTF-8 that mailers break: a header or body of each kind, read back. */
const BROKEN: { name: string; head: Buffer[]; body: Buffer; subject?: string; text?: string }[] = [
  {
    name: "raw 8-bit bytes inside a Q encoded word are read in the word's charset",
    head: [ascii('Subject: =?iso-8859-1?Q?Die_Hasen_und_die_Fr'), iconv.encode('ö', 'latin1'), ascii('sche?=\r\n')],
    body: ascii('Content-Type: text/plain; charset=iso-8859-1\r\n\r\nDie Hasen\r\n'),
    subject: 'Die Hasen und die Frösche',
  },
  {
    name: 'an encoded word that says utf-8 over windows-1251 bytes',
    head: [
      ascii(`Subject: =?utf-8?B?${iconv.encode('Счёт за март во вложении', 'windows-1251').toString('base64')}?=\r\n`),
    ],
    body: ascii('Content-Type: text/plain\r\n\r\nhello\r\n'),
    subject: 'Счёт за март во вложении',
  },
  {
    name: 'an encoded word that says us-ascii over UTF-8 bytes',
    head: [ascii(`Subject: =?us-ascii?Q?${percent(Buffer.from('Grüße aus Köln', 'utf8')).replaceAll('%', '=')}?=\r\n`)],
    body: ascii('Content-Type: text/plain\r\n\r\nhello\r\n'),
    subject: 'Grüße aus Köln',
  },
  {
    name: 'UTF-8 with one stray byte stays UTF-8 (the stray byte alone is unreadable)',
    head: [ascii('Subject: stray byte\r\n')],
    body: Buffer.concat([
      ascii('Content-Type: text/plain; charset=utf-8\r\n\r\n'),
      Buffer.from('Привет, принтер не работает, помогите пожалуйста', 'utf8'),
      Buffer.from([0xff]),
      ascii('\r\n'),
    ]),
    text: 'Привет, принтер не работает, помогите пожалуйста',
  },
];

describe('broken declarations in headers, and broken UTF-8', () => {
  it.each(BROKEN.map((c) => [c.name, c] as const))('%s', async (_, c) => {
    const top = ascii(
      `From: Writer <writer@charsets.test>\r\nTo: support@localhost\r\nMessage-ID: <cs${++seq}@charsets.test>\r\n`,
    );
    const stored = await roundTrip(Buffer.concat([top, ...c.head]), [c.body]);
    if (c.subject) expect(stored.subject).toBe(c.subject);
    if (c.text) expect(stored.text).toContain(c.text);
  });
});

const nested = (depth: number) =>
  Array.from({ length: depth }, (_, i) => `Content-Type: multipart/mixed; boundary=b${i}\r\n\r\n--b${i}\r\n`).join('');

/** Mail shaped to make the charset pass slow: each is read in time linear in its size. */
const HOSTILE: [string, () => string][] = [
  ['an 8-bit Subject of 170,000 "=?"', () => `Subject: ${'=?\xe9'.repeat(170_000)}\r\n\r\nx`],
  [
    'an 8-bit Content-Type of 100,000 parameters',
    () => `Content-Type: text/plain; ${'a\xe9=b;'.repeat(100_000)}\r\n\r\n\xe9`,
  ],
  [
    'a Content-Type of 200,000 unclosed "("',
    () => `Content-Type: text/plain; c=x ${'('.repeat(200_000)};\xe9\r\n\r\n\xe9`,
  ],
  [
    '64 nested multiparts, then 150,000 lines that almost close them',
    () => `${nested(64)}Content-Type: text/plain\r\n\r\n${'--b1x\xe9\r\n'.repeat(150_000)}`,
  ],
  [
    'a Subject of 30,000 encoded words that say utf-8 over latin1',
    () => `Subject: \xe9 ${'=?utf-8?Q?=E9?= '.repeat(30_000)}\r\n\r\nx`,
  ],
  [
    'a Content-Disposition of 30,000 RFC 2231 parameters',
    () =>
      `Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Disposition: attachment; ${Array.from({ length: 30_000 }, (_, i) => `f${i}*=''%E9`).join('; ')}; filename*=''%E9\r\n\r\nA\r\n--b--\r\n`,
  ],
  [
    'a 9 MB quoted-printable body of 8-bit bytes',
    () => `Content-Transfer-Encoding: quoted-printable\r\n\r\n${'=E9=\r\n'.repeat(1_500_000)}`,
  ],
];

describe('the charset pass on hostile mail', () => {
  it.each(HOSTILE)('%s', async (_, mail) => {
    const raw = Buffer.from(`From: a@attack.test\r\n${mail()}`, 'latin1');
    const started = performance.now();
    await withCharsets(raw, { ...PARSE_LIMITS, depth: 64 });
    // linear work takes well under a second here; quadratic work would take minutes
    expect(performance.now() - started).toBeLessThan(5_000);
  });
});
