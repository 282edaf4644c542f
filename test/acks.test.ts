// Acknowledgements end to end: mail in over SMTP, processed by the worker, the ack rendered and
// sent to a live SMTP sink, and its magic link opened on the live web role.
import { createHash } from 'node:crypto';
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
import { sendRaw } from './helpers/smtp-client.ts';
import { startSink, type Sink } from './helpers/sink.ts';

let t: TestDatabase;
let api: TestApi;
let sink: Sink;
let web: string;
let smtpPort: number;
let seq = 0;

beforeAll(async () => {
  t = await createTestDatabase();
  api = await startTestApi(t.url);
  web = api.base.replace(/\/api\/v1$/, '');
  sink = await startSink();
  smtpPort = (await startTestIngest(t.url, { inboxes: ['support@localhost', 'quiet@localhost', 'hilfe@localhost'] }))
    .port;
  await t
    .db('inboxes')
    .where({ address: 'quiet@localhost' })
    .update({ settings: { ack: false } });
  await t
    .db('inboxes')
    .where({ address: 'hilfe@localhost' })
    .update({ name: 'Hilfe', settings: { locale: 'de', portal_welcome: true } });
  const boss = await startBossFor(t.url, true);
  await startTestWorker(t.url, boss, 1, { ...testInboundSettings, ackLimitPerHour: 2 });
  await startTestOutbound(t.db, boss, sink.url, web);
});

/** Sends a mail and waits until it is processed; returns its raw id and Message-ID. */
async function mail(lines: string[], envelope: { from: string; to?: string }) {
  const messageId = `<a${++seq}.${Date.now()}@sender.test>`;
  const raw = [...lines, `Message-ID: ${messageId}`, '', `Body ${seq}`, ''].join('\r\n');
  const reply = await sendRaw(smtpPort, envelope.from, [envelope.to ?? 'support@localhost'], raw);
  expect(reply.code).toBe(250);
  const rawId = Number(/queued as (\d+)/.exec(reply.text)![1]);
  const row = await eventually(() =>
    t.db('raw_messages').where({ id: rawId, status: 'processed' }).first<{ outcome: string } | undefined>('outcome'),
  );
  return { rawId, messageId, outcome: row.outcome };
}

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');
const acksTo = (address: string) => t.db('outbound_messages').where({ kind: 'ack', recipient: address });
const settle = () => new Promise((r) => setTimeout(r, 2500)); // past a relay tick and a send

describe('acks', () => {
  it('a new ticket gets exactly one ack, threaded, with a magic link that opens the ticket page', async () => {
    const first = await mail(['From: Ada <ada@sender.test>', 'To: support@localhost', 'Subject: Cannot log in'], {
      from: 'ada@sender.test',
    });
    expect(first.outcome).toBe('ticket_created');
    const ack = await eventually(async () => sink.mails.find((m) => m.to.includes('ada@sender.test')), 15_000);
    const ticket = await t.db('tickets').where({ subject: 'Cannot log in' }).first();
    expect(ack.mail.subject).toBe(`[#${ticket.number}] Cannot log in`);
    expect(ack.mail.inReplyTo).toBe(first.messageId);
    expect(ack.mail.references).toContain(first.messageId);
    // the reply address is the recipient's own: its token is stored as a hash on the mail we sent
    const replyTo = ack.mail.replyTo?.value[0]?.address ?? '';
    expect(replyTo).toMatch(/^support\+[a-z2-7]{26}@localhost$/);
    const sent = await t.db('outbound_messages').where({ kind: 'ack', recipient: 'ada@sender.test' }).first();
    expect(sent.reply_token_hash.toString('hex')).toBe(sha256(replyTo.slice(8, 34)));
    expect(sent.customer_id).toBe(ticket.requester_id);
    expect(ack.mail.headers.get('auto-submitted')).toBe('auto-replied');
    expect(ack.mail.headers.get('list-unsubscribe')).toBeUndefined();
    expect(ack.from).toMatch(/^support\+[A-Za-z0-9_-]+@localhost$/);

    const link = new RegExp(`${web}/t/[A-Za-z0-9_-]{43}`).exec(ack.mail.text!)![0];
    const page = await fetch(link);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('Cannot log in');

    // a reply in the same thread is no new ticket: no second ack
    const reply = await mail(
      [
        'From: Ada <ada@sender.test>',
        'To: support@localhost',
        `Subject: Re: ${ack.mail.subject}`,
        `In-Reply-To: ${ack.mail.messageId}`,
      ],
      { from: 'ada@sender.test' },
    );
    expect(reply.outcome).toBe('reply');
    await settle();
    expect(await acksTo('ada@sender.test')).toHaveLength(1);
    expect(sink.mails.filter((m) => m.to.includes('ada@sender.test'))).toHaveLength(1);
  });

  it.each([
    [
      'an auto-reply',
      ['From: Bo <bo@sender.test>', 'To: support@localhost', 'Subject: Out of office', 'Auto-Submitted: auto-replied'],
      'bo@sender.test',
    ],
    [
      'list mail',
      [
        'From: News <news@sender.test>',
        'To: support@localhost',
        'Subject: Weekly news',
        'List-Id: <news.sender.test>',
        'Precedence: list',
      ],
      'news@sender.test',
    ],
    [
      'a bounce',
      [
        'From: Mail Delivery System <mailer-daemon@sender.test>',
        'To: support@localhost',
        'Subject: Undelivered Mail Returned to Sender',
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b"',
      ],
      '',
    ],
  ])('%s gets no ack', async (_name, lines, from) => {
    const m = await mail(lines, { from });
    expect(m.outcome).not.toBe('ticket_created');
    await settle();
    expect(
      await t
        .db('outbound_messages')
        .where({ kind: 'ack' })
        .whereIn('recipient', [from || 'mailer-daemon@sender.test'])
        .first(),
    ).toBeUndefined();
  });

  it('keeps to the hourly limit per address', async () => {
    for (let i = 0; i < 4; i++) {
      const m = await mail(['From: Cy <cy@sender.test>', 'To: support@localhost', `Subject: Question ${i}`], {
        from: 'cy@sender.test',
      });
      expect(m.outcome).toBe('ticket_created');
    }
    await settle();
    expect(await acksTo('cy@sender.test')).toHaveLength(2);
    await eventually(async () => sink.mails.filter((m) => m.to.includes('cy@sender.test')).length === 2 || undefined);
  });

  it('sends none from an inbox with acks off, nor to a suppressed address', async () => {
    const quiet = await mail(['From: Di <di@sender.test>', 'To: quiet@localhost', 'Subject: Hush'], {
      from: 'di@sender.test',
      to: 'quiet@localhost',
    });
    expect(quiet.outcome).toBe('ticket_created');
    await t.db('suppressions').insert({ address: 'ed@sender.test', reason: 'hard bounce 5.1.1' });
    const suppressed = await mail(['From: Ed <ed@sender.test>', 'To: support@localhost', 'Subject: Hello again'], {
      from: 'ed@sender.test',
    });
    expect(suppressed.outcome).toBe('ticket_created');
    await settle();
    expect(await acksTo('di@sender.test')).toHaveLength(0);
    expect(await acksTo('ed@sender.test')).toHaveLength(0);
    expect(sink.mails.some((m) => m.to.includes('di@sender.test') || m.to.includes('ed@sender.test'))).toBe(false);
  });

  it("is in the customer's language, else the inbox's", async () => {
    await api.call('POST', '/customers', { email: 'fr@sender.test', name: 'Frieda', locale: 'de' });
    await mail(['From: Frieda <fr@sender.test>', 'To: support@localhost', 'Subject: Rechnung'], {
      from: 'fr@sender.test',
    });
    await mail(['From: Gus <gus@sender.test>', 'To: hilfe@localhost', 'Subject: Frage'], {
      from: 'gus@sender.test',
      to: 'hilfe@localhost',
    });
    const frieda = await eventually(async () => sink.mails.find((m) => m.to.includes('fr@sender.test')), 15_000);
    const gus = await eventually(
      async () =>
        sink.mails.find(
          (m) =>
            m.to.includes('gus@sender.test') &&
            /Rechnung|Frage/.test(m.mail.subject ?? '') &&
            !m.mail.text!.includes('Passwort'),
        ),
      15_000,
    );
    expect(frieda.mail.text).toContain('Vielen Dank');
    expect(gus.mail.text).toContain('Vielen Dank');
  });
});

