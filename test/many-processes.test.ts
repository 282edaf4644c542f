// Many processes on one database, as a site runs them: two `--roles smtp` (each on a port of its
// own, as two MX hosts), three `--roles worker` and one `--roles web`, acks going to a live SMTP
// sink. Load over both SMTP ports from several connections: new tickets (one sender each), replies
// into those tickets, and mail delivered twice with the same bytes and Message-ID (an MTA
// retrying after a lost 250: seen, lost with the connection, or racing on both ports). Midway one
// worker is killed with SIGKILL and started again. Once everything settles: every 250 has exactly
// one raw_messages row, one original per mail and one job per original, one ticket per new mail,
// one ack per ticket and one mail at the sink per ack, every mail processed, no failed job.
//
// Sizes: 240 new tickets over 8 connections (4 per port), 80 replies (2 at a time), 48 mails
// delivered twice (16 of each kind of retry): 368 SMTP transactions, 352 of them with a 250
// expected. Workers run 4 lanes each.
import { randomInt } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createAgent, createApiToken } from '../src/agents/index.ts';
import { createTestDatabase, type TestDatabase } from './helpers/db.ts';
import { startSink, type Sink } from './helpers/sink.ts';
import { dotStuff, SmtpClient, type Reply } from './helpers/smtp-client.ts';
import { startInbound, stopAllInbound, stopInbound, type InboundProcess } from './helpers/cluster.ts';

const NEW = 240;
const REPLIES = 80;
/** of each kind of second delivery */
const TWICE = 16;
const CONNECTIONS_PER_PORT = 4;
const INBOX = 'support@localhost';
/** the jobs a killed worker held wait for their heartbeat to lapse and for a supervisor pass: a minute or two */
const SETTLE_MS = 8 * 60_000;

let t: TestDatabase;
let sink: Sink;
let apiToken: string;

// At the file's top level: a hook registered inside beforeAll is never run.
afterAll(stopAllInbound, 60_000);

beforeAll(async () => {
  t = await createTestDatabase();
  await t.db('inboxes').insert({ address: INBOX, name: 'Support' });
  sink = await startSink();
  const agent = await createAgent(t.db, { email: 'agent@staff.test', name: 'Agent', role: 'agent' });
  apiToken = (await createApiToken(t.db, agent.id)).token;
});

function env(): Record<string, string> {
  return {
    DATABASE_URL: t.url,
    OUTBOUND_SMTP_URL: sink.url,
    NODE_ENV: 'test',
    LOG_LEVEL: 'info',
    DB_POOL_MAX: '4',
    WORKER_CONCURRENCY: '4',
  };
}

const start = (name: string, roles: string): Promise<InboundProcess> => startInbound(name, roles, env());

const sender = (i: number) => `customer${i}@load.test`;
const newId = (i: number) => `<new-${i}@load.test>`;

/** The bytes of new mail i: the same every time it is built, so a second delivery is a true copy. */
function newMail(i: number): Buffer {
  return Buffer.from(
    [
      `From: Customer ${i} <${sender(i)}>`,
      `To: ${INBOX}`,
      `Subject: Question ${i}`,
      'Date: Mon, 23 Nov 2026 10:00:00 +0000',
      `Message-ID: ${newId(i)}`,
      'MIME-Version: 1.0',
      'Content-Type: text/plain; charset=utf-8',
      '',
      `Hello, this is question ${i}.`,
      ...Array.from({ length: 20 + (i % 30) }, (_, k) => `Line ${k} of the details of question ${i}.`),
      '',
    ].join('\r\n'),
  );
}

/** A reply from the requester: by In-Reply-To for even i, by [#number] in the subject for odd i. */
function replyMail(i: number, number: number): Buffer {
  const byRef = i % 2 === 0;
  return Buffer.from(
    [
      `From: Customer ${i} <${sender(i)}>`,
      `To: ${INBOX}`,
      byRef ? `Subject: Re: Question ${i}` : `Subject: More on my question [#${number}]`,
      'Date: Mon, 23 Nov 2026 11:00:00 +0000',
      `Message-ID: <reply-${i}@load.test>`,
      ...(byRef ? [`In-Reply-To: ${newId(i)}`, `References: ${newId(i)}`] : []),
      'MIME-Version: 1.0',
      'Content-Type: text/plain; charset=utf-8',
      '',
      `Some more about question ${i}.`,
      '',
    ].join('\r\n'),
  );
}

