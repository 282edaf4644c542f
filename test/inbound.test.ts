// Inbound processing end to end: mail sent over SMTP to the live ingest, processed by the live
// worker, checked in the database. Table-driven where the rules are.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './helpers/db.ts';
import {
  eventually,
  startBossFor,
  startTestIngest,
  startTestWorker,
  testInboundSettings,
  type TestIngest,
} from './helpers/app.ts';
import { sendRaw } from './helpers/smtp-client.ts';
import { staticResolver } from '../src/inbound/auth.ts';

let t: TestDatabase;
let app: TestIngest;
let seq = 0;

// DNS for the tests: strict.test publishes SPF -all and DMARC p=reject, so its mail fails DMARC
// from our test client; every other domain has no records (verdicts 'none').
const resolver = staticResolver({
  'TXT:strict.test': [['v=spf1 -all']],
  'TXT:_dmarc.strict.test': [['v=DMARC1; p=reject']],
});

beforeAll(async () => {
  t = await createTestDatabase();
  const boss = await startBossFor(t.url, true);
  app = await startTestIngest(t.url, { inboxes: ['support@localhost', 'sales@localhost'], boss });
  await startTestWorker(t.url, boss, 1, { ...testInboundSettings, resolver });
});

interface MailSpec {
  from?: string;
  to?: string;
  cc?: string;
  rcpt?: string[];
  envelopeFrom?: string;
  subject?: string;
  messageId?: string;
  inReplyTo?: string;
  references?: string;
  headers?: string[];
  body?: string;
}

interface Delivered {
  rawId: number;
  status: string;
  outcome: string | null;
  error: string | null;
  messageId: string;
}

/** Sends a mail through SMTP and waits until the worker has processed (or quarantined) it. */
async function deliver(spec: MailSpec = {}): Promise<Delivered> {
  const messageId = spec.messageId ?? `<m${++seq}.${Date.now()}@client.example>`;
  const lines = [
    `From: ${spec.from ?? 'Alice Example <alice@example.com>'}`,
    `To: ${spec.to ?? 'support@localhost'}`,
    ...(spec.cc ? [`Cc: ${spec.cc}`] : []),
    `Subject: ${spec.subject ?? 'Printer on fire'}`,
    'Date: Mon, 23 Nov 2026 10:00:00 +0000',
    `Message-ID: ${messageId}`,
    ...(spec.inReplyTo ? [`In-Reply-To: ${spec.inReplyTo}`] : []),
    ...(spec.references ? [`References: ${spec.references}`] : []),
    ...(spec.headers ?? []),
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8',
    '',
    spec.body ?? `Hello, this is mail ${seq}.`,
    '',
  ];
  const envelopeFrom =
    spec.envelopeFrom ??
    /<([^>]+)>|(\S+@\S+)/
      .exec(spec.from ?? '<alice@example.com>')
      ?.slice(1)
      .find(Boolean) ??
    '';
  const reply = await sendRaw(app.port, envelopeFrom, spec.rcpt ?? ['support@localhost'], lines.join('\r\n'));
  expect(reply.code, reply.text).toBe(250);
  const rawId = Number(/queued as (\d+)/.exec(reply.text)![1]);
  const row = await eventually(() =>
    t
      .db('raw_messages')
      .where({ id: rawId })
      .whereIn('status', ['processed', 'quarantined'])
      .first<{ status: string; outcome: string | null; error: string | null } | undefined>(
        'status',
        'outcome',
        'error',
      ),
  );
  return { rawId, ...row, messageId };
}

async function ticketOf(rawId: number) {
  return t
    .db('messages as m')
    .join('tickets as t', 't.id', 'm.ticket_id')
    .where('m.raw_message_id', rawId)
    .first('t.*');
}

async function customerByEmail(address: string) {
  return t
    .db('customer_emails as e')
    .join('customers as c', 'c.id', 'e.customer_id')
    .where('e.address', address)
    .first('c.*');
}

