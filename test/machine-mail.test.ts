// Machine mail in every language, and no-reply senders, end to end: each row of the responder
// subject table (responder-subjects.ts) and of the challenge-response table
// (challenge-response.ts) goes through SMTP and the worker twice, answering a ticket (it joins
// as machine mail: its classification is read back from the stored message) and answering
// nothing (no ticket, no customer); the header marks come first; people's mail that only mentions
// such words opens a ticket. A no-reply sender's mail opens a ticket, but nothing is ever mailed
// to that address (no ack, no welcome, no agent reply, no closing note), and the page says why.
import { beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './helpers/db.ts';
import { startTestApi, type TestApi } from './helpers/api.ts';
import { eventually, startBossFor, startTestIngest, startTestOutbound, startTestWorker } from './helpers/app.ts';
import { sendRaw } from './helpers/smtp-client.ts';
import { startSink, type Sink } from './helpers/sink.ts';
import { RESPONDER_SUBJECTS, AUTO_REPLY_HINTS } from '../src/inbound/responder-subjects.ts';
import { CHALLENGE_PHRASES } from '../src/inbound/challenge-response.ts';
import { foldText } from '../src/inbound/text-fold.ts';
import { isNoReplyAddress, NO_REPLY_LOCAL_PARTS } from '../src/outbound/index.ts';

let t: TestDatabase;
let api: TestApi;
let sink: Sink;
let web: string;
let smtpPort: number;
let seq = 0;
let baseTicketId: number;

/** Machine cases go to an inbox without acks: any outbound row at all would be a failure. */
const MACHINES = 'machines@localhost';
/** No-reply cases go to an inbox that acks and invites to the portal. */
const SUPPORT = 'support@localhost';
const RITA = 'rita@customer.test';
const BASE_ID = '<base.1@customer.test>';

beforeAll(async () => {
  t = await createTestDatabase();
  api = await startTestApi(t.url);
  web = api.base.replace(/\/api\/v1$/, '');
  sink = await startSink();
  smtpPort = (await startTestIngest(t.url, { inboxes: [MACHINES, SUPPORT] })).port;
  await t
    .db('inboxes')
    .where({ address: MACHINES })
    .update({ settings: { ack: false } });
  await t
    .db('inboxes')
    .where({ address: SUPPORT })
    .update({ settings: { portal_welcome: true } });
  const boss = await startBossFor(t.url, true);
  await startTestWorker(t.url, boss, 1);
  await startTestOutbound(t.db, boss, sink.url, web);
  // the ticket the machine mail answers: Rita's, whose responder writes back
  const base = await mail([`From: Rita <${RITA}>`, 'Subject: Order 1234'], {
    from: RITA,
    messageId: BASE_ID,
  });
  expect(base.outcome).toBe('ticket_created');
  baseTicketId = (await t.db('messages').where({ raw_message_id: base.rawId }).first('ticket_id')).ticket_id;
}, 60_000);

/** RFC 2047 for a header value that is not ASCII. */
const encoded = (value: string) =>
  /^[\x00-\x7f]*$/.test(value) ? value : `=?UTF-8?B?${Buffer.from(value, 'utf8').toString('base64')}?=`;

/** Sends a mail and waits until it is processed; its raw id and outcome. */
async function mail(
  lines: string[],
  o: { from: string; to?: string; body?: string; messageId?: string },
): Promise<{ rawId: number; outcome: string }> {
  const headers = lines.map((l) => (l.startsWith('Subject: ') ? `Subject: ${encoded(l.slice(9))}` : l));
  const raw = [
    ...headers,
    `To: ${o.to ?? MACHINES}`,
    `Message-ID: ${o.messageId ?? `<m${++seq}.${Date.now()}@sender.test>`}`,
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8',
    'Content-Transfer-Encoding: 8bit',
    '',
    ...(o.body ?? 'Hello.').split('\n'),
    '',
  ].join('\r\n');
  const reply = await sendRaw(smtpPort, o.from, [o.to ?? MACHINES], raw);
  expect(reply.code).toBe(250);
  const rawId = Number(/queued as (\d+)/.exec(reply.text)![1]);
  const row = await eventually(
    () =>
      t.db('raw_messages').where({ id: rawId, status: 'processed' }).first<{ outcome: string } | undefined>('outcome'),
    20_000,
  );
  return { rawId, outcome: row.outcome };
}

const storedAs = (rawId: number) =>
  t
    .db('messages')
    .where({ raw_message_id: rawId })
    .first<{ ticket_id: number; classification: string; classification_reasons: string[] } | undefined>(
      'ticket_id',
      'classification',
      'classification_reasons',
    );

/** Tickets and customers a raw message made (the events name the raw message). */
const madeBy = (rawIds: number[]) =>
  t
    .db('events')
    .whereIn('type', ['ticket.created', 'customer.created'])
    .whereRaw(`(data->>'rawId')::bigint = ANY(?)`, [rawIds])
    .pluck('type');

/**
 * The mail twice: from Rita answering her ticket (it joins as machine mail and is stored with its
 * classification), and from a stranger answering nothing (nothing is made of it). Neither opens a
 * ticket or makes a customer, and no outbound row exists in this inbox.
 */
async function expectMachineMail(lines: string[], reason: string, body?: string): Promise<void> {
  const answering = await mail([`From: Rita <${RITA}>`, ...lines, `In-Reply-To: ${BASE_ID}`], { from: RITA, body });
  expect(answering.outcome).toBe('auto_reply');
  const stored = await storedAs(answering.rawId);
  expect(stored).toMatchObject({ ticket_id: baseTicketId, classification: 'auto-reply' });
  expect(stored!.classification_reasons).toContain(reason);

  const stranger = `ooo${++seq}@elsewhere.test`;
  const unmatched = await mail([`From: Someone <${stranger}>`, ...lines], { from: stranger, body });
  expect(unmatched.outcome).toBe('auto_reply_unmatched');
  expect(await storedAs(unmatched.rawId)).toBeUndefined();
  expect(await t.db('customer_emails').where({ address: stranger }).first()).toBeUndefined();

  expect(await madeBy([answering.rawId, unmatched.rawId])).toEqual([]);
  expect(await t.db('outbound_messages').whereIn('recipient', [RITA, stranger]).first()).toBeUndefined();
}

/** A person's mail to the machines inbox: a ticket of its own, classified normal. */
async function expectPersonMail(subject: string, body?: string): Promise<void> {
  const from = `person${++seq}@customer.test`;
  const m = await mail([`From: Pat <${from}>`, `Subject: ${subject}`], { from, body });
  expect(m.outcome).toBe('ticket_created');
  expect(await storedAs(m.rawId)).toMatchObject({ classification: 'normal', classification_reasons: [] });
}

// ---------------------------------------------------------------------------------------------

describe('responder subjects, every row of the table, without any header', () => {
  it('covers every required language', () => {
    const required = ['en', 'de', 'fr', 'es', 'it', 'nl', 'pl', 'pt', 'pt-BR', 'sv', 'da', 'fi', 'cs', 'sk'];
    required.push('sl', 'hr', 'hu', 'ro', 'bg', 'el', 'et', 'lv', 'lt', 'ga', 'mt');
    required.push('ru', 'uk', 'tr', 'zh-Hans', 'zh-Hant', 'ja', 'ko');
    const langs = new Set(RESPONDER_SUBJECTS.map((r) => r.lang));
    expect(required.filter((l) => !langs.has(l))).toEqual([]);
    for (const r of RESPONDER_SUBJECTS) expect(r.source, r.text).toBeTruthy();
  });

  it.concurrent.each(RESPONDER_SUBJECTS.map((r) => [`${r.lang} ${r.text} (${r.source.slice(0, 40)})`, r] as const))(
    '%s',
    async (_name, row) => {
      const subject = row.alsoContains
        ? `${row.text} Rita Smith ${row.alsoContains}. (returning 05/01)`
        : `${row.text} Order 1234`;
      await expectMachineMail([`Subject: ${subject}`], 'subject:responder');
    },
  );

  it.concurrent.each(
    RESPONDER_SUBJECTS.filter((r) => !r.alsoContains).map((r) => [r.lang, r.text.toUpperCase()] as const),
  )('%s in capitals, %j, is still one', async (_lang, prefix) => {
    await expectMachineMail([`Subject: ${prefix} Order 1234`], 'subject:responder');
  });

  it.concurrent.each([
    ['French with a no-break space before the colon', 'Réponse\u00a0automatique\u202f: Commande 1234'],
    ['Japanese with a full-width colon', '自動応答：注文 1234'],
    ['Chinese with a full-width colon', '自动答复：订单 1234'],
    ['Turkish in capitals (dotted capital I)', 'OTOMATİK YANIT: Sipariş 1234'],
    ['leading spaces', '   Automatic reply: Order 1234'],
  ])('%s', async (_name, subject) => {
    await expectMachineMail([`Subject: ${subject}`], 'subject:responder');
  });
});

describe('auto-reply hints count only beside a mailer mark', () => {
  it.concurrent.each(AUTO_REPLY_HINTS.map((h) => [h.text, h] as const))('%j + Precedence: bulk', async (_t, hint) => {
    const subject = hint.where === 'start' ? `${hint.text} Order 1234` : `Re: Order 1234 (${hint.text})`;
    await expectMachineMail([`Subject: ${subject}`, 'Precedence: bulk'], 'subject:auto-reply');
  });

  it.concurrent.each([
    ['Auto: car insurance question'],
    ['Out of office - printer broken again'],
    ['Auto reply does not work for our team'],
    ['On vacation next week, please answer before'],
  ])('%j alone is a person writing', async (subject) => {
    await expectPersonMail(subject);
  });
});

describe('headers first: responders that keep the subject', () => {
  it.concurrent.each([
    [
      'Gmail vacation responder',
      ['Subject: Re: Order 1234', 'Auto-Submitted: auto-replied'],
      'auto-submitted:auto-replied',
    ],
    [
      'Zimbra out of office',
      ['Subject: Re: Order 1234', 'Auto-Submitted: auto-replied (zimbra; vacation)'],
      'auto-submitted:auto-replied',
    ],
    [
      'Sieve vacation (RFC 5230)',
      ['Subject: Auto: Order 1234', 'Auto-Submitted: auto-replied'],
      'auto-submitted:auto-replied',
    ],
    [
      'a notification (Auto-Submitted: auto-generated)',
      ['Subject: Order shipped', 'Auto-Submitted: auto-generated'],
      'auto-submitted:auto-generated',
    ],
    ['X-Autoreply', ['Subject: Re: Order 1234', 'X-Autoreply: yes'], 'x-autoreply'],
    ['X-Autorespond', ['Subject: Re: Order 1234', 'X-Autorespond: Order 1234'], 'x-autorespond'],
    ['Precedence: auto_reply', ['Subject: Re: Order 1234', 'Precedence: auto_reply'], 'precedence:auto_reply'],
    [
      'Exchange: X-Auto-Response-Suppress',
      ['Subject: Re: Order 1234', 'X-Auto-Response-Suppress: All'],
      'x-auto-response-suppress',
    ],
    [
      'Exchange inbox rule: X-MS-Exchange-Inbox-Rules-Loop',
      ['Subject: Re: Order 1234', `X-MS-Exchange-Inbox-Rules-Loop: ${RITA}`],
      'x-ms-exchange-inbox-rules-loop',
    ],
    ['iCloud vacation', ['Subject: Auto reply: Order 1234', 'X-Apple-Action: VACATION'], 'x-apple-action:vacation'],
  ] as const)('%s', async (_name, lines, reason) => {
    await expectMachineMail([...lines], reason);
  });
});

describe('challenge-response, every row of the table', () => {
  it.concurrent.each(CHALLENGE_PHRASES.map((p) => [`${p.lang} ${p.where}: ${p.text}`, p] as const))(
    '%s',
    async (_name, p) => {
      if (p.where === 'subject') await expectMachineMail([`Subject: ${p.text}`], 'challenge-response');
      else
        await expectMachineMail(
          ['Subject: Re: Order 1234'],
          'challenge-response',
          `Hello,\n\nyour message is on hold. ${p.text}, use this link:\nhttps://cr.example/confirm?id=42\n\nThank you`,
        );
    },
  );

  it('a customer forwarding or quoting a challenge to ask about it opens a ticket', async () => {
    await expectPersonMail(
      'Fwd: Confirm your address',
      'Hi, I got this and the link is dead:\n\nPlease verify your email address by clicking the link below.',
    );
    await expectPersonMail(
      'Cannot reach your colleague',
      'His filter answers with this:\n\n> To be added to my approved senders list, click here.\n\nCan you help?',
    );
    await expectPersonMail(
      'Cannot reach your colleague again',
      'See below.\n\n-----Original Message-----\nFrom: Bob\nConfirm you are a human: https://cr.example/x',
    );
  });
});

describe("people's mail that mentions such words", () => {
  it.concurrent.each([
    ['Question about the automatic reply: it goes out twice'],
    ['Re: Automatic reply: my order'],
    ['Our automatic reply: is it configurable?'],
    ['AW: Automatische Antwort: Bestellung'],
  ])('%j opens a ticket', async (subject) => {
    await expectPersonMail(subject);
  });
});

describe('the mail samples that are reports of Amazon SES through SNS stay machine mail', () => {
  it('an SES bounce notification from no-reply@sns.amazonaws.com opens nothing', async () => {
    const json = '{"notificationType":"Bounce","bounce":{"bounceType":"Permanent"}}';
    await expectMachineMail(
      ['Subject: AWS Notification Message', 'x-amz-sns-message-id: 02f86d9b-eecf-573d-b47d-3d1850750c30'],
      'amazon-ses-notification',
      `{\n  "Type" : "Notification",\n  "Message" : ${JSON.stringify(json)}\n}`,
    );
  });
});

// ---------------------------------------------------------------------------------------------

describe('the no-reply table', () => {
  it.each(NO_REPLY_LOCAL_PARTS.map((r) => [r.text, r] as const))('%j', (_text, row) => {
    const local =
      row.match === 'prefix' ? `${row.text}orders` : row.match === 'suffix' ? `orders${row.text}` : row.text;
    expect(isNoReplyAddress(`${local}@shop.test`)).toBe(true);
    expect(isNoReplyAddress(`${local.toUpperCase()}+tag@shop.test`)).toBe(true);
    // the name alone is no name of its own beside a prefix or a suffix
    if (row.match !== 'exact') expect(isNoReplyAddress(`${row.text}@shop.test`)).toBe(false);
  });
  it.each(['noreen@shop.test', 'reply@shop.test', 'orders@noreply.test', 'no@shop.test', 'replyno@shop.test'])(
    '%s takes mail',
    (address) => expect(isNoReplyAddress(address)).toBe(false),
  );
});

describe('no-reply senders', () => {
  const PO = 'noreply@acme-erp.test';
  const BUYER = 'buyer@acme.test';
  let ticketId: number;

  it("a purchase order from noreply@ opens a ticket, noted, with no ack and no welcome; a person's mail beside it gets both", async () => {
    const m = await mail(
      ['From: Acme Purchasing <noreply@acme-erp.test>', 'Subject: Purchase order PO-1001', `Cc: Bea Buyer <${BUYER}>`],
      { from: PO, to: SUPPORT, body: 'Please deliver 40 units of item 7 by Friday.\nPO-1001' },
    );
    expect(m.outcome).toBe('ticket_created');
    const stored = await storedAs(m.rawId);
    expect(stored).toMatchObject({ classification: 'normal', classification_reasons: ['no-reply sender'] });
    ticketId = stored!.ticket_id;

    const control = await mail(['From: Carl <carl@customer.test>', 'Subject: Where is my order?'], {
      from: 'carl@customer.test',
      to: SUPPORT,
    });
    expect(control.outcome).toBe('ticket_created');
    await eventually(
      async () =>
        (await t.db('outbound_messages').where({ recipient: 'carl@customer.test' })).length === 2 || undefined,
      15_000,
    );
    expect(await t.db('outbound_messages').where({ recipient: PO })).toEqual([]);
    const customer = await t
      .db('customers as c')
      .join('customer_emails as e', 'e.customer_id', 'c.id')
      .where('e.address', PO)
      .first('c.name', 'c.portal_status');
    expect(customer).toEqual({ name: 'Acme Purchasing', portal_status: 'none' });

    // the API's ticket view says why
    const view = (await api.call('GET', `/tickets/${ticketId}`)).body;
    expect(view.requester).toMatchObject({ email: PO, mail_refused: 'no-reply address' });
    expect(view.followers).toEqual([expect.objectContaining({ email: BUYER, mail_refused: null })]);
  });

  it('an agent reply reaches the follower and nothing reaches the no-reply address; the page says why', async () => {
    const r = await api.call('POST', `/tickets/${ticketId}/replies`, { body: 'Confirmed for Friday.' }, api.agentToken);
    expect(r.status).toBe(201);
    const toBuyer = await eventually(async () => sink.mails.find((x) => x.to.includes(BUYER)), 15_000);
    const refused = await eventually(
      () =>
        t
          .db('outbound_messages')
          .where({ recipient: PO, kind: 'agent_reply', status: 'suppressed' })
          .first<{ last_error: string } | undefined>('last_error'),
      15_000,
    );
    expect(refused.last_error).toBe('no-reply address');

    const link = new RegExp(`${web}/t/[A-Za-z0-9_-]{43}`).exec(toBuyer.mail.text!)![0];
    const html = await (await fetch(link)).text();
    expect(html).toContain('Replies are not mailed to Acme Purchasing: their address does not accept mail.');
    expect(html).not.toContain(PO);

    // the follower closes the ticket: the closing note to the requester is refused as well
    const csrf = /action="[^"]*\/close"[\s\S]*?name="csrf" value="([^"]+)"/.exec(html)![1]!;
    const closed = await fetch(`${link}/close`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `csrf=${encodeURIComponent(csrf)}`,
      redirect: 'manual',
    });
    expect(closed.status).toBe(303);
    await eventually(
      () => t.db('outbound_messages').where({ recipient: PO, kind: 'ticket_closed', status: 'suppressed' }).first(),
      15_000,
    );
  });

  it('a row made any other way (here written directly, as inbound writes acks) is refused at send', async () => {
    const requester = await t.db('tickets').where({ id: ticketId }).first('requester_id');
    const [row] = await t
      .db('outbound_messages')
      .insert({
        kind: 'ack',
        ticket_id: ticketId,
        customer_id: requester.requester_id,
        recipient: 'No-Reply@Acme-ERP.test',
      })
      .returning('id');
    const done = await eventually(
      () =>
        t
          .db('outbound_messages')
          .where({ id: row.id })
          .whereNot({ status: 'queued' })
          .first<{ status: string; last_error: string } | undefined>('status', 'last_error'),
      15_000,
    );
    expect(done).toEqual({ status: 'suppressed', last_error: 'no-reply address' });
    expect(sink.mails.filter((x) => x.to.some(isNoReplyAddress))).toEqual([]);
  });

  it.each(NO_REPLY_LOCAL_PARTS.map((r) => [r.text, r] as const))(
    'from %j: a ticket, nothing mailed back',
    async (_text, row) => {
      const local =
        row.match === 'prefix' ? `${row.text}alerts` : row.match === 'suffix' ? `alerts${row.text}` : row.text;
      const from = `${local}@monitor${++seq}.test`;
      const m = await mail([`From: Monitor <${from}>`, 'Subject: Disk almost full on db-2'], { from, to: SUPPORT });
      expect(m.outcome).toBe('ticket_created');
      expect(await storedAs(m.rawId)).toMatchObject({ classification_reasons: ['no-reply sender'] });
      expect(await t.db('outbound_messages').where({ recipient: from })).toEqual([]);
    },
  );

  it('a no-reply sender with the marks of machine mail is machine mail', async () => {
    const from = 'noreply@shop.test';
    const m = await mail([`From: Shop <${from}>`, 'Subject: Your order shipped', 'Auto-Submitted: auto-generated'], {
      from,
      to: SUPPORT,
    });
    expect(m.outcome).toBe('auto_reply_unmatched');
    expect(await t.db('customer_emails').where({ address: from }).first()).toBeUndefined();
  });
});

describe('the fold', () => {
  it.each([
    ['Réponse\u00a0automatique\u202f: x', 'réponse automatique: x'],
    ['  AUTOMATIC   REPLY :x', 'automatic reply:x'],
    ['自動応答：x', '自動応答:x'],
    ['OTOMATİK YANIT', 'otomatik yanit'],
    ['[ Automatyczna odpowiedź ] x', '[automatyczna odpowiedź] x'],
    ['Auto-Reply_x', 'auto reply x'],
  ])('%j reads %j', (text, folded) => {
    expect(foldText(text, 100)).toBe(folded);
  });
});