/** One SMTP transaction as the test saw it. `lost`: the connection was dropped right after the final dot. */
interface Transaction {
  helo: string;
  messageId: string;
  port: number;
  reply?: Reply;
  lost?: boolean;
}

const transactions: Transaction[] = [];
let connections = 0;

/** A connection with a HELO name of its own, so that each stored row names the transaction it came from. */
async function open(port: number): Promise<{ client: SmtpClient; helo: string }> {
  const helo = `c${++connections}.load.test`;
  const { client, greeting } = await SmtpClient.connect(port);
  expect(greeting.code).toBe(220);
  expect((await client.command(`EHLO ${helo}`)).code).toBe(250);
  return { client, helo };
}

/** MAIL, RCPT, DATA and the body; with `lose`, the connection is dropped without waiting for the answer. */
async function transact(
  conn: { client: SmtpClient; helo: string },
  port: number,
  from: string,
  messageId: string,
  body: Buffer,
  lose = false,
): Promise<Transaction> {
  const tx: Transaction = { helo: conn.helo, messageId, port };
  transactions.push(tx);
  for (const line of [`MAIL FROM:<${from}>`, `RCPT TO:<${INBOX}>`]) {
    const r = await conn.client.command(line);
    if (r.code !== 250) return Object.assign(tx, { reply: r });
  }
  const data = await conn.client.command('DATA');
  if (data.code !== 354) return Object.assign(tx, { reply: data });
  if (lose) {
    conn.client.write(Buffer.concat([dotStuff(body), Buffer.from('.\r\n')]));
    conn.client.close();
    return Object.assign(tx, { lost: true });
  }
  return Object.assign(tx, { reply: await conn.client.data(body) });
}