describe('portal welcome', () => {
  it("comes with a new customer's first ticket when the inbox invites, with a single-use password link for 24 hours", async () => {
    const { findToken, useToken } = await import('../src/access/index.ts');
    await mail(['From: Hanna <hanna@sender.test>', 'To: hilfe@localhost', 'Subject: Zugang'], {
      from: 'hanna@sender.test',
      to: 'hilfe@localhost',
    });
    const welcome = await eventually(async () => {
      for (const m of sink.mails.filter((x) => x.to.includes('hanna@sender.test'))) {
        const row = await t.db('outbound_messages').where({ message_id: m.mail.messageId }).first('kind');
        if (row?.kind === 'portal_welcome') return m;
      }
      return undefined;
    }, 15_000);
    expect(welcome.mail.headers.get('auto-submitted')).toBe('auto-replied');
    const secret = new RegExp(`${web}/portal/password/([A-Za-z0-9_-]{43})`).exec(welcome.mail.text!)![1]!;
    const token = await findToken(t.db, 'password_set', secret);
    expect(token).toBeTruthy();
    const hours = (token!.expires_at.getTime() - Date.now()) / 3600_000;
    expect(hours).toBeGreaterThan(23.9);
    expect(hours).toBeLessThanOrEqual(24);
    expect(await useToken(t.db, token!.id)).toBe(true);
    expect(await useToken(t.db, token!.id)).toBe(false);
    expect(await findToken(t.db, 'password_set', secret)).toBeUndefined();
    const customer = await t
      .db('customers as c')
      .join('customer_emails as e', 'e.customer_id', 'c.id')
      .where('e.address', 'hanna@sender.test')
      .first('c.portal_status');
    expect(customer.portal_status).toBe('invited');

    // a second ticket invites nobody again; an inbox without the setting never does
    await mail(['From: Hanna <hanna@sender.test>', 'To: hilfe@localhost', 'Subject: Noch eine Frage'], {
      from: 'hanna@sender.test',
      to: 'hilfe@localhost',
    });
    await settle();
    expect(
      await t.db('outbound_messages').where({ kind: 'portal_welcome', recipient: 'hanna@sender.test' }),
    ).toHaveLength(1);
    expect(
      await t.db('outbound_messages').where({ kind: 'portal_welcome', recipient: 'ada@sender.test' }),
    ).toHaveLength(0);
  });

  it('is sent on send_welcome', async () => {
    const c = (await api.call('POST', '/customers', { email: 'ivy@sender.test', name: 'Ivy', send_welcome: true }))
      .body;
    expect(c.portal_status).toBe('invited');
    const m = await eventually(async () => sink.mails.find((x) => x.to.includes('ivy@sender.test')), 15_000);
    expect(m.mail.text).toMatch(new RegExp(`${web}/portal/password/[A-Za-z0-9_-]{43}`));
  });
});
