// Every function that runs patterns over mail text stays linear in it: each one is timed on
// hostile input at a size N and at 4N, inputs built to make the patterns these modules used to
// have backtrack (runs of spaces, '>', '-', '=', '<', '@', a 512 KB header value, 50,000 spaces
// in a MIME parameter, 100,000 'a' with no terminator). Quadratic time would grow 16-fold from N
// to 4N, cubic 64-fold; linear time grows 4-fold, so t(4N) < 10 t(N) + 50 ms tells them apart
// with room for a noisy machine, and every input stays well under an absolute bound.
import type { ParsedMail } from 'mailparser';
import { afterAll, describe, expect, it } from 'vitest';
import { classify, type ClassifyContext } from '../src/inbound/classify.ts';
import { sanitizeHtml } from '../src/mail/index.ts';
import { visibleText } from '../src/inbound/visible-text.ts';
import { visibleTextFromHtml } from '../src/inbound/html-text.ts';
import {
  asMessageId,
  bareAddress,
  dsnOutcome,
  feedbackAddresses,
  humanPart,
  inlineMessageId,
  messageIdInHeaderBlock,
  proseOutcome,
  proseRecipients,
  readDsn,
  readFields,
  smtpCodeIn,
} from '../src/inbound/dsn.ts';
import { addressList, headerValue, isMailAddress, MAX_HEADER_CHARS, messageIdsOf } from '../src/inbound/mail-fields.ts';
import { findMessageId, HeaderScanner } from '../src/ingest/index.ts';
import { hintsAutoReply, responderSubject } from '../src/inbound/responder-subjects.ts';
import { challengePhrase } from '../src/inbound/challenge-response.ts';
import { foldText } from '../src/inbound/text-fold.ts';
import { isNoReplyAddress } from '../src/outbound/index.ts';

/** Generous for a noisy 2-core machine: the largest input of each case takes 0-40 ms there. */
const BOUND_MS = 2_000;

// ---------------------------------------------------------------------------------------------
// Timing

/** Best of a few runs, in ms: the minimum is the least disturbed by the rest of the machine. */
function time(work: () => unknown, runs = 3): number {
  let best = Number.POSITIVE_INFINITY;
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    work();
    best = Math.min(best, performance.now() - start);
  }
  return best;
}

interface Timing {
  small: number;
  large: number;
}

const timings: string[] = [];

/** t(N) and t(4N) of the work on an input of `size` characters; the input is built untimed. */
function measure(work: (input: string) => unknown, build: (size: number) => string, size: number): Timing {
  const smallInput = build(size / 4);
  const largeInput = build(size);
  work(smallInput); // compile and warm up
  return { small: time(() => work(smallInput)), large: time(() => work(largeInput)) };
}

function expectLinear(name: string, work: (input: string) => unknown, build: (size: number) => string, size: number) {
  const { small, large } = measure(work, build, size);
  timings.push(`${name.padEnd(70)} N ${small.toFixed(2).padStart(7)} ms   4N ${large.toFixed(2).padStart(7)} ms`);
  expect(large, `${name}: t(4N) = ${large.toFixed(1)} ms, t(N) = ${small.toFixed(1)} ms`).toBeLessThan(10 * small + 50);
  expect(large, `${name}: ${large.toFixed(1)} ms`).toBeLessThan(BOUND_MS);
}

afterAll(() => {
  // REGEX_LINEAR_TIMINGS=1 prints what was measured
  if (process.env.REGEX_LINEAR_TIMINGS) console.log(timings.join('\n'));
});

// ---------------------------------------------------------------------------------------------
// Hostile input: a unit repeated to `size` characters, between a head and a tail chosen so that
// the old patterns started at each unit and failed only at the end.

const repeat = (unit: string, size: number): string => unit.repeat(Math.max(1, Math.floor(size / unit.length)));

type Input = [name: string, build: (size: number) => string];