/** One transaction on a connection of its own. */
async function deliverOnce(port: number, i: number, lose = false): Promise<Transaction> {
  const conn = await open(port);
  try {
    return await transact(conn, port, sender(i), newId(i), newMail(i), lose);
  } finally {
    conn.client.close();
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until<T>(what: string, deadlineMs: number, check: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(250);
  }
}

async function ticketOf(messageId: string): Promise<{ id: number; number: number } | undefined> {
  const row = await t
    .db('messages as m')
    .join('tickets as t', 't.id', 'm.ticket_id')
    .where('m.message_id', messageId)
    .first<{ id: number; number: number } | undefined>('t.id', 't.number');
  return row;
}

it(
  'two SMTP, three worker and one web process on one database: every mail once, every ack once, across a SIGKILL',
  async () => {
    const began = performance.now();
    const [smtpA, smtpB, ...rest] = await Promise.all([
      start('smtp-a', 'smtp'),
      start('smtp-b', 'smtp'),
      start('worker-1', 'worker'),
      start('worker-2', 'worker'),
      start('worker-3', 'worker'),
      start('web', 'web'),
    ]);
    const workers = rest.slice(0, 3);
    const web = rest[3]!;
    const ports = [smtpA!.smtpPort!, smtpB!.smtpPort!];
    const other = (port: number) => (port === ports[0] ? ports[1]! : ports[0]!);
    const started = performance.now();

    // Which new mails go how: 0..NEW-1 once each through the shared connections, except those
    // delivered twice. Replies go to the first REPLIES tickets.
    const order = Array.from({ length: NEW }, (_, i) => i).sort(() => Math.random() - 0.5);
    const resent = order.slice(0, TWICE); // a 250 the "MTA" did not get: sent again to the other port
    const lost = order.slice(TWICE, 2 * TWICE); // the connection dropped after the dot; then the other port
    const raced = order.slice(2 * TWICE, 3 * TWICE); // both ports at once
    const plain = order.filter((i) => !lost.includes(i) && !raced.includes(i));

    // The web role answers throughout.
    let loading = true;
    const readiness: number[] = [];
    const polling = (async () => {
      while (loading) {
        const r = await fetch(`http://127.0.0.1:${web.httpPort}/readyz`).catch(() => undefined);
        readiness.push(r?.status ?? 0);
        await r?.text();
        await sleep(250);
      }
    })();

    // New tickets over persistent connections, half on each port.
    let newAcked = 0;
    const queue = [...plain];
    const loaders = ports.flatMap((port) =>
      Array.from({ length: CONNECTIONS_PER_PORT }, async () => {
        const conn = await open(port);
        for (let i = queue.shift(); i !== undefined; i = queue.shift()) {
          const tx = await transact(conn, port, sender(i), newId(i), newMail(i));
          if (tx.reply?.code === 250) newAcked++;
        }
        await conn.client.command('QUIT');
        conn.client.close();
      }),
    );

    // Second deliveries, spread over the run.
    const twice = [
      ...resent.map(async (i, k) => {
        await until(`mail ${i} accepted once`, SETTLE_MS, async () =>
          transactions.some((tx) => tx.messageId === newId(i) && tx.reply?.code === 250) ? true : undefined,
        );
        await sleep(k * 50);
        const first = transactions.find((tx) => tx.messageId === newId(i) && tx.reply)!;
        await deliverOnce(other(first.port), i);
      }),
      ...lost.map(async (i, k) => {
        await sleep(k * 150);
        const port = ports[k % 2]!;
        await deliverOnce(port, i, true);
        await sleep(randomInt(0, 200));
        await deliverOnce(other(port), i);
      }),
      ...raced.map(async (i, k) => {
        await sleep(k * 150);
        await Promise.all(ports.map((port) => deliverOnce(port, i)));
      }),
    ];

    // Replies, each once its ticket exists (before, it would rightly open a ticket of its own).
    const replyQueue = Array.from({ length: REPLIES }, (_, k) => order[k]!).sort((a, b) => a - b);
    // A connection each: the wait for a ticket may outlast a server's idle timeout.
    const repliers = ports.map(async (port) => {
      for (let i = replyQueue.shift(); i !== undefined; i = replyQueue.shift()) {
        const ticket = await until(`the ticket of mail ${i}`, SETTLE_MS, () => ticketOf(newId(i)));
        const conn = await open(port);
        await transact(conn, port, sender(i), `<reply-${i}@load.test>`, replyMail(i, ticket.number));
        conn.client.close();
      }
    });

    // Midway: SIGKILL a worker while mail is waiting, and start it again.
    const killAt = randomInt(NEW / 3, (2 * NEW) / 3);
    const kill = (async () => {
      await until('half the load', SETTLE_MS, async () => (newAcked >= killAt ? true : undefined));
      const { rows } = await t.db.raw<{ rows: { n: number }[] }>(
        `SELECT count(*)::int AS n FROM raw_messages WHERE status = 'received'`,
      );
      const victim = workers[randomInt(0, workers.length)]!;
      const how = await stopInbound(victim, 'SIGKILL');
      const again = await start(`${victim.name}-again`, 'worker');
      return { waiting: rows[0]!.n, victim: victim.name, how, again };
    })();

    await Promise.all([...loaders, ...twice, ...repliers]);
    const killed = await kill;
    const sent = performance.now();

    // Settled: no mail waiting, no job open, no ack unsent, every ack at the sink.
    await until('everything to settle', SETTLE_MS, async () => {
      const { rows } = await t.db.raw<{ rows: { waiting: number; open: number; unsent: number; rows: number }[] }>(
        `SELECT (SELECT count(*) FROM raw_messages WHERE status = 'received')::int AS waiting,
              (SELECT count(*) FROM pgboss.job WHERE state NOT IN ('completed', 'failed', 'cancelled'))::int AS open,
              (SELECT count(*) FROM outbound_messages WHERE status = 'queued')::int AS unsent,
              (SELECT count(*) FROM outbound_messages)::int AS rows`,
      );
      const s = rows[0]!;
      return s.waiting === 0 && s.open === 0 && s.unsent === 0 && sink.mails.length >= s.rows ? true : undefined;
    });
    const settled = performance.now();
    await sleep(2_000); // a late second send would show now
    loading = false;
    await polling;

    // --- SMTP: every transaction answered 250 unless its connection was dropped on purpose
    expect(killed.how).toBe('SIGKILL');
    expect(killed.waiting, 'mail was waiting when the worker was killed').toBeGreaterThan(0);
    const answered = transactions.filter((tx) => !tx.lost);
    expect(transactions).toHaveLength(NEW + REPLIES + 3 * TWICE);
    expect(answered.filter((tx) => tx.reply?.code !== 250).map((tx) => `${tx.messageId} ${tx.reply?.text}`)).toEqual(
      [],
    );

    // --- raw_messages: one row per 250, at most one per dropped transaction, nothing else
    const raw = (
      await t.db.raw<{
        rows: { id: number; helo: string; message_id: string; status: string; duplicate_of: number | null }[];
      }>(`SELECT id, helo, message_id, status, duplicate_of FROM raw_messages ORDER BY id`)
    ).rows;
    const rowsOf = new Map<string, typeof raw>();
    for (const r of raw)
      rowsOf.set(`${r.helo}|${r.message_id}`, [...(rowsOf.get(`${r.helo}|${r.message_id}`) ?? []), r]);
    for (const tx of transactions) {
      const rows = rowsOf.get(`${tx.helo}|${tx.messageId}`) ?? [];
      if (tx.lost) expect(rows.length, `${tx.helo} ${tx.messageId}`).toBeLessThanOrEqual(1);
      else expect(rows.length, `${tx.helo} ${tx.messageId}`).toBe(1);
    }
    const storedLost = transactions.filter((tx) => tx.lost && rowsOf.has(`${tx.helo}|${tx.messageId}`)).length;
    expect(raw).toHaveLength(answered.length + storedLost);

    // one original per mail; each copy a duplicate of it, as its 250 said
    const originals = new Map<string, number>();
    for (const r of raw.filter((r) => r.duplicate_of === null)) {
      expect(originals.has(r.message_id), `two originals of ${r.message_id}`).toBe(false);
      originals.set(r.message_id, r.id);
    }
    expect(originals.size).toBe(NEW + REPLIES);
    for (const tx of answered) {
      const row = rowsOf.get(`${tx.helo}|${tx.messageId}`)![0]!;
      const original = originals.get(tx.messageId)!;
      if (row.duplicate_of === null) {
        expect(row.status).toBe('processed');
        expect(tx.reply!.text).toMatch(new RegExp(`queued as ${row.id}$`));
      } else {
        expect(row).toMatchObject({ status: 'duplicate', duplicate_of: original });
        expect(tx.reply!.text).toMatch(new RegExp(`already have this message as ${original}$`));
      }
    }
    const copies = raw.filter((r) => r.duplicate_of !== null).length;
    expect(copies).toBe(raw.length - originals.size);
    expect(copies).toBeGreaterThanOrEqual(2 * TWICE); // resent and raced: a copy each, whatever the order

    // --- processing: one job per original, every mail processed into what it is
    const jobs = (
      await t.db.raw<{
        rows: { name: string; state: string; raw: number | null; out: number | null; retries: number }[];
      }>(
        `SELECT name, state, (data->>'rawId')::bigint AS raw, (data->>'outboundId')::bigint AS out, retry_count AS retries
         FROM pgboss.job`,
      )
    ).rows;
    const inboundJobs = jobs.filter((j) => j.name === 'inbound.process');
    expect(inboundJobs.map((j) => j.raw).sort((a, b) => a! - b!)).toEqual(
      [...originals.values()].sort((a, b) => a - b),
    );
    expect(jobs.filter((j) => j.state !== 'completed')).toEqual([]);
    expect(jobs.filter((j) => j.name.endsWith('.dead'))).toEqual([]);

    const outcomes = (
      await t.db.raw<{ rows: { message_id: string; outcome: string }[] }>(
        `SELECT message_id, outcome FROM raw_messages WHERE duplicate_of IS NULL`,
      )
    ).rows;
    for (const o of outcomes) {
      expect(o.outcome, o.message_id).toBe(o.message_id.startsWith('<new-') ? 'ticket_created' : 'reply');
    }

    // --- tickets: one per new mail, its requester the sender; replies in the ticket of their mail
    const tickets = (
      await t.db.raw<{ rows: { id: number; first: string; email: string; messages: string[] }[] }>(
        `SELECT t.id, e.address AS email,
              (SELECT m.message_id FROM messages m WHERE m.ticket_id = t.id ORDER BY m.id LIMIT 1) AS first,
              (SELECT array_agg(m.message_id ORDER BY m.id) FROM messages m WHERE m.ticket_id = t.id) AS messages
         FROM tickets t JOIN customer_emails e ON e.customer_id = t.requester_id AND e.is_primary`,
      )
    ).rows;
    expect(tickets).toHaveLength(NEW);
    const byFirst = new Map(tickets.map((tk) => [tk.first, tk]));
    expect(byFirst.size).toBe(NEW);
    const replied = new Set(Array.from({ length: REPLIES }, (_, k) => order[k]!));
    for (let i = 0; i < NEW; i++) {
      const tk = byFirst.get(newId(i));
      expect(tk, newId(i)).toBeDefined();
      expect(tk!.email).toBe(sender(i));
      expect(tk!.messages).toEqual(replied.has(i) ? [newId(i), `<reply-${i}@load.test>`] : [newId(i)]);
    }
    const { rows: counts } = await t.db.raw<{ rows: { messages: number; customers: number }[] }>(
      `SELECT (SELECT count(*) FROM messages)::int AS messages, (SELECT count(*) FROM customers)::int AS customers`,
    );
    expect(counts[0]).toEqual({ messages: NEW + REPLIES, customers: NEW });

    // --- acks: one row per ticket, one job per row, one mail at the sink per row and recipient
    const outbound = (
      await t.db.raw<{ rows: { id: number; kind: string; ticket_id: number; recipient: string; status: string }[] }>(
        `SELECT id, kind, ticket_id, recipient, status FROM outbound_messages`,
      )
    ).rows;
    expect(outbound).toHaveLength(NEW);
    expect(new Set(outbound.map((o) => o.ticket_id)).size).toBe(NEW);
    const ticketById = new Map(tickets.map((tk) => [tk.id, tk]));
    for (const o of outbound) {
      expect(o).toMatchObject({ kind: 'ack', status: 'sent', recipient: ticketById.get(o.ticket_id)!.email });
    }
    const sendJobs = jobs.filter((j) => j.name === 'outbound.send');
    expect(sendJobs.map((j) => j.out).sort((a, b) => a! - b!)).toEqual(outbound.map((o) => o.id).sort((a, b) => a - b));
    // A send job whose worker was killed runs again once it expires: if the sink had taken the mail
    // and the kill came before the row was marked sent, that mail goes twice (at least once, by
    // design). Only those may show twice; every other ack arrives exactly once.
    const retried = new Set(sendJobs.filter((j) => j.retries > 0).map((j) => j.out));
    const atSink = new Map<number, string[]>();
    for (const m of sink.mails) {
      const id = Number(m.mail.headers.get('x-inbound-loop'));
      atSink.set(id, [...(atSink.get(id) ?? []), ...m.to]);
    }
    for (const o of outbound) {
      const to = atSink.get(o.id) ?? [];
      expect(to.length, `ack ${o.id}`).toBeGreaterThanOrEqual(1);
      expect(to.length, `ack ${o.id}`).toBeLessThanOrEqual(retried.has(o.id) ? 2 : 1);
      expect(new Set(to)).toEqual(new Set([o.recipient]));
    }
    expect([...atSink.keys()].filter((id) => !outbound.some((o) => o.id === id))).toEqual([]);
    const perRecipient = new Map<string, number>();
    for (const m of sink.mails) for (const to of m.to) perRecipient.set(to, (perRecipient.get(to) ?? 0) + 1);
    expect(perRecipient.size).toBe(NEW);

    // --- the web role: ready throughout, and its API lists what the database holds
    expect(readiness.filter((s) => s !== 200)).toEqual([]);
    let listed = 0;
    for (let cursor: string | null = ''; cursor !== null; ) {
      const r = await fetch(
        `http://127.0.0.1:${web.httpPort}/api/v1/tickets?limit=200${cursor ? `&cursor=${cursor}` : ''}`,
        {
          headers: { authorization: `Bearer ${apiToken}` },
        },
      );
      expect(r.status).toBe(200);
      const body = (await r.json()) as { data: unknown[]; next_cursor: string | null };
      listed += body.data.length;
      cursor = body.next_cursor;
    }
    expect(listed).toBe(NEW);

    const { rows: conns } = await t.db.raw<{ rows: { app: string; n: number }[] }>(
      `SELECT application_name AS app, count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database()
      GROUP BY 1 ORDER BY 1`,
    );
    console.log(
      JSON.stringify({
        sizes: { new: NEW, replies: REPLIES, twice: 3 * TWICE, transactions: transactions.length },
        startSeconds: Math.round((started - began) / 100) / 10,
        sendSeconds: Math.round((sent - started) / 100) / 10,
        settleSeconds: Math.round((settled - sent) / 100) / 10,
        kill: {
          victim: killed.victim,
          afterAcks: killAt,
          waiting: killed.waiting,
          processedByRestarted: killed.again.lines.filter((l) => l.msg === 'inbound processed').length,
        },
        retriedJobs: jobs.filter((j) => j.retries > 0).length,
        sentTwice: [...atSink.values()].filter((to) => to.length > 1).length,
        lostStored: storedLost,
        connections: Object.fromEntries(conns.map((c) => [c.app, c.n])),
      }),
    );
  },
  12 * 60_000,
);
