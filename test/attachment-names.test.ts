// What a file is called: the naming rule table by table (types, Content-IDs, duplicates, hostile
// names), then mail through SMTP with unnamed and same-named files, read back from the table, the
// API, the public page and its downloads, and an agent's reply as mailed; and the migration's
// backfill names old rows as ingest does.
import { createHash } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './helpers/db.ts';
import { startTestApi, type TestApi } from './helpers/api.ts';
import { eventually, startBossFor, startTestIngest, startTestOutbound, startTestWorker } from './helpers/app.ts';
import { sendRaw } from './helpers/smtp-client.ts';
import { startSink, type Sink } from './helpers/sink.ts';
import { issueToken } from '../src/access/index.ts';
import {
  attachmentNames,
  cleanName,
  contentDisposition,
  MAX_NAME_BYTES,
  NAME_BY_TYPE,
  nameFromContentId,
  type NameSource,
} from '../src/attachments/names.ts';
import * as migration from '../migrations/20261204000011_attachment_names.ts';

const unnamed = (contentType: string, contentId?: string): NameSource => ({ filename: null, contentType, contentId });
const named = (filename: string, contentType = 'application/octet-stream'): NameSource => ({ filename, contentType });
const one = (f: NameSource): string => attachmentNames([f])[0]!;