const INPUTS: Input[] = [
  ['spaces, then a letter', (n) => `${repeat(' ', n)}x`],
  ['tabs after a field name, then a line separator', (n) => `A:${repeat('\t', n)}\u2028x`],
  ['spaces after "code", no number', (n) => `code${repeat(' ', n)}x`],
  ['">" and tabs, no number', (n) => `>${repeat(' \t', n)}x`],
  ['">" only', (n) => repeat('>', n)],
  ['"> " lines', (n) => repeat('> \n', n)],
  ['"-" only', (n) => `${repeat('-', n)}x`],
  ['"-" lines', (n) => repeat('-\n', n)],
  ['"=" only', (n) => repeat('=', n)],
  ['"=" then spaces and a stray quote (MIME parameter)', (n) => `a=${repeat(' ', n)}"x"y`],
  ['"<" only', (n) => repeat('<', n)],
  ['"<br" without ">"', (n) => repeat('<br', n)],
  ['"<" then spaces', (n) => `<${repeat(' ', n)}`],
  ['"@" only', (n) => repeat('@', n)],
  ['"<@" then "@" and a control character', (n) => `<@${repeat('@\u0001', n)}<\u0001@\u0001>`],
  ['blank lines', (n) => `x\n${repeat('\n', n)}x`],
  ['lines of spaces', (n) => `x\n${repeat(' \n', n)}x`],
  ['"a" with no terminator', (n) => repeat('a', n)],
  ['commas after an address', (n) => `a@b${repeat(',', n)}x`],
  ['dots in a domain, then "@"', (n) => `a@a${repeat('.a', n)}@`],
];

/** Sizes of the large input (4N): mail text is read up to 256 KB; header values come at 512 KB. */
const TEXT_SIZE = 128 * 1024;
const HEADER_SIZE = 512 * 1024;

// ---------------------------------------------------------------------------------------------
// The functions, each as a function of one string

const CTX: ClassifyContext = {
  mailFrom: '',
  rcptTo: ['support@help.example.com'],
  ownMessageIdDomains: ['help.example.com'],
  loopHeader: 'X-Inbound-Loop',
};

interface MailParts {
  headers?: Record<string, string>;
  text?: string;
  html?: string;
  attachments?: { contentType: string; content: Buffer }[];
  subject?: string;
  inReplyTo?: string;
  references?: string | string[];
  to?: string;
}

/**
 * A mail as mailparser gives it, made by hand so that only classify is timed: a bounce from a
 * mailer daemon (so that every bounce reader runs) unless the parts say otherwise.
 */
function mail(parts: MailParts): ParsedMail {
  const headers = {
    from: 'MAILER-DAEMON@mx.example.net',
    subject: 'Undelivered Mail Returned to Sender',
    'content-type': 'text/plain',
    ...parts.headers,
  };
  return {
    headerLines: Object.entries(headers).map(([key, value]) => ({ key, line: `${key}: ${value}` })),
    headers: new Map(),
    attachments: parts.attachments ?? [],
    text: parts.text,
    html: parts.html ?? false,
    subject: parts.subject,
    inReplyTo: parts.inReplyTo,
    references: parts.references,
    ...(parts.to && { to: { value: [{ address: parts.to, name: '' }], text: parts.to, html: parts.to } }),
  } as unknown as ParsedMail;
}

const part = (contentType: string, text: string) => ({ contentType, content: Buffer.from(text) });

type Target = [name: string, work: (input: string) => unknown, size: number];

