// The reply samples of ../shared/mail-samples that state their visible reply, sent through SMTP
// and read back from the stored message: discourse/email_reply_trimmer's bodies (X.txt, expected
// X.trimmed.txt) and mailgun/talon's standard replies (expected 'Hello', README and INDEX notes).
// Only line ends and trailing whitespace are normalised. Where an expectation encodes a rule we
// deliberately do not follow, the file is listed below with the reason and what we store instead.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './helpers/db.ts';
import { eventually, startBossFor, startTestIngest, startTestWorker, type TestIngest } from './helpers/app.ts';
import { SmtpClient } from './helpers/smtp-client.ts';

const SAMPLES = process.env.MAIL_SAMPLES ?? path.resolve(import.meta.dirname, '../../shared/mail-samples');
const INDEX = path.join(SAMPLES, 'INDEX.tsv');
const present = existsSync(INDEX);

interface Sample {
  path: string;
  kind: 'message' | 'body';
  /** the visible reply the source expects; undefined for talon's shared-block case (see below) */
  expected: string | undefined;
}

/**
 * Expectations we do not follow, each for the same reason: nothing is left above the first
 * boundary, and then the stored visible text is the whole mail (never empty for a mail with text).
 */
const EXCEPTIONS: Record<string, string> = {
  'replies/email_reply_trimmer/embedded_email_17.txt':
    'starts with an attribution above unquoted text; the trimmer drops just the attribution lines',
  'replies/email_reply_trimmer/forwarded_message.txt':
    'a bare forward starting with its separator; the trimmer shows the forwarded body',
  'replies/email_reply_trimmer/spam_1.txt': 'nothing but nested quotes; the trimmer expects an empty text',
};

function samples(): Sample[] {
  const [, ...rows] = readFileSync(INDEX, 'utf8').split('\n');
  const out: Sample[] = [];
  for (const [file = '', category, source, , , notes = '', kind] of rows.map((r) => r.split('\t'))) {
    if (category !== 'replies') continue;
    if (source === 'discourse/email_reply_trimmer' && kind === 'body') {
      out.push({ path: file, kind, expected: read(file.replace(/\.txt$/, '.trimmed.txt')) });
    } else if (source === 'mailgun/talon' && kind === 'message') {
      // "X_reply_text where present; otherwise the visible reply is Hello" for the standard replies
      const stated = existsSync(path.join(SAMPLES, file.replace(/\.eml$/, '_reply_text')))
        ? read(file.replace(/\.eml$/, '_reply_text'))
        : /expected visible reply: '([^']*)'/.exec(notes)?.[1];
      out.push({ path: file, kind, expected: stated });
    }
  }
  return out;
}

const read = (file: string): string => readFileSync(path.join(SAMPLES, file), 'utf8');

/** Line ends and trailing whitespace only: CRLF as LF, each line trimmed at its end, blank lines at either end dropped. */
function normalise(text: string): string {
  return text
    .replace(/\r\n?/g, '\n')
    .split('\n')
    .map((line) => line.trimEnd())
    .join('\n')
    .replace(/^\n+|\n+$/g, '');
}

/** The bytes to send: CRLF line ends (SMTP); a bare body is wrapped as a text/plain message. */
function bytesOf(s: Sample): Buffer {
  let raw = readFileSync(path.join(SAMPLES, s.path));
  if (s.kind === 'body') {
    const head =
      'From: Body Sample <body.sample@samples.test>\r\nTo: support@localhost\r\n' +
      `Subject: reply body ${s.path}\r\nMessage-ID: <${encodeURIComponent(s.path)}@samples.test>\r\n` +
      'MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n';
    raw = Buffer.concat([Buffer.from(head), raw]);
  }
  return Buffer.from(raw.toString('latin1').replace(/\r\n|\r|\n/g, '\r\n'), 'latin1');
}

describe.skipIf(!present)('visible text of the shared reply samples, through SMTP', () => {
  const all = present ? samples() : [];
  let t: TestDatabase;
  let app: TestIngest;
  const visible = new Map<string, string>();

  beforeAll(async () => {
    t = await createTestDatabase();
    const boss = await startBossFor(t.url, true);
    app = await startTestIngest(t.url, { inboxes: ['support@localhost'], boss });
    await startTestWorker(t.url, boss, 1);

    const { client } = await SmtpClient.connect(app.port);
    await client.command('EHLO samples.test');
    const sent = new Map<number, string>();
    for (const s of all) {
      expect((await client.command('MAIL FROM:<sender@samples.test>')).code).toBe(250);
      expect((await client.command('RCPT TO:<support@localhost>')).code).toBe(250);
      expect((await client.command('DATA')).code).toBe(354);
      const reply = await client.data(bytesOf(s));
      expect(reply.code, s.path).toBe(250);
      sent.set(Number(/queued as (\d+)/.exec(reply.text)?.[1]), s.path);
    }
    client.close();

    const ids = [...sent.keys()];
    await eventually(async () => {
      const [row] = await t.db('raw_messages').whereIn('id', ids).where({ status: 'received' }).count({ n: '*' });
      return Number(row?.n) === 0;
    }, 60_000);
    const rows = await t.db('messages').whereIn('raw_message_id', ids).select('raw_message_id', 'visible_text');
    for (const r of rows) visible.set(sent.get(Number(r.raw_message_id))!, r.visible_text);
  }, 120_000);

  it('finds the samples: 26 trimmer bodies, 5 talon standard replies and the shared-block case', () => {
    expect(all.filter((s) => s.path.includes('email_reply_trimmer'))).toHaveLength(26);
    expect(all.filter((s) => s.path.includes('talon') && s.expected === 'Hello')).toHaveLength(5);
    expect(all.filter((s) => s.expected === undefined).map((s) => s.path)).toEqual([
      'replies/talon/reply-quotations-share-block.eml',
    ]);
    expect(Object.keys(EXCEPTIONS).every((file) => all.some((s) => s.path === file))).toBe(true);
  });

  const cases = all.filter((s) => s.expected !== undefined && !(s.path in EXCEPTIONS));
  it.each(cases.map((s) => [s.path, s] as const))('%s', (_, s) => {
    expect(normalise(visible.get(s.path) ?? '(not stored)')).toBe(normalise(s.expected!));
  });

  it.each(Object.entries(EXCEPTIONS))('exception %s (%s): the whole mail is stored', (file) => {
    expect(normalise(visible.get(file) ?? '(not stored)')).toBe(normalise(read(file)));
  });

  it("talon's shared-block case: a reply is left, and none of the quoted header block ('From')", () => {
    const text = visible.get('replies/talon/reply-quotations-share-block.eml') ?? '';
    expect(text.startsWith('Hi Katharine.')).toBe(true);
    expect(text).not.toContain('From');
  });
});
