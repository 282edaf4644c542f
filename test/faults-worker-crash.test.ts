// A worker process is killed with SIGKILL under load, while it processes mail and sends acks, and
// started again. The smtp role and the worker run as real `inbound start` processes; the acks go
// to a relay (test/helpers/relay.ts) that takes 20-200 ms to answer each mail, as a real one does,
// so that sends are in flight when the kill comes.
//
// Afterwards every stored mail is processed exactly once, into one ticket: the jobs the dead worker
// held are retried, and those whose mail it had committed find it processed (the claim,
// claim_raw_message(), refuses a second write). Every ack reaches the relay; none is lost. Some
// may arrive twice, and this is where:
//
// An ack goes twice when the worker dies after the relay has the mail whole and before our UPDATE
// of its row to 'sent' commits (src/outbound/send.ts: markSent, right after transport.sendMail
// resolves). A relay keeps a mail it received whole even when the client dies before reading its
// 250 (RFC 1047), so the window opens at the end of DATA: the relay's own time to answer, our
// hearing the 250 (the event loop's delay), the wait for a pooled connection, and the UPDATE's
// round trip. The job is retried (pg-boss finds it orphaned once its heartbeat stops), finds the
// row still 'queued' and sends again. Only a job active at the kill can, so the duplicates are at
// most the outbound jobs a worker holds at once, 4 lanes × 4 (src/outbound/worker.ts); the test
// foresees their exact number at the kill (rows still 'queued' that the relay has) and measures
// the window. A death before the end of DATA loses nothing: the retry sends the mail. When a kill
// lands just after the inbound job it saw has finished, the worker is started and killed again
// (at most five kills), so that one kill always cuts a mail's processing short too.
import { randomInt } from 'node:crypto';
import { beforeAll, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './helpers/db.ts';
import { startInbound, type InboundProcess } from './helpers/processes.ts';
import { deliveriesBy, startRelay, type Relay } from './helpers/relay.ts';
import { SmtpClient } from './helpers/smtp-client.ts';

/** New mails a second, from the start until a few seconds after the kill (at most MAX_MAILS): more
 * than the relay's pace, so acks queue up behind the inbound processing. */
const RATE = 40;
const MAX_MAILS = 1_000;
/** the kill comes once this many mails (at random) are processed, with both sides mid-way */
const KILL_AFTER = [60, 200] as const;
const CONNECTIONS = 4;
const INBOX = 'support@localhost';
/** src/outbound/worker.ts: lanes × batchSize, the outbound jobs a worker holds at once */
const OUTBOUND_JOBS_AT_ONCE = 4 * 4;
const SETTLE_TIMEOUT_MS = 300_000;

let t: TestDatabase;
let relay: Relay;

beforeAll(async () => {
  t = await createTestDatabase();
  await t.db('inboxes').insert({ address: INBOX, name: 'Support' });
  relay = await startRelay({ minDelayMs: 20, maxDelayMs: 200 });
  return () => relay.close();
});

// ---------------------------------------------------------------------------------------------

function mail(i: number): { from: string; messageId: string; body: Buffer } {
  const from = `customer${i}@crash.test`;
  const messageId = `<worker-crash-${i}@crash.test>`;
  const body = Buffer.from(
    [
      `From: Customer ${i} <${from}>`,
      `To: ${INBOX}`,
      `Subject: Question ${i}`,
      `Message-ID: ${messageId}`,
      'Date: Mon, 23 Nov 2026 10:00:00 +0000',
      'Content-Type: text/plain; charset=utf-8',
      '',
      `Hello, this is question number ${i}.`,
      '',
    ].join('\r\n'),
  );
  return { from, messageId, body };
}

/**
 * Sends new mails at RATE a second over CONNECTIONS connections until stop() (or MAX_MAILS). The
 * smtp role is not touched by the kill, so every mail must get its 250: the codes are its answers.
 */
function startLoad(port: number): { codes: number[]; stop(): void; done: Promise<void> } {
  const codes: number[] = [];
  const started = performance.now();
  let next = 0;
  let stopped = false;
  const done = Promise.all(
    Array.from({ length: CONNECTIONS }, async () => {
      const { client } = await SmtpClient.connect(port);
      await client.command('EHLO client.crash.test');
      // an index taken is always sent, so the mails sent are 0 … n-1
      while (!stopped && next < MAX_MAILS) {
        const i = next++;
        const wait = started + (i * 1000) / RATE - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        const m = mail(i);
        await client.command(`MAIL FROM:<${m.from}>`);
        await client.command(`RCPT TO:<${INBOX}>`);
        await client.command('DATA');
        codes[i] = (await client.data(m.body)).code;
      }
      client.close();
    }),
  ).then(() => undefined);
  return {
    codes,
    stop: () => {
      stopped = true;
    },
    done,
  };
}

interface Snapshot {
  processed: number;
  waiting: number;
  inbound_active: number;
  outbound_active: number;
  acks_sent: number;
  acks_queued: number;
}

async function snapshot(): Promise<Snapshot> {
  const { rows } = await t.db.raw<{ rows: Snapshot[] }>(
    `SELECT (SELECT count(*) FROM raw_messages WHERE duplicate_of IS NULL AND status = 'processed')::int AS processed,
            (SELECT count(*) FROM raw_messages WHERE duplicate_of IS NULL AND status = 'received')::int AS waiting,
            (SELECT count(*) FROM pgboss.job WHERE name = 'inbound.process' AND state = 'active')::int AS inbound_active,
            (SELECT count(*) FROM pgboss.job WHERE name = 'outbound.send' AND state = 'active')::int AS outbound_active,
            (SELECT count(*) FROM outbound_messages WHERE kind = 'ack' AND status = 'sent')::int AS acks_sent,
            (SELECT count(*) FROM outbound_messages WHERE kind = 'ack' AND status = 'queued')::int AS acks_queued`,
  );
  return rows[0]!;
}

it('a worker killed with SIGKILL mid-load: every mail processed once, every ack sent, duplicates bounded', async () => {
  const env = { DATABASE_URL: t.url, OUTBOUND_SMTP_URL: relay.url, PUBLIC_URL: 'http://help.crash.test' };
  const [smtp, first] = await Promise.all([
    startInbound({ roles: ['smtp'], env, name: 'smtp' }),
    startInbound({ roles: ['worker'], env, name: 'worker' }),
  ]);
  let worker: InboundProcess = first;
  const report = () => `\n${smtp.tail(10)}\n${worker.tail(20)}`;

  // the load, and the kill at a random moment once both sides are mid-way
  const load = startLoad(smtp.smtpPort!);
  let target = randomInt(KILL_AFTER[0], KILL_AFTER[1] + 1);
  let killedAt = 0;
  // Summed over the kills. An inbound job lasts milliseconds: one seen active when the kill is
  // decided may be done when it lands. Such a kill still counts (its sends were cut off) and the
  // worker is started and killed again, until one lands mid-way through a mail as well.
  const orphanSends: number[] = [];
  const orphanMails: number[] = [];
  let orphansProcessed = 0;
  let takenNotMarked = 0;
  for (let attempt = 1; ; attempt++) {
    let atKill: Snapshot | undefined;
    const polledUntil = performance.now() + 120_000;
    while (!atKill) {
      if (performance.now() > polledUntil)
        throw new Error(`never both mid-way: ${JSON.stringify(await snapshot())}${report()}`);
      const s = await snapshot();
      const midway =
        s.processed >= target &&
        s.waiting > 0 &&
        s.inbound_active > 0 &&
        s.outbound_active > 0 &&
        s.acks_sent > 0 &&
        relay.inFlight > 0;
      if (midway) {
        worker.child.kill('SIGKILL');
        killedAt = performance.now();
        atKill = s;
      } else await new Promise((r) => setTimeout(r, 20));
    }
    const relayAtKill = { delivered: relay.delivered.length, inFlight: relay.inFlight };
    const exit = await worker.exit;
    expect(exit.signal).toBe('SIGKILL');
    // the relay answers what it had whole, to nobody now: wait for those answers
    while (relay.inFlight > 0) await new Promise((r) => setTimeout(r, 50));
    // What the dead worker left: its active jobs. Of its sends, those whose row is still 'queued'
    // go again; those of them the relay took already will arrive twice.
    const { rows: orphans } = await t.db.raw<{ rows: { raw: number | null; outbound: number | null }[] }>(
      `SELECT (data->>'rawId')::int AS raw, (data->>'outboundId')::int AS outbound
         FROM pgboss.job WHERE state = 'active' AND name IN ('inbound.process', 'outbound.send')`,
    );
    const sends = orphans.filter((o) => o.outbound !== null).map((o) => o.outbound!);
    const mails = orphans.filter((o) => o.raw !== null).map((o) => o.raw!);
    const { rows: unmarked } = await t.db.raw<{ rows: { id: number }[] }>(
      `SELECT id FROM outbound_messages WHERE id = ANY(?::bigint[]) AND status = 'queued'`,
      [pgArray(sends)],
    );
    const taken = new Set(relay.delivered.map((d) => d.outboundId));
    const takenNow = unmarked.filter((u) => taken.has(u.id)).length;
    const { rows: orphanRaw } = await t.db.raw<{ rows: { processed: number }[] }>(
      `SELECT count(*) FILTER (WHERE status = 'processed')::int AS processed FROM raw_messages WHERE id = ANY(?::bigint[])`,
      [pgArray(mails)],
    );
    console.log(
      `kill ${attempt} at ${JSON.stringify(atKill)} (target ${target} processed); the relay had taken ${relayAtKill.delivered} ` +
        `acks and had ${relayAtKill.inFlight} more whole, unanswered. Orphaned: ${mails.length} inbound jobs ` +
        `(${orphanRaw[0]!.processed} of their mails committed already), ${sends.length} outbound jobs ` +
        `(${unmarked.length} of their rows still 'queued', ${takenNow} of those taken by the relay)`,
    );
    // only a job active at the kill sends again: at most what a worker holds at once
    expect(sends.length).toBeLessThanOrEqual(OUTBOUND_JOBS_AT_ONCE);
    orphanSends.push(...sends);
    orphanMails.push(...mails);
    orphansProcessed += orphanRaw[0]!.processed;
    takenNotMarked += takenNow;
    if (mails.length > 0 && orphanSends.length > 0) break;
    expect(attempt, 'a kill landed while a mail was being processed').toBeLessThan(5);
    worker = await worker.restart();
    target = atKill.processed + 20;
  }
  expect(orphanMails.length, 'inbound processing was under way at a kill').toBeGreaterThan(0);
  expect(orphanSends.length, 'sends were under way at a kill').toBeGreaterThan(0);

  // the load goes on a few seconds more, then no new mail; the worker is started again
  const stopping = new Promise((r) => setTimeout(r, 3_000)).then(() => load.stop());
  worker = await worker.restart();
  await stopping;
  await load.done;
  const { codes } = load;
  const n = codes.length;
  expect(codes.filter((c) => c !== 250)).toEqual([]);
  expect([...codes.keys()].filter((i) => codes[i] === undefined)).toEqual([]);

  // everything settles: all processed, every ack sent and at the relay, no job left
  const settle = async () => {
    const s = await snapshot();
    const { rows } = await t.db.raw<{ rows: { open: number }[] }>(
      `SELECT count(*)::int AS open FROM pgboss.job
        WHERE name IN ('inbound.process', 'outbound.send') AND state IN ('created', 'retry', 'active')`,
    );
    const recipients = new Set(relay.delivered.map((d) => d.to));
    return { ...s, open_jobs: rows[0]!.open, relay_recipients: recipients.size };
  };
  for (;;) {
    const s = await settle();
    if (s.processed === n && s.acks_sent === n && s.relay_recipients === n && s.open_jobs === 0) break;
    if (performance.now() - killedAt > SETTLE_TIMEOUT_MS)
      throw new Error(`not settled ${SETTLE_TIMEOUT_MS / 1000} s after the kill: ${JSON.stringify(s)}${report()}`);
    await new Promise((r) => setTimeout(r, 500));
  }
  const settledIn = Math.round((performance.now() - killedAt) / 1000);
  expect(smtp.exited(), report()).toBe(false);
  expect(worker.exited(), report()).toBe(false);

  // stored once, processed once: the claim committed once per mail (attempts), one message and one ticket each
  const { rows: raws } = await t.db.raw<{ rows: { originals: number; copies: number; once: number }[] }>(
    `SELECT count(*) FILTER (WHERE duplicate_of IS NULL)::int AS originals,
            count(*) FILTER (WHERE duplicate_of IS NOT NULL)::int AS copies,
            count(*) FILTER (WHERE duplicate_of IS NULL AND status = 'processed' AND attempts = 1
                                   AND outcome = 'ticket_created')::int AS once
       FROM raw_messages`,
  );
  expect(raws[0]).toEqual({ originals: n, copies: 0, once: n });
  const { rows: tickets } = await t.db.raw<{
    rows: { tickets: number; messages: number; raws: number; requesters: number }[];
  }>(
    `SELECT (SELECT count(*) FROM tickets)::int AS tickets,
            (SELECT count(*) FROM messages)::int AS messages,
            (SELECT count(DISTINCT raw_message_id) FROM messages)::int AS raws,
            (SELECT count(DISTINCT requester_id) FROM tickets)::int AS requesters`,
  );
  expect(tickets[0]).toEqual({ tickets: n, messages: n, raws: n, requesters: n });

  // The retried jobs of mails the dead worker had committed did nothing: processing found them
  // processed. And the claim refuses a mail processed already, whoever tries.
  const skipped = worker.lines.filter((l) => l.msg === 'inbound processed' && l.outcome === 'skipped').length;
  expect(skipped).toBeGreaterThanOrEqual(orphansProcessed);
  for (const id of orphanMails) {
    await expect(t.db.raw(`SELECT claim_raw_message(?, 'ticket_created')`, [id])).rejects.toMatchObject({
      code: 'IB001',
    });
  }

  // one ack row per mail, sent; at the relay every one arrived, some perhaps twice
  const { rows: acks } = await t.db.raw<{ rows: { recipient: string; n: number; sent: number }[] }>(
    `SELECT recipient, count(*)::int AS n, count(*) FILTER (WHERE status = 'sent')::int AS sent
       FROM outbound_messages WHERE kind = 'ack' GROUP BY recipient`,
  );
  expect(acks).toHaveLength(n);
  expect(acks.filter((a) => a.n !== 1 || a.sent !== 1)).toEqual([]);
  const { recipients, answering, duplicates } = deliveriesBy(relay.delivered);
  for (let i = 0; i < n; i++) {
    const m = mail(i);
    expect(recipients.get(m.from), `ack to ${m.from}`).toBeGreaterThanOrEqual(1);
    expect(answering.get(m.messageId), `ack answering ${m.messageId}`).toBe(recipients.get(m.from));
  }

  // The window, for every ack: from the relay having it whole (end of DATA), and from its 250, to
  // the start of our UPDATE to 'sent' (sent_at is now() of that statement).
  const { rows: sentAt } = await t.db.raw<{ rows: { id: number; ms: number }[] }>(
    `SELECT id, (extract(epoch FROM sent_at) * 1000)::float8 AS ms FROM outbound_messages WHERE kind = 'ack'`,
  );
  const lastDelivery = new Map(relay.delivered.map((d) => [d.outboundId, d]));
  const fromData = percentiles(sentAt.map((r) => r.ms - lastDelivery.get(r.id)!.receivedAt));
  const from250 = percentiles(sentAt.map((r) => r.ms - lastDelivery.get(r.id)!.at));

  console.log(
    `${n} mails; settled ${settledIn} s after the kill. ${skipped} retried inbound jobs found their mail ` +
      `processed already. The relay took ${relay.delivered.length} acks for ${n} mails: ${duplicates} ` +
      `duplicates (foreseen at the kills: ${takenNotMarked}, of at most ${OUTBOUND_JOBS_AT_ONCE} jobs at once each). ` +
      `The window, end of DATA at the relay to our UPDATE: ${fromData}; the relay's 250 to our UPDATE: ${from250}`,
  );
  // only a job active at a kill sends again, and only one whose mail the relay had taken
  expect(duplicates).toBeLessThanOrEqual(orphanSends.length);
  expect(duplicates).toBe(takenNotMarked);
  // the dead worker's sends were cut off at the relay; nothing else went wrong there
  expect(relay.errors).toEqual([]);
  expect(await smtp.stop()).toEqual({ code: 0, signal: null });
  expect(await worker.stop()).toEqual({ code: 0, signal: null });
}, 600_000);

function percentiles(xs: number[]): string {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  const at = (p: number) => Math.round(s[Math.min(s.length - 1, Math.floor(s.length * p))]!);
  return `p50 ${at(0.5)} ms, p99 ${at(0.99)} ms, max ${at(1)} ms`;
}

/** A list of ids as one array parameter (knex spreads a JS array into a list of parameters). */
function pgArray(ids: number[]): string {
  return `{${ids.join(',')}}`;
}
