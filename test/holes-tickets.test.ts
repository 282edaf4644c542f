// Security review of the "one module per rule" change: what an attacker tried. Each `describe` is
// a finding (now fixed: its test asserts the fix) or a check that came out sound.
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './helpers/db.ts';
import { startTestApi, type TestApi } from './helpers/api.ts';
import { eventually, startBossFor, startTestIngest, startTestWorker } from './helpers/app.ts';
import { capturedLog } from './helpers/log.ts';
import { sendRaw } from './helpers/smtp-client.ts';
import { issueToken } from '../src/access/index.ts';
import { findOrCreateCustomer } from '../src/customers/index.ts';
import { createDb, type Knex } from '../src/db/index.ts';
import { buildWeb, listenWeb } from '../src/web/index.ts';

let t: TestDatabase;
let api: TestApi;
let smtpPort: number;
let web: string;
let n = 0;

beforeAll(async () => {
  t = await createTestDatabase();
  api = await startTestApi(t.url);
  web = api.base.replace(/\/api\/v1$/, '');
  smtpPort = (await startTestIngest(t.url, { inboxes: ['support@localhost'] })).port;
  await startTestWorker(t.url, await startBossFor(t.url, true), 1);
});

interface Arranged {
  id: number;
  k: number;
  requesterId: number;
  followerId: number;
  messageId: string;
}

/** A ticket by Rita (requester) with Finn (Cc: a follower). */
async function ticket(extra: string[] = []): Promise<Arranged> {
  const k = ++n;
  const messageId = `<atk-${k}@customer.test>`;
  const raw = [
    `From: Rita ${k} <rita${k}@customer.test>`,
    'To: support@localhost',
    `Cc: Finn ${k} <finn${k}@other.test>`,
    ...extra,
    `Subject: attack case ${k}`,
    `Message-ID: ${messageId}`,
    '',
    'It broke.',
    '',
  ].join('\r\n');
  expect((await sendRaw(smtpPort, `rita${k}@customer.test`, ['support@localhost'], raw)).code).toBe(250);
  const row = await eventually(() =>
    t
      .db('tickets')
      .where({ subject: `attack case ${k}` })
      .first(),
  );
  const finn = await t
    .db('customer_emails')
    .where({ address: `finn${k}@other.test` })
    .first();
  return { id: row.id, k, requesterId: row.requester_id, followerId: finn.customer_id, messageId };
}

/** The follower writes by mail on the ticket (they are a member: it joins, and reopens it). */
async function followerMails(a: Arranged, i: number): Promise<void> {
  const id = `<atk-${a.k}-f${i}@other.test>`;
  const raw = [
    `From: Finn ${a.k} <finn${a.k}@other.test>`,
    'To: support@localhost',
    `Subject: Re: attack case ${a.k}`,
    `Message-ID: ${id}`,
    `In-Reply-To: ${a.messageId}`,
    `References: ${a.messageId}`,
    '',
    'reopening',
    '',
  ].join('\r\n');
  expect((await sendRaw(smtpPort, `finn${a.k}@other.test`, ['support@localhost'], raw)).code).toBe(250);
  await eventually(() => t.db('messages').where({ message_id: id }).first());
}

async function formToken(secret: string, action: 'reply' | 'close'): Promise<string> {
  const html = await (await fetch(`${web}/t/${secret}`)).text();
  const form = html.slice(html.indexOf(`action="/t/${secret}/${action}"`));
  return /name="csrf" value="([^"]+)"/.exec(form)![1]!;
}

