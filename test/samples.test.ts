// Every real message in shared/mail-samples goes through SMTP and the worker: none lost, none
// stuck, and no bounce or auto-reply creates a customer, a ticket or outbound mail.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './helpers/db.ts';
import { eventually, startBossFor, startTestIngest, startTestWorker, type TestIngest } from './helpers/app.ts';
import { SmtpClient } from './helpers/smtp-client.ts';

const samplesDir = process.env.MAIL_SAMPLES ?? path.resolve(import.meta.dirname, '../../shared/mail-samples');
const present = existsSync(path.join(samplesDir, 'INDEX.tsv'));

interface Sample {
  path: string;
  category: string;
  kind: 'message' | 'body';
}

function samples(): Sample[] {
  const [, ...rows] = readFileSync(path.join(samplesDir, 'INDEX.tsv'), 'utf8').split('\n');
  return rows
    .map((r) => r.split('\t'))
    .filter((c) => c[6] === 'message' || c[6] === 'body')
    .map((c) => ({ path: c[0]!, category: c[1]!, kind: c[6] as 'message' | 'body' }));
}

/** The bytes to send: CRLF line ends (SMTP); a bare body is wrapped as a text/plain message. */
function bytesOf(s: Sample): Buffer {
  let raw = readFileSync(path.join(samplesDir, s.path));
  if (s.kind === 'body') {
    raw = Buffer.concat([
      Buffer.from(
        `From: Body Sample <body.sample@samples.test>\r\nTo: support@localhost\r\nSubject: reply body ${s.path}\r\nMessage-ID: <${encodeURIComponent(s.path)}@samples.test>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n`,
      ),
      raw,
    ]);
  }
  return Buffer.from(raw.toString('latin1').replace(/\r\n|\r|\n/g, '\r\n'), 'latin1');
}

/** The envelope sender a real MTA would have used: the Return-Path, else a plain address. */
function envelopeSender(raw: Buffer, s: Sample): string {
  const head = raw.subarray(0, 64 * 1024).toString('latin1');
  const m = /^return-path:[ \t]*<([^>]*)>/im.exec(head);
  if (m) return /^[^\s@<>]+@[^\s@<>]+$/.test(m[1]!) ? m[1]! : '';
  return s.category === 'bounces' ? '' : 'sender@samples.test';
}

describe.skipIf(!present)('shared/mail-samples', () => {
  let t: TestDatabase;
  let app: TestIngest;
  const sent = new Map<number, Sample>();

  beforeAll(async () => {
    t = await createTestDatabase();
    const boss = await startBossFor(t.url, true);
    app = await startTestIngest(t.url, { inboxes: ['support@localhost'], boss, maxMessageBytes: 25 * 1024 * 1024 });
    await startTestWorker(t.url, boss, 1);

    const queue = samples();
    expect(queue.length).toBeGreaterThan(850); // 895 message and body files (README: "total 895")
    const failures: string[] = [];
    await Promise.all(
      Array.from({ length: 6 }, async () => {
        const { client } = await SmtpClient.connect(app.port);
        await client.command('EHLO samples.test');
        for (let s = queue.shift(); s; s = queue.shift()) {
          const raw = bytesOf(s);
          const steps = [await client.command(`MAIL FROM:<${envelopeSender(raw, s)}>`)];
          if (steps[0]!.code === 250) steps.push(await client.command('RCPT TO:<support@localhost>'));
          if (steps.at(-1)!.code === 250) steps.push(await client.command('DATA'));
          if (steps.at(-1)!.code === 354) steps.push(await client.data(raw));
          const last = steps.at(-1)!;
          if (last.code !== 250) failures.push(`${s.path}: ${last.code} ${last.text}`);
          else sent.set(Number(/(?:queued as|already have this message as) (\d+)/.exec(last.text)![1]), s);
        }
        client.close();
      }),
    );
    expect(failures).toEqual([]);
  }, 300_000);

  it('every message is accepted and ends processed or quarantined with a reason: none lost, none stuck', async () => {
    const unfinished = await eventually(async () => {
      const n = await t.db('raw_messages').where({ status: 'received' }).count<{ count: number }[]>({ count: '*' });
      return n[0]!.count === 0 ? [] : undefined;
    }, 240_000);
    expect(unfinished).toEqual([]);
    const rows = await t.db('raw_messages').select('id', 'status', 'error', 'duplicate_of', 'outcome');
    expect(rows.length).toBe(samples().length);
    for (const r of rows) {
      if (r.status === 'quarantined') expect(r.error, `raw ${r.id}`).toBeTruthy();
      else if (r.status === 'duplicate')
        expect(rows.find((o) => o.id === r.duplicate_of)?.status).toMatch(/processed|quarantined/);
      else expect(r.status).toBe('processed');
    }
  }, 300_000);

  it('no bounce or auto-reply creates a customer or a ticket, and nothing triggers outbound mail', async () => {
    const automatic = [...sent.entries()]
      .filter(([, s]) => s.category === 'bounces' || s.category === 'autoreplies')
      .map(([id]) => id);
    const pathToId = (path: string) => [...sent.entries()].find(([, s]) => s.path === path)![0];
    expect(automatic.length).toBeGreaterThan(400);
    const created = await t
      .db('events')
      .whereIn('type', ['customer.created', 'ticket.created'])
      .whereRaw(`(data->>'rawId')::bigint = ANY(?)`, [automatic])
      .select('type', t.db.raw(`data->>'rawId' AS raw_id`));
    // One file in bounces/ is no bounce at all: a virus mail from an ordinary address (the parser
    // project keeps it to see its parser survive). It is customer-like mail and becomes a ticket.
    const notABounce = 'bounces/bounceparser-perl/virus-caused-multiple-weird-reports.msg';
    expect(
      created.map((e) => `${e.type} ${sent.get(Number(e.raw_id))?.path}`).filter((e) => !e.endsWith(notABounce)),
    ).toEqual([]);
    const outcomes = await t
      .db('raw_messages')
      .whereIn('id', automatic)
      .whereIn('outcome', ['ticket_created', 'new_linked_ticket', 'reopened'])
      .pluck('id');
    expect(outcomes.map((id) => sent.get(id)?.path).filter((p) => p !== notABounce)).toEqual([]);
    const bounces = [...sent.entries()]
      .filter(([, s]) => s.category === 'bounces' && s.path !== notABounce)
      .map(([id]) => id);
    expect(await t.db('messages').whereIn('raw_message_id', bounces)).toEqual([]);
    // Mail we would send goes only to people whose own mail opened a ticket: each outbound row is
    // an ack of a ticket whose first message is not automatic mail.
    const { rows: answered } = await t.db.raw(
      `SELECT o.kind, (SELECT m.raw_message_id FROM messages m WHERE m.ticket_id = o.ticket_id ORDER BY m.id LIMIT 1) AS raw_id
         FROM outbound_messages o`,
    );
    expect(answered.length).toBeGreaterThan(0); // normal samples do get acks
    expect(answered.filter((r: { kind: string }) => r.kind !== 'ack')).toEqual([]);
    expect(
      answered
        .map((r: { raw_id: number }) => sent.get(Number(r.raw_id))?.path)
        .filter((path: string | undefined) => !path || (automatic.includes(pathToId(path)) && path !== notABounce)),
    ).toEqual([]);
  });
});
