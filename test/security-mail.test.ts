// Mail trust, tried as an attacker would: real mail over SMTP, a DNS stand-in for a few domains,
// the live worker and a live SMTP sink for what we send. Each class of attack is refused, and the
// genuine cases next to it still work.
//
// DNS: customer.test and agents.test authorise our test client (SPF ip4:127.0.0.1) and publish
// DMARC p=reject, so their genuine mail is authenticated and a forged From fails DMARC.
// other.test does the same for a stranger with a real, authenticated address. nopolicy.test
// publishes nothing (its mail is unauthenticated).
import { beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './helpers/db.ts';
import {
  eventually,
  startBossFor,
  startTestIngest,
  startTestOutbound,
  startTestWorker,
  testInboundSettings,
} from './helpers/app.ts';
import { staticResolver } from '../src/inbound/auth.ts';
import { createAgent } from '../src/agents/index.ts';
import { sendRaw } from './helpers/smtp-client.ts';
import { startSink, type Sink, type SunkMail } from './helpers/sink.ts';

let t: TestDatabase;
let sink: Sink;
let smtpPort: number;
let seq = 0;

const authorised = (domain: string) => ({
  [`TXT:${domain}`]: [['v=spf1 ip4:127.0.0.1 -all']],
  [`TXT:_dmarc.${domain}`]: [['v=DMARC1; p=reject']],
});

beforeAll(async () => {
  t = await createTestDatabase();
  sink = await startSink();
  smtpPort = (await startTestIngest(t.url, { inboxes: ['support@localhost'] })).port;
  const boss = await startBossFor(t.url, true);
  const resolver = staticResolver({
    ...authorised('customer.test'),
    ...authorised('agents.test'),
    ...authorised('other.test'),
    'TXT:evil.test': [['v=spf1 ip4:127.0.0.1 -all']],
  });
  await startTestWorker(t.url, boss, 1, { ...testInboundSettings, resolver });
  await startTestOutbound(t.db, boss, sink.url, 'http://help.inbound.test');
  await createAgent(t.db, { email: 'alex@agents.test', name: 'Alex Agent', role: 'agent' });
});

interface Spec {
  from: string;
  /** envelope sender; the From address by default */
  mailFrom?: string;
  rcpt?: string[];
  subject?: string;
  headers?: string[];
  body?: string;
}

/** Sends a mail and waits for the worker: its outcome, ticket and message. */
async function send(spec: Spec) {
  const messageId = `<s${++seq}.${Date.now()}@client.test>`;
  const rcpt = spec.rcpt ?? ['support@localhost'];
  const raw = [
    `From: ${spec.from}`,
    `To: ${rcpt[0]}`,
    `Subject: ${spec.subject ?? `Mail ${seq}`}`,
    `Message-ID: ${messageId}`,
    ...(spec.headers ?? []),
    '',
    spec.body ?? `Body of mail ${seq}`,
    '',
  ].join('\r\n');
  const mailFrom = spec.mailFrom ?? /<([^>]+)>/.exec(spec.from)?.[1] ?? spec.from;
  const reply = await sendRaw(smtpPort, mailFrom, rcpt, raw);
  expect(reply.code).toBe(250);
  const rawId = Number(/queued as (\d+)/.exec(reply.text)![1]);
  const row = await eventually(() =>
    t.db('raw_messages').where({ id: rawId }).whereIn('status', ['processed', 'quarantined']).first(),
  );
  const message = await t.db('messages').where({ raw_message_id: rawId }).first();
  return {
    rawId,
    messageId,
    outcome: row.outcome as string,
    ticketId: message?.ticket_id as number | undefined,
    message,
  };
}

const ticket = (id: number) => t.db('tickets').where({ id }).first();
const messagesOf = (id: number) => t.db('messages').where({ ticket_id: id }).orderBy('id');
const followersOf = async (id: number) =>
  (
    await t
      .db('ticket_followers as f')
      .join('customer_emails as e', 'e.customer_id', 'f.customer_id')
      .where('f.ticket_id', id)
      .select('e.address')
  ).map((r) => r.address);
const settle = () => new Promise((r) => setTimeout(r, 2500)); // past a relay tick and a send
const mailsTo = (address: string, after = 0) => sink.mails.slice(after).filter((m) => m.to.includes(address));

/** The ack of a new ticket, at the sink; its reply address is the customer's own. */
async function ackOf(address: string, after: number): Promise<SunkMail> {
  return eventually(async () => mailsTo(address, after).find((m) => /^\[#\d+\]/.test(m.mail.subject ?? '')), 15_000);
}

describe('mail trust', () => {
  let victim: { ticketId: number; messageId: string; replyTo: string; number: number };

  beforeAll(async () => {
    const before = sink.mails.length;
    const first = await send({ from: 'Vera Victim <vera@customer.test>', subject: 'My contract' });
    expect(first.outcome).toBe('ticket_created');
    const ack = await ackOf('vera@customer.test', before);
    const replyTo = ack.mail.replyTo?.value[0]?.address ?? '';
    expect(replyTo).toMatch(/^support\+[a-z2-7]{26}@localhost$/);
    victim = {
      ticketId: first.ticketId!,
      messageId: ack.mail.messageId!,
      replyTo,
      number: (await ticket(first.ticketId!)).number,
    };
  });

  describe('the genuine customer', () => {
    it('threads by her own reply address, by References and by [#n] in the subject', async () => {
      const byToken = await send({
        from: 'Vera <vera@customer.test>',
        rcpt: [victim.replyTo],
        subject: 'Re: contract',
      });
      expect(byToken).toMatchObject({ outcome: 'reply', ticketId: victim.ticketId });
      expect(byToken.message.sender_trust).toBe('authenticated');
      const byRefs = await send({
        from: 'Vera <vera@customer.test>',
        subject: 'Re: contract',
        headers: [`In-Reply-To: ${victim.messageId}`, `References: ${victim.messageId}`],
      });
      expect(byRefs).toMatchObject({ outcome: 'reply', ticketId: victim.ticketId });
      const bySubject = await send({ from: 'vera@customer.test', subject: `Re: [#${victim.number}] contract` });
      expect(bySubject).toMatchObject({ outcome: 'reply', ticketId: victim.ticketId });
    });

    it('adds the people she copies as followers (her mail is authenticated)', async () => {
      await send({
        from: 'vera@customer.test',
        rcpt: [victim.replyTo],
        headers: ['Cc: Colin Colleague <colin@customer.test>'],
      });
      expect(await followersOf(victim.ticketId)).toContain('colin@customer.test');
    });
  });

  describe('an outsider', () => {
    it.each([
      ['her reply address', () => ({ rcpt: [victim.replyTo] })],
      ['References to our mail', () => ({ headers: [`References: ${victim.messageId}`] })],
      ['[#n] in the subject', () => ({ subject: `Re: [#${victim.number}] contract` })],
    ])('with %s (a real, authenticated address) opens a ticket of their own, flagged', async (_how, how) => {
      const before = (await messagesOf(victim.ticketId)).length;
      const got = await send({ from: 'Oscar <oscar@other.test>', ...how() });
      expect(got.outcome).toBe('ticket_created');
      expect(got.ticketId).not.toBe(victim.ticketId);
      const own = await ticket(got.ticketId!);
      expect(own.needs_review).toBe(true);
      const event = await t.db('events').where({ type: 'ticket.created', ticket_id: own.id }).first();
      expect(event.data.claimedTicketId).toBe(victim.ticketId);
      expect(await messagesOf(victim.ticketId)).toHaveLength(before);
    });

    it('forging her From (DMARC fails) posts nothing into her ticket and sends her nothing', async () => {
      const before = sink.mails.length;
      const count = (await messagesOf(victim.ticketId)).length;
      for (const how of [
        { rcpt: [victim.replyTo] },
        { headers: [`References: ${victim.messageId}`] },
        { subject: `Re: [#${victim.number}] contract` },
        { subject: 'A brand new request' },
      ]) {
        const got = await send({ from: 'Vera <vera@customer.test>', mailFrom: 'mallory@evil.test', ...how });
        expect(got.ticketId).not.toBe(victim.ticketId);
        expect(got.message.sender_trust).toBe('untrusted');
        expect((await ticket(got.ticketId!)).needs_review).toBe(true);
      }
      expect(await messagesOf(victim.ticketId)).toHaveLength(count);
      await settle();
      // no ack, no welcome, nothing: the forged address is somebody's real one
      expect(mailsTo('vera@customer.test', before)).toHaveLength(0);
    });

    it.each([
      ['two mailboxes in the From', 'vera@customer.test, oscar@other.test'],
      ['a group in the From', 'Friends: vera@customer.test;'],
    ])('with %s is untrusted and joins nothing', async (_how, from) => {
      const got = await send({ from, mailFrom: 'vera@customer.test', rcpt: [victim.replyTo] });
      expect(got.ticketId).not.toBe(victim.ticketId);
      expect(got.message.sender_trust).toBe('untrusted');
    });

    it('an SPF pass of another domain under the same suffix authenticates no From of a domain without DMARC', async () => {
      // plain.test publishes nothing; evil.test's SPF passes for our client: one suffix is no organization
      const first = await send({ from: 'Pat <pat@plain.test>', subject: 'Plain request' });
      const number = (await ticket(first.ticketId!)).number;
      const forged = await send({
        from: 'Pat <pat@plain.test>',
        mailFrom: 'mallory@evil.test',
        subject: `Re: [#${number}] Plain request`,
        headers: ['Cc: mallory@evil.test'],
      });
      expect(forged.message.sender_trust).toBe('unauthenticated');
      expect(await followersOf(first.ticketId!)).not.toContain('mallory@evil.test');
    });

    it('cannot add followers to her ticket with unauthenticated mail', async () => {
      // Vera's own address on a domain without DMARC would be unauthenticated; here a member
      // writes from such a domain: it joins, and its Cc is ignored
      await t.db('customer_emails').insert({
        customer_id: (await ticket(victim.ticketId)).requester_id,
        address: 'vera@nopolicy.test',
        is_primary: false,
      });
      const got = await send({
        from: 'vera@nopolicy.test',
        subject: `Re: [#${victim.number}] contract`,
        headers: ['Cc: eve@evil.test'],
      });
      expect(got).toMatchObject({ outcome: 'reply', ticketId: victim.ticketId });
      expect(got.message.sender_trust).toBe('unauthenticated');
      expect(await followersOf(victim.ticketId)).not.toContain('eve@evil.test');
    });
  });

  describe('agents', () => {
    it('the real agent (authenticated) posts a reply by mail, and it reaches the customer', async () => {
      const before = sink.mails.length;
      const got = await send({
        from: 'Alex Agent <alex@agents.test>',
        rcpt: [victim.replyTo],
        subject: 'Re: contract',
        body: 'Your contract is renewed.',
      });
      expect(got.outcome).toBe('agent_reply');
      const toVera = await eventually(async () => mailsTo('vera@customer.test', before)[0], 15_000);
      expect(toVera.mail.text).toContain('Your contract is renewed.');
    });

    it('a forged agent From (DMARC fails) is no agent reply and mails no customer', async () => {
      const before = sink.mails.length;
      const got = await send({
        from: 'Alex Agent <alex@agents.test>',
        mailFrom: 'mallory@evil.test',
        rcpt: [victim.replyTo],
        body: 'Please pay to this new bank account.',
      });
      expect(got.outcome).not.toBe('agent_reply');
      expect(
        await t.db('messages').where({ ticket_id: victim.ticketId, author_type: 'agent', raw_message_id: got.rawId }),
      ).toHaveLength(0);
      await settle();
      expect(mailsTo('vera@customer.test', before)).toHaveLength(0);
    });
  });

  describe('bounces', () => {
    const dsn = (recipient: string, messageId: string) =>
      [
        'From: Mail Delivery System <MAILER-DAEMON@mx.customer.test>',
        'To: support@localhost',
        'Subject: Undelivered Mail Returned to Sender',
        `Message-ID: <dsn${++seq}@mx.customer.test>`,
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
        'Reporting-MTA: dns; mx.customer.test',
        '',
        `Final-Recipient: rfc822; ${recipient}`,
        'Action: failed',
        'Status: 5.1.1',
        '',
        '--b1',
        'Content-Type: text/rfc822-headers',
        '',
        'From: support@localhost',
        `To: ${recipient}`,
        `Message-ID: ${messageId}`,
        '',
        '--b1--',
        '',
      ].join('\r\n');

    it('a forged bounce naming our Message-ID does not silence the customer; a genuine one through VERP does', async () => {
      const sent = await t
        .db('outbound_messages')
        .where({ recipient: 'vera@customer.test', status: 'sent' })
        .orderBy('id')
        .first();
      const forged = await sendRaw(smtpPort, '', ['support@localhost'], dsn('vera@customer.test', sent.message_id));
      expect(forged.code).toBe(250);
      const forgedId = Number(/queued as (\d+)/.exec(forged.text)![1]);
      const f = await eventually(() => t.db('raw_messages').where({ id: forgedId, status: 'processed' }).first());
      expect(f.outcome).toBe('bounce_unmatched');
      expect(await t.db('suppressions').where({ address: 'vera@customer.test' }).first()).toBeUndefined();

      const genuine = await sendRaw(
        smtpPort,
        '',
        [`support+${sent.verp_token}@localhost`],
        dsn('vera@customer.test', sent.message_id),
      );
      const genuineId = Number(/queued as (\d+)/.exec(genuine.text)![1]);
      const g = await eventually(() => t.db('raw_messages').where({ id: genuineId, status: 'processed' }).first());
      expect(g.outcome).toBe('bounce');
      expect(await t.db('suppressions').where({ address: 'vera@customer.test' }).first()).toBeTruthy();
    });
  });
});