async function post(secret: string, action: 'reply' | 'close', body = 'x'): Promise<Response> {
  const csrf = await formToken(secret, action);
  return fetch(`${web}/t/${secret}/${action}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ csrf, ...(action === 'reply' && { body }) }).toString(),
    redirect: 'manual',
  });
}

const closedMailsTo = async (ticketId: number, customerId: number) =>
  Number(
    (
      await t
        .db('outbound_messages')
        .where({ ticket_id: ticketId, kind: 'ticket_closed', customer_id: customerId })
        .count<{ count: string }[]>()
    )[0]!.count,
  );

// ------------------------------------------------------------------------------------------
// Finding 1 (fixed): a follower could turn closing into a stream of mail to the requester (close
// on the page, reopen by mail, close again, with as many links as agents' replies gave them).
// ticket_closed now goes to the requester at most once a day per ticket, and the page limits
// closing per client and per ticket as well as per link.
// ------------------------------------------------------------------------------------------
describe('finding 1: ticket_closed flood from a follower', () => {
  it('reopen by mail + close on the page, again and again: one ticket_closed mail a day to the requester', async () => {
    const a = await ticket();
    const links = [
      (await issueToken(t.db, 'ticket_link', { ticketId: a.id, customerId: a.followerId }, 3600)).secret,
      (await issueToken(t.db, 'ticket_link', { ticketId: a.id, customerId: a.followerId }, 3600)).secret,
    ];
    for (let i = 0; i < 4; i++) {
      if (i > 0) await followerMails(a, i); // reopens: closed moments ago
      expect((await post(links[i % 2]!, 'close')).status).toBe(303);
      expect((await t.db('tickets').where({ id: a.id }).first()).status).toBe('closed');
    }
    expect(await closedMailsTo(a.id, a.requesterId)).toBe(1);
  }, 60_000);

  it('closing is limited per ticket, whichever link and client', async () => {
    const a = await ticket();
    const statuses: number[] = [];
    for (let i = 0; i < 12; i++) {
      const { secret } = await issueToken(t.db, 'ticket_link', { ticketId: a.id, customerId: a.followerId }, 3600);
      await t.db('tickets').where({ id: a.id }).update({ status: 'open', closed_at: null });
      statuses.push((await post(secret, 'close')).status);
    }
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThan(0);
    expect(await closedMailsTo(a.id, a.requesterId)).toBe(1);
  }, 60_000);
});

// ------------------------------------------------------------------------------------------
// Finding 2 (fixed): a lone UTF-16 surrogate in a name (an encoded word in UTF-16 carries one)
// broke the customer insert's JSON document. It becomes U+FFFD, as a text parameter did.
// ------------------------------------------------------------------------------------------
describe('finding 2: lone surrogate in a name', () => {
  // "\ud800" then "A" in UTF-16LE
  const word = `=?utf-16le?b?${Buffer.from([0x00, 0xd8, 0x41, 0x00]).toString('base64')}?=`;

  it('the one insert stores it as U+FFFD', async () => {
    const { customer } = await t.db.transaction((trx) =>
      findOrCreateCustomer(trx, 'surrogate@x.test', '\ud800A', { via: 'api' }),
    );
    expect(customer.name).toBe('\ufffdA');
  });

  it('the API creates a customer or a follower with such a name', async () => {
    const c = await api.call('POST', '/customers', { email: 'sur1@x.test', name: '\ud800A' });
    expect(c.status).toBe(201);
    expect(c.body.name).toBe('\ufffdA');
    const a = await ticket();
    const f = await api.call(
      'POST',
      `/tickets/${a.id}/followers`,
      { email: 'sur2@x.test', name: '\ud800A' },
      api.agentToken,
    );
    expect(f.status).toBeLessThan(300);
  });

  it('a mail from a new sender with such a display name becomes a ticket', async () => {
    const raw = [
      `From: ${word} <surrogate-sender@customer.test>`,
      'To: support@localhost',
      'Subject: lone surrogate',
      'Message-ID: <lone-surrogate@customer.test>',
      '',
      'hello',
      '',
    ].join('\r\n');
    expect((await sendRaw(smtpPort, 'surrogate-sender@customer.test', ['support@localhost'], raw)).code).toBe(250);
    const ticketRow = await eventually(() => t.db('tickets').where({ subject: 'lone surrogate' }).first());
    const customer = await t.db('customers').where({ id: ticketRow.requester_id }).first();
    expect(customer.name).toBe('\ufffdA');
  }, 30_000);
});

// ------------------------------------------------------------------------------------------
// Finding 3 (fixed in part): a late reply through the same old link opened one more ticket each
// time. The writer's open linked ticket is reused. Left as it is: the new ticket is the writer's
// (their company, the old subject), as a late reply by mail makes it.
// ------------------------------------------------------------------------------------------
describe('finding 3: linked tickets from the page', () => {
  it('late replies by a follower through one old link open one ticket, theirs', async () => {
    const a = await ticket();
    await t
      .db('tickets')
      .where({ id: a.id })
      .update({ status: 'closed', closed_at: t.db.raw(`now() - interval '90 days'`) });
    const { secret } = await issueToken(t.db, 'ticket_link', { ticketId: a.id, customerId: a.followerId }, 3600);
    for (let i = 0; i < 3; i++) expect((await post(secret, 'reply', `late ${i}`)).status).toBe(303);
    const linked = await t.db('tickets').where({ previous_ticket_id: a.id }).select('*');
    expect(linked).toHaveLength(1);
    expect(linked[0].requester_id).toBe(a.followerId);
    const texts = await t.db('messages').where({ ticket_id: linked[0].id }).orderBy('id').pluck('text');
    expect(texts).toEqual(['late 0', 'late 1', 'late 2']);
    // the requester's ticket is untouched
    expect((await t.db('tickets').where({ id: a.id }).first()).status).toBe('closed');
  });
});

// ------------------------------------------------------------------------------------------
// Checked and sound
// ------------------------------------------------------------------------------------------
describe('sound: public attachment download', () => {
  it('serves files of the ticket’s public messages only', async () => {
    const a = await ticket();
    const b = await ticket();
    const file = (s: string) => ({
      filename: `${s}.txt`,
      content_type: 'text/plain',
      content_base64: Buffer.from(s).toString('base64'),
    });
    const sha = (s: string) => createHash('sha256').update(s).digest('hex');
    await api.call('POST', `/tickets/${a.id}/replies`, { body: 'public', attachments: [file('pub-a')] });
    await api.call('POST', `/tickets/${a.id}/replies`, {
      body: 'note',
      internal: true,
      attachments: [file('internal-a')],
    });
    await api.call('POST', `/tickets/${b.id}/replies`, { body: 'other', attachments: [file('pub-b')] });
    const { secret } = await issueToken(t.db, 'ticket_link', { ticketId: a.id, customerId: a.followerId }, 3600);
    const get = (s: string) => fetch(`${web}/t/${secret}/attachments/${s}`);
    expect((await get(sha('pub-a'))).status).toBe(200);
    expect((await get(sha('internal-a'))).status).toBe(404);
    expect((await get(sha('pub-b'))).status).toBe(404);
    expect((await get(sha('pub-a').toUpperCase())).status).toBe(404);
    expect((await get(`${sha('pub-a')}00`)).status).toBe(404);
    expect((await get("' OR 1=1 --")).status).toBe(404);
    // the same file also attached to an internal note: still served only through the public one
    await api.call('POST', `/tickets/${b.id}/replies`, { body: 'n', internal: true, attachments: [file('pub-a')] });
    const { secret: sb } = await issueToken(t.db, 'ticket_link', { ticketId: b.id, customerId: b.requesterId }, 3600);
    expect((await fetch(`${web}/t/${sb}/attachments/${sha('pub-a')}`)).status).toBe(404);
  });
});

describe('sound: the linked flow refuses links that may not post', () => {
  it('a link naming no customer, a revoked link and a removed follower’s link make no ticket', async () => {
    const a = await ticket();
    await t
      .db('tickets')
      .where({ id: a.id })
      .update({ status: 'closed', closed_at: t.db.raw(`now() - interval '90 days'`) });
    const anon = await issueToken(t.db, 'ticket_link', { ticketId: a.id }, 3600);
    expect((await post(anon.secret, 'reply').catch(() => undefined))?.status ?? 0).not.toBe(303);
    const revoked = await issueToken(t.db, 'ticket_link', { ticketId: a.id, customerId: a.followerId }, 3600);
    const csrf = await formToken(revoked.secret, 'reply');
    await t.db('tokens').where({ id: revoked.id }).update({ revoked_at: t.db.fn.now() });
    const r1 = await fetch(`${web}/t/${revoked.secret}/reply`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ csrf, body: 'late' }).toString(),
      redirect: 'manual',
    });
    expect(r1.status).toBe(410);
    const removed = await issueToken(t.db, 'ticket_link', { ticketId: a.id, customerId: a.followerId }, 3600);
    const csrf2 = await formToken(removed.secret, 'reply');
    expect((await api.call('DELETE', `/tickets/${a.id}/followers/${a.followerId}`)).status).toBeLessThan(300);
    const r2 = await fetch(`${web}/t/${removed.secret}/reply`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ csrf: csrf2, body: 'late' }).toString(),
      redirect: 'manual',
    });
    expect(r2.status).toBe(410);
    expect(await t.db('tickets').where({ previous_ticket_id: a.id }).first()).toBeUndefined();
  });
});

describe('sound: 5xx on the ticket page logs no secret', () => {
  const { log, lines } = capturedLog('debug');
  let base: string;
  let db: Knex;
  beforeAll(async () => {
    db = createDb(t.url, { poolMax: 3 });
    const app = buildWeb({ db, boss: api.boss, log });
    base = `http://127.0.0.1:${(await listenWeb(app, '127.0.0.1', 0)).port}`;
    afterAll(async () => {
      await app.close();
      await db.destroy();
    });
  });

  it('a failing database during GET, reply and attachment: the error lines carry neither secret nor URL', async () => {
    const a = await ticket();
    const { secret } = await issueToken(t.db, 'ticket_link', { ticketId: a.id, customerId: a.requesterId }, 3600);
    const html = await (await fetch(`${base}/t/${secret}`)).text();
    const csrf = /action="\/t\/[^"]+\/reply"[\s\S]*?name="csrf" value="([^"]+)"/.exec(html)![1]!;
    await t.db.raw('ALTER TABLE messages RENAME TO messages_away');
    try {
      const g = await fetch(`${base}/t/${secret}`, { headers: { accept: 'text/html' } });
      expect(g.status).toBe(500);
      const body = await g.text();
      expect(body).not.toContain('messages');
      const p = await fetch(`${base}/t/${secret}/reply?x=${secret}`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ csrf, body: 'hi' }).toString(),
      });
      expect(p.status).toBe(500);
      expect(await p.json()).toMatchObject({ error: { code: 'internal', message: 'internal error' } });
      expect((await fetch(`${base}/t/${secret}/attachments/${'a'.repeat(64)}`)).status).toBe(500);
    } finally {
      await t.db.raw('ALTER TABLE messages_away RENAME TO messages');
    }
    const all = JSON.stringify(lines);
    expect(lines.filter((l) => l.level >= 50).length).toBeGreaterThanOrEqual(3);
    expect(all).not.toContain(secret);
    expect(all).not.toContain(createHash('sha256').update(secret).digest('hex'));
  });
});