describe('a new mail', () => {
  it('creates the customer from the sender (with the display name), a ticket and its message', async () => {
    const d = await deliver({ from: 'Zoë Newcomer <Zoe.Newcomer@Example.org>', subject: 'Cannot log in' });
    expect(d).toMatchObject({ status: 'processed', outcome: 'ticket_created' });
    const customer = await customerByEmail('zoe.newcomer@example.org');
    expect(customer).toMatchObject({ name: 'Zoë Newcomer', company_id: null });
    const ticket = await ticketOf(d.rawId);
    expect(ticket).toMatchObject({ subject: 'Cannot log in', status: 'open', requester_id: customer.id });
    const message = await t.db('messages').where({ raw_message_id: d.rawId }).first();
    expect(message).toMatchObject({
      direction: 'inbound',
      author_customer_id: customer.id,
      message_id: d.messageId,
      classification: 'normal',
    });
    expect(message.auth).toMatchObject({
      spf: expect.any(String),
      dkim: expect.any(String),
      dmarc: expect.any(String),
    });
    const events = await t.db('events').where({ ticket_id: ticket.id }).pluck('type');
    expect(events).toEqual(expect.arrayContaining(['ticket.created', 'message.received']));
  });

  it('numbers tickets per inbox', async () => {
    const a = await ticketOf((await deliver({ rcpt: ['sales@localhost'], to: 'sales@localhost' })).rawId);
    const b = await ticketOf((await deliver({ rcpt: ['sales@localhost'], to: 'sales@localhost' })).rawId);
    expect([a.number, b.number]).toEqual([1, 2]);
  });
});

describe('threading', () => {
  let first: Delivered;
  let ticket: { id: number; number: number; reply_token: string; requester_id: number };
  beforeAll(async () => {
    first = await deliver({ from: 'Tom Thread <tom@threads.example>', subject: 'Where is my order?' });
    ticket = await ticketOf(first.rawId);
  });

  it.each([
    [
      'the reply token in the recipient address',
      () => ({ rcpt: [`support+${ticket.reply_token}@localhost`], subject: 'unrelated subject' }),
      true,
    ],
    [
      'the token in upper case (some systems change the case)',
      () => ({ rcpt: [`support+${ticket.reply_token.toUpperCase()}@localhost`], subject: 'x' }),
      true,
    ],
    [
      'In-Reply-To naming a stored message',
      () => ({ inReplyTo: first.messageId, subject: 'Re: something else' }),
      true,
    ],
    [
      'References naming a stored message',
      () => ({ references: `<unknown@x> ${first.messageId}`, subject: 'Re: x' }),
      true,
    ],
    [
      '[#number] in the subject from the requester',
      () => ({ subject: `Re: [#${ticket.number}] Where is my order?` }),
      true,
    ],
    [
      '[#number] in the subject from a stranger',
      () => ({ from: 'Mallory <mallory@evil.example>', subject: `[#${ticket.number}] gimme` }),
      false,
    ],
    [
      'a token of another inbox',
      () => ({ rcpt: [`sales+${ticket.reply_token}@localhost`], to: 'sales@localhost' }),
      false,
    ],
    ['nothing that names the ticket', () => ({ subject: 'Where is my order?' }), false],
  ])('by %s: threaded = %s', async (_name, spec, threaded) => {
    const d = await deliver({ from: 'Tom Thread <tom@threads.example>', ...spec() });
    const got = await ticketOf(d.rawId);
    if (threaded) {
      expect(got.id).toBe(ticket.id);
      expect(d.outcome).toBe('reply');
    } else {
      expect(got.id).not.toBe(ticket.id);
      expect(d.outcome).toBe('ticket_created');
    }
  });

  it('a reply from an alternate address of the requester threads by subject and lands in their history', async () => {
    await t
      .db('customer_emails')
      .insert({ customer_id: ticket.requester_id, address: 'tom.private@home.example', is_primary: false });
    const d = await deliver({ from: 'Tom <Tom.Private@home.example>', subject: `Re: [#${ticket.number}] order` });
    const got = await ticketOf(d.rawId);
    expect(got.id).toBe(ticket.id);
    const message = await t.db('messages').where({ raw_message_id: d.rawId }).first();
    expect(message.author_customer_id).toBe(ticket.requester_id);
    expect(await t.db('customer_emails').where({ address: 'tom.private@home.example' })).toHaveLength(1);
  });

  it('an untrusted From (DMARC fail) joins no ticket, by subject or by token, and opens a flagged one', async () => {
    const first = await deliver({ from: 'Sam <sam@strict.test>', subject: 'Invoice' });
    const own = await ticketOf(first.rawId);
    const d = await deliver({ from: 'Sam <sam@strict.test>', subject: `Re: [#${own.number}] Invoice` });
    const got = await ticketOf(d.rawId);
    expect(got.id).not.toBe(own.id);
    expect(got.needs_review).toBe(true);
    const message = await t.db('messages').where({ raw_message_id: d.rawId }).first();
    expect(message.auth.dmarc).toBe('fail');
    expect(message.untrusted_from).toBe(true);
    expect(message.sender_trust).toBe('untrusted');
    // not by a reply token either: a forged From with a leaked token must not post as the customer
    const byToken = await deliver({ from: 'Sam <sam@strict.test>', rcpt: [`support+${own.reply_token}@localhost`] });
    const other = await ticketOf(byToken.rawId);
    expect(other.id).not.toBe(own.id);
    expect(other.needs_review).toBe(true);
  });
});