const TARGETS: Target[] = [
  // classify: bodies, HTML, report parts, header values, the envelope
  ['classify: text body', (s) => classify(mail({ text: s }), CTX), TEXT_SIZE],
  ['classify: HTML-only body', (s) => classify(mail({ html: s }), CTX), TEXT_SIZE],
  [
    'classify: delivery-status part',
    (s) =>
      classify(mail({ attachments: [part('message/delivery-status', `Final-Recipient: rfc822; ${s}\n${s}`)] }), CTX),
    TEXT_SIZE,
  ],
  [
    'classify: returned headers',
    (s) => classify(mail({ attachments: [part('text/rfc822-headers', `Message-ID: ${s}\n${s}`)] }), CTX),
    TEXT_SIZE,
  ],
  [
    'classify: feedback report',
    (s) =>
      classify(
        mail({
          headers: { 'content-type': 'multipart/report; report-type=feedback-report' },
          attachments: [part('message/feedback-report', `Original-Rcpt-To: ${s}`)],
        }),
        CTX,
      ),
    TEXT_SIZE,
  ],
  ['classify: Subject header', (s) => classify(mail({ headers: { subject: s } }), CTX), HEADER_SIZE],
  ['classify: parsed subject', (s) => classify(mail({ subject: s }), { ...CTX, mailFrom: 'a@b.c' }), HEADER_SIZE],
  ['classify: From header', (s) => classify(mail({ headers: { from: s } }), CTX), HEADER_SIZE],
  [
    'classify: Content-Type parameter',
    (s) => classify(mail({ headers: { 'content-type': `multipart/report; report-type=${s}` } }), CTX),
    HEADER_SIZE,
  ],
  ['classify: Return-Path header', (s) => classify(mail({ headers: { 'return-path': s } }), CTX), HEADER_SIZE],
  ['classify: X-Failed-Recipients', (s) => classify(mail({ headers: { 'x-failed-recipients': s } }), CTX), HEADER_SIZE],
  ['classify: Message-ID header', (s) => classify(mail({ headers: { 'message-id': s } }), CTX), HEADER_SIZE],
  [
    'classify: In-Reply-To and References',
    (s) => classify(mail({ inReplyTo: s, references: [s, s] }), CTX),
    HEADER_SIZE,
  ],
  ['classify: MAIL FROM', (s) => classify(mail({}), { ...CTX, mailFrom: s }), TEXT_SIZE],
  [
    "classify: a person's text body",
    (s) => classify(mail({ headers: { from: 'Alice <alice@example.com>' }, text: s }), { ...CTX, mailFrom: 'a@b.c' }),
    TEXT_SIZE,
  ],
  // machine mail's tables: plain string comparison over folded text (machine-mail.test.ts)
  ['foldText', (s) => foldText(s, s.length), TEXT_SIZE],
  ['responderSubject', responderSubject, HEADER_SIZE],
  ['hintsAutoReply', hintsAutoReply, HEADER_SIZE],
  ['challengePhrase: subject', (s) => challengePhrase(s, ''), HEADER_SIZE],
  ['challengePhrase: body', (s) => challengePhrase('Re: x', s), TEXT_SIZE],
  ['isNoReplyAddress', (s) => isNoReplyAddress(`${s}@example.com`), HEADER_SIZE],
  // the DSN reader
  ['readDsn', readDsn, TEXT_SIZE],
  [
    'readDsn + dsnOutcome (as diagnostic)',
    (s) => dsnOutcome(readDsn(`Action: failed\nStatus: 5.1.1\nDiagnostic-Code: ${s}`)),
    TEXT_SIZE,
  ],
  ['readFields', readFields, TEXT_SIZE],
  ['humanPart', humanPart, TEXT_SIZE],
  ['proseOutcome', proseOutcome, TEXT_SIZE],
  ['proseRecipients', proseRecipients, TEXT_SIZE],
  ['smtpCodeIn', smtpCodeIn, TEXT_SIZE],
  ['messageIdInHeaderBlock', messageIdInHeaderBlock, TEXT_SIZE],
  ['inlineMessageId', inlineMessageId, TEXT_SIZE],
  ['feedbackAddresses', feedbackAddresses, TEXT_SIZE],
  ['asMessageId', asMessageId, HEADER_SIZE],
  ['bareAddress', bareAddress, HEADER_SIZE],
  // content
  ['visibleText', visibleText, TEXT_SIZE],
  ['visibleText: attribution', (s) => visibleText(`Thanks\n\nOn 3.12.2024 ${s} wrote:\n> q`), TEXT_SIZE],
  [
    'visibleText: wrapped attribution',
    (s) => visibleText(`Thanks\n\nOn 3.12.2024 ${s} <${s}\n> wrote:\n> q`),
    TEXT_SIZE,
  ],
  [
    'visibleText: header block',
    (s) => visibleText(`Thanks\n\nVon: ${s}\n${s}: ${s}\nGesendet: ${s}\n\n${s}`),
    TEXT_SIZE,
  ],
  ['visibleText: separator', (s) => visibleText(`Thanks\n\n-----${s}-----\n${s}`), TEXT_SIZE],
  ['visibleText: mobile signature', (s) => visibleText(`Thanks\n\nSent from my ${s}\n${s}从我的${s}`), TEXT_SIZE],
  ['visibleText: quote markers', (s) => visibleText(`Thanks\n| ${s}\nST> ${s}\n${s}|`), TEXT_SIZE],
  ['visibleTextFromHtml', visibleTextFromHtml, TEXT_SIZE],
  ['visibleTextFromHtml: class attribute', (s) => visibleTextFromHtml(`<div class="${s}">x</div>`), TEXT_SIZE],
  ['sanitizeHtml', sanitizeHtml, TEXT_SIZE],
  ['sanitizeHtml: style attribute', (s) => sanitizeHtml(`<p style="color:red${s}!important">x</p>`), TEXT_SIZE],
  ['sanitizeHtml: link', (s) => sanitizeHtml(`<a href="https://example.com/${s}">x</a>`), TEXT_SIZE],
  // addresses, Message-IDs, header values
  ['headerValue', headerValue, HEADER_SIZE],
  ['isMailAddress', isMailAddress, HEADER_SIZE],
  ['addressList', (s) => addressList(mail({ to: s }), ['to']), HEADER_SIZE],
  ['messageIdsOf', (s) => messageIdsOf(mail({ inReplyTo: s, references: s })), HEADER_SIZE],
  ['messageIdsOf: list', (s) => messageIdsOf(mail({ references: [s, `<${s}>`] })), HEADER_SIZE],
  // ingest
  ['findMessageId', (s) => findMessageId(`Subject: x\r\nMessage-ID: ${s}\r\n`), HEADER_SIZE],
  ['findMessageId: folded', (s) => findMessageId(`Message-ID:\r\n ${s}\r\n`), HEADER_SIZE],
  ['findMessageId: header block', findMessageId, HEADER_SIZE],
  [
    'HeaderScanner',
    (s) => {
      const scanner = new HeaderScanner();
      scanner.push(Buffer.from(`Message-ID: ${s}`, 'latin1'));
      return scanner.messageId();
    },
    HEADER_SIZE,
  ],
];

