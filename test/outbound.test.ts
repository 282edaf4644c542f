// Outbound mail end to end: a customer's mail comes in over SMTP, an agent replies through the
// API, the worker renders and sends to a live SMTP sink; thread headers, links, retries,
// failures and suppressions are checked on what the sink received and on the database.
import { beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './helpers/db.ts';
import { startTestApi, type TestApi } from './helpers/api.ts';
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
import { refusal, startSink, type Sink, type SunkMail } from './helpers/sink.ts';
import { findToken } from '../src/access/index.ts';
import { hashSecret } from '../src/access/index.ts';

let t: TestDatabase;
let api: TestApi;
let sink: Sink;
let smtpPort: number;
let seq = 0;

beforeAll(async () => {
  t = await createTestDatabase();
  api = await startTestApi(t.url);
  sink = await startSink();
  smtpPort = (await startTestIngest(t.url, { inboxes: ['support@localhost'] })).port;
  const workerBoss = await startBossFor(t.url, true);
  // DNS for the tests: agents.test authorises our test client (SPF) and publishes DMARC p=reject
  const resolver = staticResolver({
    'TXT:agents.test': [['v=spf1 ip4:127.0.0.1 -all']],
    'TXT:_dmarc.agents.test': [['v=DMARC1; p=reject']],
  });
  await startTestWorker(t.url, workerBoss, 1, { ...testInboundSettings, resolver });
  await startTestOutbound(t.db, workerBoss, sink.url, 'http://help.inbound.test');
});

/** A customer's mail over SMTP; resolves with the ticket it became part of. */
async function customerMail(from: string, subject: string, extra: string[] = []) {
  const messageId = `<c${++seq}.${Date.now()}@customer.test>`;
  const raw = [
    `From: ${from}`,
    'To: support@localhost',
    `Subject: ${subject}`,
    `Message-ID: ${messageId}`,
    ...extra,
    '',
    `Mail ${seq}`,
    '',
  ].join('\r\n');
  const reply = await sendRaw(smtpPort, /<(.+)>/.exec(from)![1]!, ['support@localhost'], raw);
  expect(reply.code).toBe(250);
  const rawId = Number(/queued as (\d+)/.exec(reply.text)![1]);
  const msg = await eventually(() =>
    t.db('messages').where({ raw_message_id: rawId }).first<{ ticket_id: number } | undefined>('ticket_id'),
  );
  return { ticketId: msg.ticket_id as number, messageId };
}

/** The first mail to an address after `after` that is not its ack (new tickets get acks too). */
function sunkTo(address: string, after = 0): Promise<SunkMail> {
  return eventually(async () => {
    for (const m of sink.mails.slice(after).filter((x) => x.to.includes(address))) {
      const row = await t.db('outbound_messages').where({ message_id: m.mail.messageId }).first('kind');
      if (row && row.kind !== 'ack') return m;
    }
    return undefined;
  }, 15_000);
}

describe('agent replies', () => {
  it('reach the requester and followers, threaded, with a working magic link; a reply threads back', async () => {
    const { ticketId, messageId } = await customerMail('Rita Requester <rita@customer.test>', 'Invoice missing', [
      'Cc: Finn Follower <finn@customer.test>',
    ]);
    const before = sink.mails.length;
    const r = await api.call(
      'POST',
      `/tickets/${ticketId}/replies`,
      { body: 'Hello Rita,\n\nhere it is: **attached**.', format: 'markdown' },
      api.agentToken,
    );
    expect(r.status).toBe(201);
    expect(r.body.outbound.map((o: { kind: string; recipient: string }) => `${o.kind}:${o.recipient}`)).toEqual([
      'agent_reply:rita@customer.test',
      'follower_update:finn@customer.test',
    ]);

    const toRita = await sunkTo('rita@customer.test', before);
    const toFinn = await sunkTo('finn@customer.test', before);
    const ticket = await t.db('tickets').where({ id: ticketId }).first();
    const m = toRita.mail;
    expect(m.subject).toBe(`Re: [#${ticket.number}] Invoice missing`);
    expect(m.inReplyTo).toBe(messageId);
    expect(m.references).toContain(messageId);
    // each recipient gets a reply address of their own
    const ritaReply = m.replyTo?.value[0]?.address ?? '';
    const finnReply = toFinn.mail.replyTo?.value[0]?.address ?? '';
    expect(ritaReply).toMatch(/^support\+[a-z2-7]{26}@localhost$/);
    expect(finnReply).toMatch(/^support\+[a-z2-7]{26}@localhost$/);
    expect(finnReply).not.toBe(ritaReply);
    expect(ritaReply).not.toContain(ticket.reply_token);
    expect(m.headers.get('auto-submitted')).toBeUndefined(); // a person wrote it
    expect(toFinn.mail.headers.get('auto-submitted')).toBe('auto-replied');
    expect(m.html).toContain('<strong>attached</strong>');
    expect(m.text).toContain('here it is');
    // VERP: the envelope sender names this very message
    const row = await t.db('outbound_messages').where({ recipient: 'rita@customer.test', kind: 'agent_reply' }).first();
    expect(row).toMatchObject({ status: 'sent', message_id: m.messageId, attempts: 1 });
    expect(toRita.from).toBe(`support+${row.verp_token}@localhost`);
    expect(row.smtp_response).toMatch(/^250/);

    // the magic link names a live ticket_link token for this ticket, stored only as its hash
    const secret = /http:\/\/help\.inbound\.test\/t\/([A-Za-z0-9_-]{43})/.exec(m.text!)![1]!;
    // ... issued to Rita: the page posts as her and nobody else
    expect(await findToken(t.db, 'ticket_link', secret)).toMatchObject({
      ticket_id: ticketId,
      customer_id: ticket.requester_id,
    });
    expect(
      await t
        .db('tokens')
        .where({ token_hash: hashSecret(secret) })
        .first('id'),
    ).toBeTruthy();
    expect(m.html).toContain(`/t/${secret}`);

    // the customer answers that mail: it joins the same ticket
    const answer = await customerMail('Rita Requester <rita@customer.test>', `Re: ${m.subject}`, [
      `In-Reply-To: ${m.messageId}`,
      `References: ${messageId} ${m.messageId}`,
    ]);
    expect(answer.ticketId).toBe(ticketId);

    // Finn's References hold his conversation only: no Message-ID of the mail to Rita
    expect(toFinn.mail.references).toContain(messageId);
    expect(toFinn.mail.references).not.toContain(m.messageId);
  });

  it('carry their attachments, stored once, attached and linked', async () => {
    const { ticketId } = await customerMail('Ola <ola@customer.test>', 'Need the manual');
    const pdf = Buffer.from('%PDF-1.4 pretend manual\n');
    const before = sink.mails.length;
    const r = await api.call('POST', `/tickets/${ticketId}/replies`, {
      body: 'Here is the manual.',
      attachments: [
        { filename: 'manual.pdf', content_type: 'application/pdf', content_base64: pdf.toString('base64') },
      ],
    });
    expect(r.status).toBe(201);
    const m = await sunkTo('ola@customer.test', before);
    expect(m.mail.attachments.map((a) => [a.filename, a.contentType, a.content.toString()])).toEqual([
      ['manual.pdf', 'application/pdf', pdf.toString()],
    ]);
    expect(m.mail.text).toMatch(/manual\.pdf/);
    expect(m.mail.html).toMatch(/http:\/\/help\.inbound\.test\/t\/[A-Za-z0-9_-]{43}\/attachments\/[0-9a-f]{64}/);
    expect(await t.db('attachments').where({ size: pdf.length })).toHaveLength(1);
    expect(
      (
        await api.call('POST', `/tickets/${ticketId}/replies`, {
          body: 'x',
          attachments: [{ filename: 'a', content_base64: '***' }],
        })
      ).status,
    ).toBe(422);
  });

  it('closing a ticket tells its requester', async () => {
    const { ticketId } = await customerMail('Cleo <cleo@customer.test>', 'All good now');
    const before = sink.mails.length;
    expect((await api.call('PATCH', `/tickets/${ticketId}`, { status: 'closed' }, api.agentToken)).status).toBe(200);
    const m = await sunkTo('cleo@customer.test', before);
    expect(await t.db('outbound_messages').where({ message_id: m.mail.messageId }).first('kind')).toEqual({
      kind: 'ticket_closed',
    });
    expect(m.mail.headers.get('auto-submitted')).toBe('auto-replied');
  });

  it('keeps the whole mail only in the dev outbox: a sent one carries live links', async () => {
    const sent = await t.db('outbound_messages').where({ status: 'sent' }).whereNotNull('raw').first('id');
    expect(sent).toBeUndefined();
    const { ticketId } = await customerMail('Dev <dev@customer.test>', 'Outbox');
    const [row] = await t
      .db('outbound_messages')
      .insert({ kind: 'ticket_closed', ticket_id: ticketId, recipient: 'dev@customer.test' })
      .returning('id');
    const { sendOutbound } = await import('../src/outbound/send.ts');
    const { testLog } = await import('./helpers/app.ts');
    const deps = {
      db: t.db,
      log: testLog,
      publicUrl: 'http://help.inbound.test',
      messageIdDomain: 'help.inbound.test',
      transport: undefined,
      ticketLinkDays: 30,
    };
    expect(await sendOutbound(deps, row.id, { finalAttempt: false })).toBe('kept');
    const kept = await t.db('outbound_messages').where({ id: row.id }).first();
    expect(kept.status).toBe('sent');
    expect(kept.smtp_response).toMatch(/dev outbox/);
    expect(kept.raw.toString()).toMatch(/^Content-Type|\r\nSubject: \[#\d+\]/m);
    expect(await sendOutbound(deps, row.id, { finalAttempt: false })).toBe('skipped'); // once only
  });

  it('an internal note goes to nobody', async () => {
    const { ticketId } = await customerMail('Nora <nora@customer.test>', 'Quiet please');
    const r = await api.call('POST', `/tickets/${ticketId}/replies`, {
      body: 'Customer is on the VIP list',
      internal: true,
    });
    expect(r.body).toMatchObject({ internal: true, outbound: [] });
    const msg = await t.db('messages').where({ id: r.body.message_id }).first();
    expect(msg).toMatchObject({ internal: true, author_type: 'agent', direction: 'outbound' });
    expect(
      await t.db('outbound_messages').where({ ticket_id: ticketId }).whereNot({ kind: 'ack' }).first(),
    ).toBeUndefined();
  });

  it('refuses an empty reply and an unknown ticket', async () => {
    expect((await api.call('POST', '/tickets/999999/replies', { body: 'hi' })).status).toBe(404);
    expect((await api.call('POST', '/tickets/1/replies', { body: '' })).status).toBe(422);
  });
});

describe('agent replies by mail', () => {
  it("post from the agent's own address to the reply address, when the From passes DMARC", async () => {
    const agent = await createAgent(t.db, { email: 'alex@agents.test', name: 'Alex Agent', role: 'agent' });
    const { ticketId, messageId } = await customerMail('Mia <mia@customer.test>', 'Printer jam', [
      'Cc: Max <max@customer.test>',
    ]);
    const ticket = await t.db('tickets').where({ id: ticketId }).first();
    const before = sink.mails.length;
    const raw = [
      'From: Alex Agent <alex@agents.test>',
      `To: support+${ticket.reply_token}@localhost`,
      'Subject: Re: [#1] Printer jam',
      `In-Reply-To: ${messageId}`,
      `Message-ID: <agent-${Date.now()}@agents.test>`,
      '',
      'Open the back cover and pull the sheet out.',
      '',
      'On Monday Mia wrote:',
      '> My printer is jammed',
      '',
    ].join('\r\n');
    expect((await sendRaw(smtpPort, 'alex@agents.test', [`support+${ticket.reply_token}@localhost`], raw)).code).toBe(
      250,
    );
    const toMia = await sunkTo('mia@customer.test', before);
    const toMax = await sunkTo('max@customer.test', before);
    expect(toMia.mail.text).toContain('Open the back cover and pull the sheet out.');
    expect(toMia.mail.text).not.toContain('My printer is jammed');
    expect(toMia.mail.headers.get('auto-submitted')).toBeUndefined();
    expect(toMax.mail.text).toContain('Open the back cover');
    const m = await t.db('messages').where({ ticket_id: ticketId, author_type: 'agent' }).first();
    expect(m).toMatchObject({ direction: 'outbound', author_agent_id: agent.id, author_customer_id: null });
    expect(await t.db('customer_emails').where({ address: 'alex@agents.test' }).first()).toBeUndefined();
  });

  it('is not posted as the agent when the From fails DMARC', async () => {
    const { ticketId } = await customerMail('Nia <nia@customer.test>', 'Forged answer');
    const ticket = await t.db('tickets').where({ id: ticketId }).first();
    const raw = [
      'From: Alex Agent <alex@agents.test>',
      `To: support+${ticket.reply_token}@localhost`,
      'Subject: Re: Forged answer',
      `Message-ID: <forged-${Date.now()}@elsewhere.test>`,
      '',
      'Send me your password.',
      '',
    ].join('\r\n');
    const reply = await sendRaw(smtpPort, 'mallory@elsewhere.test', [`support+${ticket.reply_token}@localhost`], raw);
    const rawId = Number(/queued as (\d+)/.exec(reply.text)![1]);
    const row = await eventually(() =>
      t.db('raw_messages').where({ id: rawId, status: 'processed' }).first<{ outcome: string } | undefined>('outcome'),
    );
    expect(row.outcome).not.toBe('agent_reply');
    expect(await t.db('messages').where({ ticket_id: ticketId, author_type: 'agent' }).first()).toBeUndefined();
    expect(
      await t.db('outbound_messages').where({ ticket_id: ticketId }).whereNot({ kind: 'ack' }).first(),
    ).toBeUndefined();
  });
});

describe('delivery failures', () => {
  it('retries after a 451 and then delivers', async () => {
    const { ticketId } = await customerMail('Tim Temp <tim@customer.test>', 'Try again later');
    let refusals = 0;
    sink.answer = (to) =>
      to.includes('tim@customer.test') && refusals++ === 0 ? refusal(451, '4.3.0 try again later') : undefined;
    const before = sink.mails.length;
    const r = await api.call('POST', `/tickets/${ticketId}/replies`, { body: 'First answer' });
    const id = r.body.outbound[0].id;
    const deferred = await eventually(() => t.db('outbound_messages').where({ id }).where('attempts', '>=', 1).first());
    expect(deferred).toMatchObject({ status: 'queued' });
    expect(deferred.last_error).toMatch(/451/);
    // the queue's backoff would wait 30 s and more: bring the retry forward
    await eventually(
      async () =>
        (
          await t.db.raw(
            `UPDATE pgboss.job SET start_after = now() WHERE name = 'outbound.send' AND data->>'outboundId' = ? AND state = 'retry'`,
            [String(id)],
          )
        ).rowCount,
    );
    await sunkTo('tim@customer.test', before);
    expect(await t.db('outbound_messages').where({ id }).first()).toMatchObject({ status: 'sent', attempts: 2 });
    sink.answer = () => undefined;
  });

  it('marks a 550 failed at once, with the server answer', async () => {
    const { ticketId } = await customerMail('Gone <gone@customer.test>', 'Nobody home');
    sink.answer = (to) => (to.includes('gone@customer.test') ? refusal(550, '5.1.1 no such user') : undefined);
    const r = await api.call('POST', `/tickets/${ticketId}/replies`, { body: 'Anyone?' });
    const row = await eventually(
      () => t.db('outbound_messages').where({ id: r.body.outbound[0].id, status: 'failed' }).first(),
      15_000,
    );
    expect(row.last_error).toMatch(/550.*no such user/);
    expect(row.attempts).toBe(1);
    sink.answer = () => undefined;
  });

  it('skips a suppressed address', async () => {
    const { ticketId } = await customerMail('Bouncy <bouncy@customer.test>', 'Suppress me');
    await t.db('suppressions').insert({ address: 'bouncy@customer.test', reason: 'hard bounce 5.1.1' });
    const before = sink.mails.length;
    const r = await api.call('POST', `/tickets/${ticketId}/replies`, { body: 'Will not arrive' });
    const row = await eventually(
      () => t.db('outbound_messages').where({ id: r.body.outbound[0].id, status: 'suppressed' }).first(),
      15_000,
    );
    expect(row.last_error).toMatch(/suppressed/);
    await new Promise((res) => setTimeout(res, 300));
    expect(sink.mails.slice(before).some((m) => m.to.includes('bouncy@customer.test'))).toBe(false);
  });
});