describe('companies', () => {
  beforeAll(async () => {
    const [acme] = await t.db('companies').insert({ name: 'Acme' }).returning('id');
    const [acmeEu] = await t.db('companies').insert({ name: 'Acme Europe' }).returning('id');
    const [freemailCo] = await t.db('companies').insert({ name: 'Claims Gmail' }).returning('id');
    await t.db('company_domains').insert([
      { domain: 'acme.com', company_id: acme.id },
      { domain: 'eu.acme.com', company_id: acmeEu.id },
      { domain: 'gmail.com', company_id: freemailCo.id },
    ]);
  });

  it.each([
    ['bob@acme.com', 'Acme'],
    ['bob@sales.acme.com', 'Acme'],
    ['bob@eu.acme.com', 'Acme Europe'],
    ['bob@de.eu.acme.com', 'Acme Europe'],
    ['bob@acme.com.evil.example', null],
    ['bob@notacme.com', null],
    ['bob@gmail.com', null],
    ['bob@mailinator.com', null],
  ])('a new customer %s joins %s', async (address, company) => {
    await deliver({ from: address });
    const customer = await customerByEmail(address);
    const name = customer.company_id ? (await t.db('companies').where({ id: customer.company_id }).first()).name : null;
    expect(name).toBe(company);
    expect(customer.company_source).toBe(company ? 'domain' : null);
  });

  it('a company chosen by hand is kept whatever the domain says', async () => {
    const [other] = await t.db('companies').insert({ name: 'Hand Picked' }).returning('id');
    const [c] = await t
      .db('customers')
      .insert({ name: 'Manual Mary', company_id: other.id, company_source: 'manual' })
      .returning('id');
    await t.db('customer_emails').insert({ customer_id: c.id, address: 'mary@acme.com', is_primary: true });
    const d = await deliver({ from: 'mary@acme.com' });
    const customer = await customerByEmail('mary@acme.com');
    expect(customer).toMatchObject({ company_id: other.id, company_source: 'manual' });
    expect((await ticketOf(d.rawId)).company_id).toBe(other.id);
  });
});

describe('followers', () => {
  it('CC and the other To addresses follow the ticket; inboxes and the sender do not', async () => {
    const d = await deliver({
      from: 'Fay <fay@follow.example>',
      to: 'support@localhost, Dan <dan@follow.example>',
      cc: 'Carol <carol@follow.example>, SUPPORT+abc@localhost, sales@localhost, fay@follow.example',
      rcpt: ['support@localhost'],
    });
    const ticket = await ticketOf(d.rawId);
    const followers = await t
      .db('ticket_followers as f')
      .join('customer_emails as e', 'e.customer_id', 'f.customer_id')
      .where('f.ticket_id', ticket.id)
      .orderBy('e.address')
      .pluck('e.address');
    expect(followers).toEqual(['carol@follow.example', 'dan@follow.example']);
    expect(await customerByEmail('carol@follow.example')).toMatchObject({ name: 'Carol' });
    // a follower's [#number] reply threads: they are associated with the ticket
    const reply = await deliver({ from: 'carol@follow.example', subject: `Re: [#${ticket.number}]` });
    expect((await ticketOf(reply.rawId)).id).toBe(ticket.id);
  });
});

describe('closed tickets', () => {
  it.each([
    ['reopens a ticket closed recently', 1, 'reopened'],
    ['opens a new, linked ticket after REOPEN_DAYS', 40, 'new_linked_ticket'],
  ])('a reply %s', async (_name, daysAgo, outcome) => {
    const first = await deliver({ from: `closer${daysAgo}@close.example` });
    const ticket = await ticketOf(first.rawId);
    await t
      .db('tickets')
      .where({ id: ticket.id })
      .update({ status: 'closed', closed_at: t.db.raw(`now() - interval '${daysAgo} days'`) });
    const reply = await deliver({ from: `closer${daysAgo}@close.example`, inReplyTo: first.messageId });
    expect(reply.outcome).toBe(outcome);
    const got = await ticketOf(reply.rawId);
    if (outcome === 'reopened') {
      expect(got).toMatchObject({ id: ticket.id, status: 'open', closed_at: null });
    } else {
      expect(got).toMatchObject({ status: 'open', previous_ticket_id: ticket.id });
      expect((await t.db('tickets').where({ id: ticket.id }).first()).status).toBe('closed');
    }
  });
});