/** What every name the rule gives must be, whatever it was given. */
function expectSafe(name: string): void {
  expect(name).not.toBe('');
  expect(name).not.toMatch(/[/\\\u0000-\u001f\u007f-\u009f\u2028\u2029\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/);
  expect(name).not.toMatch(/^[. ]|[. ]$/);
  expect(Buffer.byteLength(name)).toBeLessThanOrEqual(MAX_NAME_BYTES);
  expect(name.isWellFormed()).toBe(true);
}

describe('the naming rule', () => {
  it.each(Object.entries(NAME_BY_TYPE))('an unnamed %s is %j plus a counter', (type, [word, extension]) => {
    expect(one(unnamed(type))).toBe(`${word}-1.${extension}`);
  });

  it.each([
    ['image/x-unheard-of', 'image-1.bin'],
    ['audio/x-unheard-of', 'audio-1.bin'],
    ['video/x-unheard-of', 'video-1.bin'],
    ['text/x-shellscript', 'text-1.txt'],
    ['message/partial', 'message-1.bin'],
    ['application/x-msdownload', 'file-1.bin'],
    ['font/woff2', 'file-1.bin'],
    ['', 'file-1.bin'],
    ['nonsense', 'file-1.bin'],
    ['TEXT/HTML; charset=utf-8', 'document-1.html'],
    [' Image/PNG ', 'image-1.png'],
  ])('a type not in the table, or written oddly: %j is %s', (type, name) => {
    expect(one(unnamed(type))).toBe(name);
  });

  it('counts per word, in the order of the message', () => {
    expect(
      attachmentNames([
        unnamed('image/gif'),
        named('notes.txt', 'text/plain'),
        unnamed('image/png'),
        unnamed('text/html'),
        unnamed('application/pdf'),
        unnamed('message/rfc822'),
        unnamed('application/octet-stream'),
        unnamed('image/jpeg'),
      ]),
    ).toEqual([
      'image-1.gif',
      'notes.txt',
      'image-2.png',
      'document-1.html',
      'document-2.pdf',
      'message-1.eml',
      'file-1.bin',
      'image-3.jpg',
    ]);
  });

  it('a counter skips the names the message gives itself', () => {
    expect(attachmentNames([named('image-1.gif', 'image/gif'), unnamed('image/gif'), unnamed('image/png')])).toEqual([
      'image-1.gif',
      'image-2.gif',
      'image-3.png',
    ]);
  });

  it.each([
    ['<image001.png@01D9ABCD.12345670>', 'image001.png'],
    ['image001.png@01D9ABCD.12345670', 'image001.png'],
    ['<Logo Final (v2).JPG@example.com>', 'Logo Final (v2).JPG'],
    ['<logo.png>', 'logo.png'],
    ['<my.photo.jpeg@host>', 'my.photo.jpeg'],
    // not file names: the type names them
    ['<part1.06090408.01060107@example.com>', undefined],
    ['<part1.2kPvsMZ7.0AB3cDeF@example.com>', undefined],
    ['<ii_kx7abc123@mail.gmail.com>', undefined],
    ['<F5A3E5C2-1B2C-4D5E-8F90-123456789ABC@apple.com>', undefined],
    ['<.png@host>', undefined],
    ['<../../etc/passwd.png@host>', undefined],
    ['<a\u202Egnp.exe@host>', undefined],
    [`<${'a'.repeat(300)}.png@host>`, undefined],
    ['', undefined],
    [null, undefined],
  ])('Content-ID %j names the file %j', (cid, name) => {
    expect(nameFromContentId(cid)).toBe(name);
    expect(one(unnamed('image/png', cid ?? undefined))).toBe(name ?? 'image-1.png');
  });

  it('a given name wins over the Content-ID', () => {
    expect(one({ filename: 'chart.png', contentType: 'image/png', contentId: '<image001.png@x>' })).toBe('chart.png');
  });

  it.each([
    [
      ['report.pdf', 'report.pdf'],
      ['report.pdf', 'report (2).pdf'],
    ],
    [
      ['report.pdf', 'report.pdf', 'report.pdf'],
      ['report.pdf', 'report (2).pdf', 'report (3).pdf'],
    ],
    // case aside: most people's disks ignore it
    [
      ['Report.PDF', 'report.pdf'],
      ['Report.PDF', 'report (2).pdf'],
    ],
    // a name the sender gave keeps it; the duplicate goes round it
    [
      ['report.pdf', 'report.pdf', 'report (2).pdf'],
      ['report.pdf', 'report (3).pdf', 'report (2).pdf'],
    ],
    [
      ['README', 'README'],
      ['README', 'README (2)'],
    ],
    [
      ['backup.tar.gz', 'backup.tar.gz'],
      ['backup.tar.gz', 'backup (2).tar.gz'],
    ],
    // names equal once cleaned
    [
      ['../a/report.pdf', 'b\\report.pdf'],
      ['report.pdf', 'report (2).pdf'],
    ],
  ])('duplicates %j are named %j', (given, names) => {
    expect(attachmentNames(given.map((n) => named(n)))).toEqual(names);
  });

  it('duplicates from Content-IDs and from the type are told apart too', () => {
    expect(
      attachmentNames([unnamed('image/png', '<image001.png@a>'), unnamed('image/png', '<image001.png@b>')]),
    ).toEqual(['image001.png', 'image001 (2).png']);
  });

  it.each([
    ['../../etc/passwd', 'passwd'],
    ['..\\..\\Windows\\System32\\cmd.exe', 'cmd.exe'],
    ['C:\\Users\\me\\Desktop\\scan.pdf', 'scan.pdf'],
    ['/etc/', 'etc'],
    ['/', undefined],
    ['..', undefined],
    ['...', undefined],
    ['   ', undefined],
    ['', undefined],
    ['.htaccess', 'htaccess'],
    ['report.pdf...', 'report.pdf'],
    ['  report .pdf  ', 'report .pdf'],
    ['evil\r\nSet-Cookie: a=b.txt', 'evil Set-Cookie_ a=b.txt'],
    ['a\u0000b\u0007c\u007fd\u0085e.txt', 'a b c d e.txt'],
    ['line\u2028break.txt', 'line break.txt'],
    ['invoice\u202Efdp.exe', 'invoicefdp.exe'],
    ['photo\u2067gpj.exe\u2069', 'photogpj.exe'],
    ['\u200Fname\u200E.doc', 'name.doc'],
    ['a"b<c>d:e|f?g*h.txt', 'a_b_c_d_e_f_g_h.txt'],
    ['\uD800broken.txt', '\uFFFDbroken.txt'],
    ['Cafe\u0301.txt', 'Café.txt'],
    [`${' '.repeat(50_000)}a.bin`, 'a.bin'],
    [`${'.'.repeat(50_000)}x`, 'x'],
  ])('a hostile name %j is cleaned to %j', (given, name) => {
    expect(cleanName(given)).toBe(name);
    const got = one(named(given));
    if (name !== undefined) expect(got).toBe(name);
    else expect(got).toBe('file-1.bin');
    expectSafe(got);
  });

  it.each([
    ['a 300-character name', `${'a'.repeat(296)}.pdf`, `${'a'.repeat(MAX_NAME_BYTES - 4)}.pdf`],
    ['two-byte characters', `${'ä'.repeat(300)}.pdf`, `${'ä'.repeat((MAX_NAME_BYTES - 4) / 2)}.pdf`],
    ['four-byte characters, never split', `${'😀'.repeat(300)}.pdf`, `${'😀'.repeat((MAX_NAME_BYTES - 4) / 4)}.pdf`],
    ['no extension', 'b'.repeat(300), 'b'.repeat(MAX_NAME_BYTES)],
    ['a tail too long to be an extension', `report.${'x'.repeat(300)}`, `report.${'x'.repeat(MAX_NAME_BYTES - 7)}`],
    ['a cut that would end in a space', `${'a'.repeat(195)} ${'b'.repeat(100)}.pdf`, `${'a'.repeat(195)}.pdf`],
  ])('%s is cut to %i bytes, its extension kept', (_why, given, name) => {
    const got = one(named(given));
    expect(got).toBe(name);
    expectSafe(got);
  });

  it('long duplicates stay within the limit and apart', () => {
    const long = `${'a'.repeat(300)}.pdf`;
    const [first, second] = attachmentNames([named(long), named(long)]);
    expect(second).toBe(`${'a'.repeat(MAX_NAME_BYTES - 8)} (2).pdf`);
    expect(first).not.toBe(second);
    expectSafe(first!);
    expectSafe(second!);
  });

  it.each([
    ['report.pdf', `attachment; filename="report.pdf"; filename*=UTF-8''report.pdf`],
    ['report (2).pdf', `attachment; filename="report (2).pdf"; filename*=UTF-8''report%20%282%29.pdf`],
    ['Straße €.pdf', `attachment; filename="Stra_e _.pdf"; filename*=UTF-8''Stra%C3%9Fe%20%E2%82%AC.pdf`],
    ["it's 100%.txt", `attachment; filename="it's 100_.txt"; filename*=UTF-8''it%27s%20100%25.txt`],
    // never reached with a stored name, and still harmless
    ['a"b\\c\r\nX-Evil: 1', `attachment; filename="a_b_c__X-Evil: 1"; filename*=UTF-8''a%22b%5Cc%0D%0AX-Evil%3A%201`],
  ])('Content-Disposition for %j', (name, header) => {
    expect(contentDisposition('attachment', name)).toBe(header);
  });
});

// --- through SMTP, the API, the page and outbound mail ---------------------------------------

let t: TestDatabase;
let api: TestApi;
let sink: Sink;
let smtpPort: number;
let web: string;

beforeAll(async () => {
  t = await createTestDatabase();
  api = await startTestApi(t.url);
  web = api.base.replace(/\/api\/v1$/, '');
  sink = await startSink();
  const boss = await startBossFor(t.url, true);
  smtpPort = (await startTestIngest(t.url, { inboxes: ['support@localhost'], boss })).port;
  await startTestWorker(t.url, boss, 1);
  await startTestOutbound(t.db, boss, sink.url, web);
});

interface Part {
  headers: string[];
  body: string;
}

const b64 = (b: Buffer) => b.toString('base64');
const PDF_A = Buffer.from('%PDF-1.4 the first report\n');
const PDF_B = Buffer.from('%PDF-1.4 the second report, another file with the same name\n');
const GIF = Buffer.from('R0lGODlhAQABAIAAAAAAAP///ywAAAAAAQABAAACAUwAOw==', 'base64');
const PNG = Buffer.from('89504e470d0a1a0a0000000d4948445200000001000000010806000000', 'hex');

const file = (type: string, content: Buffer, disposition = 'attachment', extra: string[] = []): Part => ({
  headers: [
    `Content-Type: ${type}`,
    `Content-Disposition: ${disposition}`,
    'Content-Transfer-Encoding: base64',
    ...extra,
  ],
  body: b64(content),
});

/** Mails a multipart message from `from` and waits for its message row. */
async function mailWith(
  from: string,
  subject: string,
  parts: Part[],
): Promise<{ ticketId: number; messageId: number }> {
  const id = `<${createHash('sha256').update(subject).digest('hex').slice(0, 16)}@customer.test>`;
  const raw = [
    `From: ${from}`,
    'To: support@localhost',
    `Subject: ${subject}`,
    `Message-ID: ${id}`,
    'MIME-Version: 1.0',
    'Content-Type: multipart/mixed; boundary="BOUNDARY"',
    '',
    '--BOUNDARY',
    'Content-Type: text/plain; charset=utf-8',
    '',
    'Files attached.',
    ...parts.flatMap((p) => ['--BOUNDARY', ...p.headers, '', p.body]),
    '--BOUNDARY--',
    '',
  ].join('\r\n');
  const address = /<([^>]+)>/.exec(from)![1]!;
  expect((await sendRaw(smtpPort, address, ['support@localhost'], raw)).code).toBe(250);
  const m = await eventually(() =>
    t.db('messages').where({ message_id: id }).first<{ id: number; ticket_id: number } | undefined>('id', 'ticket_id'),
  );
  return { ticketId: m.ticket_id, messageId: m.id };
}

/** A ticket link for the ticket's requester. */
async function linkFor(ticketId: number): Promise<string> {
  const { requester_id } = await t.db('tickets').where({ id: ticketId }).first('requester_id');
  const { secret } = await issueToken(t.db, 'ticket_link', { ticketId, customerId: Number(requester_id) }, 3600);
  return `${web}/t/${secret}`;
}

/** The files listed on the page: name, size and link, in order. */
async function pageFiles(link: string): Promise<{ name: string; size: string; url: string }[]> {
  const r = await fetch(link);
  expect(r.status).toBe(200);
  const html = await r.text();
  const decode = (s: string) =>
    s.replace(
      /&(amp|lt|gt|quot|#39);/g,
      (_m, e: string) => ({ amp: '&', lt: '<', gt: '>', quot: '"', '#39': "'" })[e]!,
    );
  return [...html.matchAll(/<li><a href="([^"]+)" download>([^<]*)<\/a> \(([^)]*)\)<\/li>/g)].map((m) => ({
    url: new URL(decode(m[1]!), link).href,
    name: decode(m[2]!),
    size: m[3]!,
  }));
}