describe('sound: followers by address', () => {
  it('a missing ticket makes no customer; an existing customer keeps the company chosen by hand', async () => {
    const missing = await api.call(
      'POST',
      '/tickets/987654321/followers',
      { email: 'ghost@acme-follow.test', name: "x'); DROP TABLE customers; --" },
      api.agentToken,
    );
    expect(missing.status).toBe(404);
    expect(await t.db('customer_emails').where({ address: 'ghost@acme-follow.test' }).first()).toBeUndefined();
    const acme = (await api.call('POST', '/companies', { name: 'AcmeF', domains: ['acme-follow.test'] })).body;
    const other = (await api.call('POST', '/companies', { name: 'ChosenF' })).body;
    const c = (await api.call('POST', '/customers', { email: 'kept@acme-follow.test', company_id: other.id })).body;
    expect(c).toMatchObject({ company_id: other.id, company_source: 'manual' });
    const a = await ticket();
    const name = `Robert'); DROP TABLE customers; -- "\\u0000`;
    expect(
      (await api.call('POST', `/tickets/${a.id}/followers`, { email: 'KEPT@acme-follow.test' }, api.agentToken)).status,
    ).toBe(201);
    expect(
      (await api.call('POST', `/tickets/${a.id}/followers`, { email: 'new@acme-follow.test', name }, api.agentToken))
        .status,
    ).toBe(201);
    const kept = await t.db('customers').where({ id: c.id }).first();
    expect(kept).toMatchObject({ company_id: other.id, company_source: 'manual' });
    const made = await t
      .db('customers as c')
      .join('customer_emails as e', 'e.customer_id', 'c.id')
      .where('e.address', 'new@acme-follow.test')
      .first('c.name', 'c.company_id', 'c.company_source');
    expect(made).toMatchObject({ name, company_id: acme.id, company_source: 'domain' });
  });
});