describe('automatic mail', () => {
  it('an auto-reply joins the ticket it answers, creates nothing, and an unmatched one is dropped', async () => {
    const first = await deliver({ from: 'vic@vacation.example' });
    const ticket = await ticketOf(first.rawId);
    const customers = await t.db('customers').count<{ count: number }[]>({ count: '*' });
    const ooo = await deliver({
      from: 'vic@vacation.example',
      subject: 'Out of office',
      inReplyTo: first.messageId,
      headers: ['Auto-Submitted: auto-replied'],
    });
    expect(ooo.outcome).toBe('auto_reply');
    expect((await ticketOf(ooo.rawId)).id).toBe(ticket.id);
    expect((await t.db('messages').where({ raw_message_id: ooo.rawId }).first()).classification).toBe('auto-reply');
    const stray = await deliver({
      from: 'someone@vacation.example',
      subject: 'Automatic reply: hi',
      headers: ['Auto-Submitted: auto-replied'],
    });
    expect(stray.outcome).toBe('auto_reply_unmatched');
    expect(await ticketOf(stray.rawId)).toBeUndefined();
    expect(await t.db('customers').count<{ count: number }[]>({ count: '*' })).toEqual(customers);
  });

  it('a bounce marks the outbound message it answers and suppresses its recipient after a hard failure', async () => {
    const first = await deliver({ from: 'bea@bounce.example' });
    const ticket = await ticketOf(first.rawId);
    const [out] = await t
      .db('outbound_messages')
      .insert({
        kind: 'ack',
        ticket_id: ticket.id,
        recipient: 'bea@bounce.example',
        message_id: '<out-1@help.inbound.test>',
        verp_token: 'verpBea123',
        status: 'sent',
      })
      .returning('id');
    const customers = await t.db('customers').count<{ count: number }[]>({ count: '*' });
    const dsn = [
      'From: Mail Delivery System <MAILER-DAEMON@mx.bounce.example>',
      'To: support@localhost',
      'Subject: Undelivered Mail Returned to Sender',
      'Message-ID: <dsn-1@mx.bounce.example>',
      'MIME-Version: 1.0',
      'Content-Type: multipart/report; report-type=delivery-status; boundary="b1"',
      '',
      '--b1',
      'Content-Type: text/plain',
      '',
      'Your message could not be delivered.',
      '--b1',
      'Content-Type: message/delivery-status',
      '',
      'Reporting-MTA: dns; mx.bounce.example',
      '',
      'Final-Recipient: rfc822; bea@bounce.example',
      'Action: failed',
      'Status: 5.1.1',
      'Diagnostic-Code: smtp; 550 5.1.1 user unknown',
      '',
      '--b1',
      'Content-Type: text/rfc822-headers',
      '',
      'From: support@localhost',
      'To: bea@bounce.example',
      'Message-ID: <out-1@help.inbound.test>',
      'Subject: [#1] We got your mail',
      '',
      '--b1--',
      '',
    ].join('\r\n');
    // naming our Message-ID proves nothing: anyone can write such a "bounce"
    const forged = await sendRaw(app.port, '', ['support@localhost'], dsn.replace('dsn-1@', 'dsn-0@'));
    const forgedId = Number(/queued as (\d+)/.exec(forged.text)![1]);
    const unmatched = await eventually(() => t.db('raw_messages').where({ id: forgedId, status: 'processed' }).first());
    expect(unmatched.outcome).toBe('bounce_unmatched');
    expect(await t.db('outbound_messages').where({ id: out.id }).first()).toMatchObject({ status: 'sent' });
    expect(await t.db('suppressions').where({ address: 'bea@bounce.example' }).first()).toBeUndefined();

    // delivered to the VERP return path of the message we sent: genuine
    const reply = await sendRaw(app.port, '', ['support+verpBea123@localhost'], dsn);
    const rawId = Number(/queued as (\d+)/.exec(reply.text)![1]);
    const row = await eventually(() => t.db('raw_messages').where({ id: rawId, status: 'processed' }).first());
    expect(row.outcome).toBe('bounce');
    expect(await t.db('outbound_messages').where({ id: out.id }).first()).toMatchObject({ status: 'bounced' });
    expect(await t.db('suppressions').where({ address: 'bea@bounce.example' }).first()).toMatchObject({
      outbound_id: out.id,
    });
    expect(await t.db('messages').where({ raw_message_id: rawId })).toHaveLength(0);
    expect(await t.db('customers').count<{ count: number }[]>({ count: '*' })).toEqual(customers);
  });

  it('our own mail coming back (loop header) creates nothing', async () => {
    const d = await deliver({ from: 'support@localhost', headers: ['X-Inbound-Loop: 1'] });
    expect(d.outcome).toBe('own_mail');
    expect(await ticketOf(d.rawId)).toBeUndefined();
  });
});