describe('patterns over mail text are linear', () => {
  it.each(TARGETS)('%s', (name, work, size) => {
    for (const [input, build] of INPUTS) expectLinear(`${name} on ${input}`, work, build, size);
  });

  it('a MIME parameter with 50,000 spaces and a stray quote', () => {
    const build = (n: number) => `multipart/report; report-type=${' '.repeat(n)}"delivery-status"x`;
    // cut to 4,096 characters in the header; read whole in a returned header block or a report
    expectLinear(
      'classify: Content-Type',
      (s) => classify(mail({ headers: { 'content-type': s } }), CTX),
      build,
      50_000,
    );
    expectLinear('readFields: Content-Type', (s) => readFields(`Content-Type: ${s}`), build, 50_000);
    expectLinear(
      'classify: returned Content-Type',
      (s) =>
        classify(mail({ attachments: [part('text/rfc822-headers', `Content-Type: ${s}\nMessage-ID: <a@b>`)] }), CTX),
      build,
      50_000,
    );
  });

  it("near misses of the machine-mail tables' phrases, over and over", () => {
    const near = (unit: string) => (n: number) => repeat(unit, n);
    expectLinear(
      'challengePhrase: "confirm you are a " repeated',
      (s) => challengePhrase('x', s),
      near('confirm you are a '),
      TEXT_SIZE,
    );
    expectLinear('hintsAutoReply: "out of offic " repeated', hintsAutoReply, near('out of offic '), HEADER_SIZE);
    expectLinear(
      'responderSubject: "AUTO: is out of the " repeated',
      responderSubject,
      near('AUTO: is out of the '),
      HEADER_SIZE,
    );
    expectLinear('foldText: spaces before colons', (s) => foldText(s, s.length), near(' \u00a0:'), TEXT_SIZE);
    expectLinear(
      'isNoReplyAddress: "noreply-" repeated',
      (s) => isNoReplyAddress(`${s}@x.test`),
      near('noreply-'),
      HEADER_SIZE,
    );
  });

  it('100,000 "a" with no terminator, where a tag, an address or a quote would end', () => {
    const a = (n: number) => 'a'.repeat(n);
    expectLinear('sanitizeHtml: open tag', (s) => sanitizeHtml(`<a${s}`), a, 100_000);
    expectLinear('sanitizeHtml: open attribute', (s) => sanitizeHtml(`<a href="${s}`), a, 100_000);
    expectLinear('visibleTextFromHtml: open comment', (s) => visibleTextFromHtml(`<!--${s}`), a, 100_000);
    expectLinear('classify: HTML tag', (s) => classify(mail({ html: `<br${s}` }), CTX), a, 100_000);
    expectLinear('asMessageId: open bracket', (s) => asMessageId(`<${s}@${s}`), a, 100_000);
    expectLinear('smtpCodeIn: after "said:"', (s) => smtpCodeIn(`said: ${s}`), a, 100_000);
  });
});