/** The file name a Content-Disposition gives (its UTF-8 form). */
const dispositionName = (header: string | null) =>
  decodeURIComponent(/filename\*=UTF-8''([^;]+)/.exec(header ?? '')![1]!);

const EXPECTED = [
  // [given (what the table keeps), shown]
  [null, 'image-1.gif'],
  [null, 'image-2.png'],
  [null, 'document-1.html'],
  [null, 'message-1.eml'],
  [null, 'image001.png'],
  [null, 'calendar-1.ics'],
  ['report.pdf', 'report.pdf'],
  ['report.pdf', 'report (2).pdf'],
  ['copy of report.pdf', 'copy of report.pdf'],
  ['../../etc/passwd', 'passwd'],
  ['invoice\u202Efdp.exe', 'invoicefdp.exe'],
  ['evil\r\nSet-Cookie: a=b.txt', 'evil Set-Cookie_ a=b.txt'],
] as const;

describe('mail with unnamed and same-named files', () => {
  let ticketId: number;
  let messageId: number;
  let link: string;

  beforeAll(async () => {
    await api.call('POST', '/customers', { name: 'Nina Names', email: 'nina@customer.test' });
    ({ ticketId, messageId } = await mailWith('Nina Names <nina@customer.test>', 'Files without names', [
      file('image/gif', GIF),
      file('image/png', PNG),
      file('text/html', Buffer.from('<p>a page</p>')),
      {
        headers: ['Content-Type: message/rfc822', 'Content-Disposition: attachment'],
        body: 'From: someone@else.test\r\nSubject: forwarded\r\n\r\nthe forwarded mail',
      },
      file('image/png', Buffer.concat([PNG, Buffer.from('cid')]), 'attachment', [
        'Content-ID: <image001.png@01D9ABCD.12345670>',
      ]),
      { headers: ['Content-Type: text/calendar; method=REQUEST'], body: 'BEGIN:VCALENDAR\r\nEND:VCALENDAR' },
      file('application/pdf', PDF_A, 'attachment; filename="report.pdf"'),
      file('application/pdf', PDF_B, 'attachment; filename="report.pdf"'),
      // the same bytes as the first report, under another name: one sha256, two names
      file('application/pdf', PDF_A, 'attachment; filename="copy of report.pdf"'),
      file('text/plain', Buffer.from('root:x:0:0'), 'attachment; filename="../../etc/passwd"'),
      file('application/octet-stream', Buffer.from('MZ'), "attachment; filename*=UTF-8''invoice%E2%80%AEfdp.exe"),
      file('text/plain', Buffer.from('cookie'), "attachment; filename*=UTF-8''evil%0D%0ASet-Cookie%3A%20a%3Db.txt"),
    ]));
    link = await linkFor(ticketId);
  });

  it('stores each file with the name it came with and the name it is shown under', async () => {
    const rows = await t.db('message_attachments').where({ message_id: messageId }).orderBy('position');
    expect(rows.map((r) => [r.filename, r.display_name])).toEqual(EXPECTED.map(([given, shown]) => [given, shown]));
    expect(new Set(rows.map((r) => r.display_name.toLowerCase())).size).toBe(rows.length);
    for (const r of rows) expectSafe(r.display_name);
  });

  it('the API shows the usable names, and what the mail said', async () => {
    const r = await api.call('GET', `/tickets/${ticketId}`);
    expect(r.status).toBe(200);
    const m = r.body.messages.find((x: { id: number }) => x.id === messageId);
    expect(
      m.attachments.map((a: { filename: string; original_filename: string | null }) => [
        a.original_filename,
        a.filename,
      ]),
    ).toEqual(EXPECTED.map(([given, shown]) => [given, shown]));
  });

  it('the page lists every file under its own name, with its size', async () => {
    const files = await pageFiles(link);
    expect(files.map((f) => f.name)).toEqual(EXPECTED.map(([, shown]) => shown));
    expect(files.find((f) => f.name === 'report.pdf')!.size).toBe(`${PDF_A.length} bytes`);
    expect(files.find((f) => f.name === 'report (2).pdf')!.size).toBe(`${PDF_B.length} bytes`);
    // the same bytes under two names: two links to one file, each with its name
    const [a, copy] = [
      files.find((f) => f.name === 'report.pdf')!,
      files.find((f) => f.name === 'copy of report.pdf')!,
    ];
    expect(new URL(a.url).pathname).toBe(new URL(copy.url).pathname);
    expect(a.url).not.toBe(copy.url);
  });

  it('each download comes under the name of its link, with its own bytes', async () => {
    const files = await pageFiles(link);
    const want: Record<string, Buffer> = {
      'report.pdf': PDF_A,
      'report (2).pdf': PDF_B,
      'copy of report.pdf': PDF_A,
      'image-1.gif': GIF,
      passwd: Buffer.from('root:x:0:0'),
      'invoicefdp.exe': Buffer.from('MZ'),
      'evil Set-Cookie_ a=b.txt': Buffer.from('cookie'),
    };
    for (const [name, bytes] of Object.entries(want)) {
      const r = await fetch(files.find((f) => f.name === name)!.url);
      expect(r.status, name).toBe(200);
      expect(dispositionName(r.headers.get('content-disposition')), name).toBe(name);
      expect(r.headers.get('content-disposition')).toMatch(name === 'image-1.gif' ? /^inline;/ : /^attachment;/);
      expect(r.headers.get('set-cookie')).toBeNull();
      expect(Buffer.from(await r.arrayBuffer()).equals(bytes), name).toBe(true);
    }
  });

  it('a link without a name (mailed before names), or naming another file, gets the first name', async () => {
    const sha = createHash('sha256').update(PDF_A).digest('hex');
    for (const query of [
      '',
      '?name=passwd',
      '?name=x%0D%0ASet-Cookie%3A%20y',
      `?name=${'x'.repeat(5000)}`,
      '?name=a&name=b',
    ]) {
      const r = await fetch(`${link}/attachments/${sha}${query}`);
      expect(r.status, query).toBe(200);
      expect(dispositionName(r.headers.get('content-disposition'))).toBe('report.pdf');
      expect(r.headers.get('set-cookie')).toBeNull();
    }
  });

  it('hands out no file of another ticket, nor of an internal note, whatever the name', async () => {
    await api.call('POST', '/customers', { name: 'Otto Other', email: 'otto@customer.test' });
    const other = await mailWith('Otto Other <otto@customer.test>', 'Someone else', [
      file('application/pdf', Buffer.from('otto only'), 'attachment; filename="report.pdf"'),
    ]);
    const note = await api.call('POST', `/tickets/${ticketId}/replies`, {
      body: 'internal',
      internal: true,
      attachments: [{ filename: 'secret.pdf', content_base64: b64(Buffer.from('agents only')) }],
    });
    expect(note.status).toBe(201);
    for (const content of ['otto only', 'agents only']) {
      const sha = createHash('sha256').update(content).digest('hex');
      for (const name of ['report.pdf', 'secret.pdf', '']) {
        const r = await fetch(`${link}/attachments/${sha}?name=${encodeURIComponent(name)}`);
        expect(r.status).toBe(404);
      }
    }
    expect((await pageFiles(await linkFor(other.ticketId))).map((f) => f.name)).toEqual(['report.pdf']);
  });

  it("an agent's files with one name are told apart in the mail, its links and the page", async () => {
    const before = sink.mails.length;
    const r = await api.call('POST', `/tickets/${ticketId}/replies`, {
      body: 'Two notes.',
      attachments: [
        { filename: 'notes.txt', content_type: 'text/plain', content_base64: b64(Buffer.from('first')) },
        { filename: 'notes.txt', content_type: 'text/plain', content_base64: b64(Buffer.from('second')) },
        { filename: '../notes.txt', content_type: 'text/plain', content_base64: b64(Buffer.from('first')) },
      ],
    });
    expect(r.status).toBe(201);
    const rows = await t.db('message_attachments').where({ message_id: r.body.message_id }).orderBy('position');
    expect(rows.map((x) => [x.filename, x.display_name])).toEqual([
      ['notes.txt', 'notes.txt'],
      ['notes.txt', 'notes (2).txt'],
      ['../notes.txt', 'notes (3).txt'],
    ]);
    const mail = await eventually(
      // this reply's mail (an earlier mail to Nina, such as her ack, may arrive late on a busy machine)
      async () =>
        sink.mails
          .slice(before)
          .find((m) => m.to.includes('nina@customer.test') && m.mail.text?.includes('Two notes.')),
      15_000,
    );
    expect(mail.mail.attachments.map((a) => [a.filename, a.content.toString()])).toEqual([
      ['notes.txt', 'first'],
      ['notes (2).txt', 'second'],
      ['notes (3).txt', 'first'],
    ]);
    const mailed = [...(mail.mail.html as string).matchAll(/href="([^"]*\/attachments\/[^"]*)"/g)].map((m) =>
      m[1]!.replace(/&amp;/g, '&'),
    );
    expect(mailed.map((u) => new URL(u).searchParams.get('name'))).toEqual([
      'notes.txt',
      'notes (2).txt',
      'notes (3).txt',
    ]);
    const onPage = (await pageFiles(link)).slice(-3);
    expect(onPage.map((f) => f.name)).toEqual(['notes.txt', 'notes (2).txt', 'notes (3).txt']);
    for (const [i, body] of ['first', 'second', 'first'].entries()) {
      const d = await fetch(onPage[i]!.url);
      expect(dispositionName(d.headers.get('content-disposition'))).toBe(onPage[i]!.name);
      expect(await d.text()).toBe(body);
    }
  });

  it('the migration names rows from before the rule as ingest does', async () => {
    const before = await t.db('message_attachments').orderBy('id').select('id', 'display_name');
    await migration.down(t.db);
    await migration.up(t.db);
    const after = await t.db('message_attachments').orderBy('id').select('id', 'display_name');
    expect(after).toEqual(before);
    const column = await t.db.raw(
      `SELECT is_nullable FROM information_schema.columns WHERE table_name = 'message_attachments' AND column_name = 'display_name'`,
    );
    expect(column.rows[0].is_nullable).toBe('NO');
  });
});