describe('quarantine and reprocess', () => {
  const bin = path.resolve(import.meta.dirname, '../bin/inbound.js');
  const cli = (args: string[]) =>
    promisify(execFile)(process.execPath, [bin, ...args], { env: { ...process.env, DATABASE_URL: t.url } }).then(
      (r) => ({ code: 0, ...r }),
      (e: { code: number; stdout: string; stderr: string }) => e,
    );

  it('a mail past the parse limits is quarantined with its reason, kept, listed, and stays so on reprocess', async () => {
    // written with a space before the colon, which a text scan for "Content-Type:" would miss
    const parts = Array.from(
      { length: 1_100 },
      (_, i) => `--b\r\nContent-Type : multipart/mixed; boundary="b${i}"\r\n\r\n--b${i}--`,
    ).join('\r\n');
    const d = await deliver({ headers: ['Content-Type: multipart/mixed; boundary="b"'], body: parts });
    expect(d.status).toBe('quarantined');
    expect(d.error).toMatch(/more than 1000 MIME parts, over the limit/);
    expect((await t.db('raw_messages').where({ id: d.rawId }).first()).raw).not.toBeNull();
    const listed = JSON.parse((await cli(['messages', 'list', '--status', 'quarantined', '--json'])).stdout);
    expect(listed.map((m: { id: number }) => m.id)).toContain(d.rawId);
    const again = await cli(['reprocess', String(d.rawId)]);
    expect(again.code).toBe(1);
    expect(again.stdout).toMatch(/quarantined - cannot parse/);
  });

  it('reprocess runs a quarantined mail again, once: never a second ticket', async () => {
    const d = await deliver({ from: 'quinn@quarantine.example' });
    const ticket = await ticketOf(d.rawId);
    // as if processing had failed on its last try: the message is gone, the raw mail quarantined
    await t.db('messages').where({ raw_message_id: d.rawId }).delete();
    await t.db('tickets').where({ id: ticket.id }).delete();
    await t
      .db('raw_messages')
      .where({ id: d.rawId })
      .update({ status: 'quarantined', error: 'database went away', outcome: null });

    const all = await cli(['reprocess', '--all-quarantined']);
    expect(all.stdout).toMatch(new RegExp(`${d.rawId}: ticket_created`));
    const once = await cli(['reprocess', String(d.rawId)]);
    expect(once.stdout).toMatch(/unchanged \(processed\)/);
    expect(await t.db('messages').where({ raw_message_id: d.rawId })).toHaveLength(1);
    const tickets = await t
      .db('messages as m')
      .join('tickets as t', 't.id', 'm.ticket_id')
      .where('m.raw_message_id', d.rawId)
      .pluck('t.id');
    expect(tickets).toHaveLength(1);
  });
});

describe('tickets CLI', () => {
  it('lists tickets and shows one with requester, followers, company and messages', async () => {
    const d = await deliver({ from: 'Ada <ada@acme.com>', cc: 'Ben <ben@cli.example>', subject: 'CLI check' });
    const ticket = await ticketOf(d.rawId);
    const bin = path.resolve(import.meta.dirname, '../bin/inbound.js');
    const env = { ...process.env, DATABASE_URL: t.url };
    const list = JSON.parse(
      (await promisify(execFile)(process.execPath, [bin, 'tickets', 'list', '--json'], { env })).stdout,
    );
    expect(list).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ id: ticket.id, subject: 'CLI check', requester: 'ada@acme.com', company: 'Acme' }),
      ]),
    );
    const shown = JSON.parse(
      (await promisify(execFile)(process.execPath, [bin, 'tickets', 'show', `id:${ticket.id}`, '--json'], { env }))
        .stdout,
    );
    expect(shown).toMatchObject({
      number: ticket.number,
      requester: { name: 'Ada', email: 'ada@acme.com' },
      company: { name: 'Acme' },
      followers: [{ name: 'Ben', email: 'ben@cli.example' }],
      messages: [
        {
          message_id: d.messageId,
          from: 'ada@acme.com',
          classification: 'normal',
          auth: { spf: expect.any(String), dkim: expect.any(String), dmarc: expect.any(String) },
        },
      ],
    });
    const text = (await promisify(execFile)(process.execPath, [bin, 'tickets', 'show', `id:${ticket.id}`], { env }))
      .stdout;
    expect(text).toMatch(/requester: Ada <ada@acme.com>/);
  });
});