describe('the quote rules of visible text are linear', () => {
  // Lines made to reach every rule of src/inbound/history.ts over and over: attributions in several
  // languages (joined over up to three lines), header labels, rules and signatures, quote markers.
  const lines: [name: string, unit: string][] = [
    ['attributions answered inline', 'On 3.12.2024 10:00, a@b.c wrote:\n> question\nanswer\n'],
    ['lines that end in verbs and a colon', 'x schrieb am kirjoitti napisał ezt írta (időpont: 写道 wrote:\n'],
    ['unfinished attributions', 'Le 3 déc. 2024 à 10:00, a@b.c\nEaux <\n'],
    ['"<" address continued by "> "', 'On 3.12.2024 a <a@b.c\n> wrote x\n'],
    ['ISO dates without GMT', '2024-12-03 10:00 a b c\n'],
    ['header labels without a From', 'Date: x\nObjet: y\nFoo bar: z\nto: w\n'],
    ['From labels alone', 'Von: x\n\n'],
    ['rules before long blocks', `-----\n${'x\n'.repeat(11)}`],
    ['separator-like lines', '---------- Forwarded notes ---------\n'],
    ['almost mobile signatures', 'Sent fro my iPhone\nVon meinem iPhone\n'],
    ['table rows and pipes', '| a | b |\n|x\nAB>x\nABCD> x\n'],
    ['reply markers', '> ##- x -## y\n'],
  ];
  it.each(lines)('%s', (name, unit) => {
    expectLinear(`visibleText on ${name}`, visibleText, (n) => repeat(unit, n), TEXT_SIZE);
  });
});

describe('header values are cut before patterns read them', () => {
  it('cuts at MAX_HEADER_CHARS (4,096)', () => {
    expect(MAX_HEADER_CHARS).toBe(4_096);
    expect(headerValue('x'.repeat(600_000))).toHaveLength(MAX_HEADER_CHARS);
    expect(headerValue('short')).toBe('short');
  });

  it('classify does not read a subject past the cut', () => {
    const bounce = (subject: string) =>
      classify(mail({ headers: { from: 'Alice <alice@example.com>', subject } }), { ...CTX, mailFrom: '<>' });
    expect(bounce(`${'x'.repeat(MAX_HEADER_CHARS - 20)} Undeliverable`).kind).toBe('bounce');
    expect(bounce(`${'x'.repeat(MAX_HEADER_CHARS)} Undeliverable`).kind).toBe('normal');
  });

  it('addresses longer than an address can be are not addresses', () => {
    const long = `${'a'.repeat(64)}@${'b'.repeat(251)}.com`;
    expect(isMailAddress(long)).toBe(true);
    expect(isMailAddress(`a${long}`)).toBe(false);
    expect(addressList(mail({ to: `a${long}` }), ['to'])).toEqual([]);
  });
});
