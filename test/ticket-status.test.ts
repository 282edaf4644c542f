// Ticket status, one rule for every way in (src/tickets/status.ts). First the rule itself, table by
// table; then every entry point on real tickets, against the same tables: a customer's mail
// through SMTP and the worker, the ticket page (reply, close), the agents' API. The three cases in
// which those entry points used to disagree have a test each at the end.
import { beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './helpers/db.ts';
import { startTestApi, type TestApi } from './helpers/api.ts';
import { eventually, startBossFor, startTestIngest, startTestWorker } from './helpers/app.ts';
import { sendRaw } from './helpers/smtp-client.ts';
import { issueToken } from '../src/access/index.ts';
import {
  changeStatus,
  closeByCustomer,
  customerWrites,
  TICKET_STATUSES,
  type StatusActor,
  type TicketStatus,
} from '../src/tickets/index.ts';

const DAY = 86_400_000;
const REOPEN_DAYS = 30; // the test worker's and the web's
const NOW = new Date('2026-06-01T12:00:00Z');

// ------------------------------------------------------------------------------------------
// The rule
// ------------------------------------------------------------------------------------------

/** closed_at for each change of status, from -> to (the same status: no change). */
const CLOSED_AT: Record<TicketStatus, Record<TicketStatus, 'now' | null | 'keep' | 'no change'>> = {
  open: { open: 'no change', pending: null, resolved: 'now', closed: 'now' },
  pending: { open: null, pending: 'no change', resolved: 'now', closed: 'now' },
  resolved: { open: null, pending: null, resolved: 'no change', closed: 'keep' },
  closed: { open: null, pending: null, resolved: 'keep', closed: 'no change' },
};

const ACTORS: [string, StatusActor][] = [
  ['an agent', { kind: 'agent' }],
  ['the requester', { kind: 'customer', isRequester: true }],
  ['a follower', { kind: 'customer', isRequester: false }],
];

/** Whom closing tells: the requester, unless they closed it themselves. */
const TELLS_REQUESTER: Record<string, boolean> = { 'an agent': true, 'the requester': false, 'a follower': true };

describe('the status rule', () => {
  const changes = TICKET_STATUSES.flatMap((from) =>
    TICKET_STATUSES.flatMap((to) => ACTORS.map(([who, actor]) => ({ from, to, who, actor }))),
  );
  it.each(changes)('$who: $from -> $to', ({ from, to, who, actor }) => {
    const change = changeStatus(from, to, actor);
    const closedAt = CLOSED_AT[from][to];
    if (closedAt === 'no change') {
      expect(change).toBeUndefined();
      return;
    }
    expect(change).toEqual({ from, to, closedAt, tellRequester: to === 'closed' && TELLS_REQUESTER[who] });
  });

  const writes: [TicketStatus, number | null, string][] = [
    ['open', null, 'append'],
    ['pending', null, 'reopen'],
    ['resolved', 1, 'reopen'],
    ['resolved', REOPEN_DAYS - 1, 'reopen'],
    ['resolved', REOPEN_DAYS + 1, 'new_linked_ticket'],
    ['resolved', null, 'reopen'],
    ['closed', 1, 'reopen'],
    ['closed', REOPEN_DAYS + 1, 'new_linked_ticket'],
    ['closed', null, 'reopen'],
  ];
  it.each(writes)('a customer writes on a %s ticket closed %s days ago: %s', (status, daysAgo, effect) => {
    const closed_at = daysAgo === null ? null : new Date(NOW.getTime() - daysAgo * DAY);
    const r = customerWrites({ status, closed_at }, NOW, REOPEN_DAYS);
    expect(r.effect).toBe(effect);
    if (r.effect === 'reopen') expect(r.change).toMatchObject({ from: status, to: 'open', closedAt: null });
  });
});

// ------------------------------------------------------------------------------------------
// Every entry point
// ------------------------------------------------------------------------------------------

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
  requesterId: number;
  followerId: number;
  messageId: string;
}

/** A ticket by Rita (requester) with Finn following, put in `status`, closed `daysAgo` days ago. */
async function ticketIn(status: TicketStatus, daysAgo: number | null): Promise<Arranged> {
  const k = ++n;
  const messageId = `<status-${k}@customer.test>`;
  const raw = [
    `From: Rita ${k} <rita${k}@customer.test>`,
    'To: support@localhost',
    `Cc: Finn ${k} <finn${k}@customer.test>`,
    `Subject: status case ${k}`,
    `Message-ID: ${messageId}`,
    '',
    'It broke.',
    '',
  ].join('\r\n');
  expect((await sendRaw(smtpPort, `rita${k}@customer.test`, ['support@localhost'], raw)).code).toBe(250);
  const ticket = await eventually(() =>
    t
      .db('tickets')
      .where({ subject: `status case ${k}` })
      .first(),
  );
  const finn = await t
    .db('customer_emails')
    .where({ address: `finn${k}@customer.test` })
    .first();
  await t
    .db('tickets')
    .where({ id: ticket.id })
    .update({ status, closed_at: daysAgo === null ? null : t.db.raw(`now() - make_interval(days => ?)`, [daysAgo]) });
  return { id: ticket.id, requesterId: ticket.requester_id, followerId: finn.customer_id, messageId };
}

async function replyByMail(a: Arranged): Promise<void> {
  const ticket = await t.db('tickets').where({ id: a.id }).first();
  const k = /status case (\d+)/.exec(ticket.subject)![1];
  const raw = [
    `From: Rita ${k} <rita${k}@customer.test>`,
    'To: support@localhost',
    `Subject: Re: status case ${k}`,
    `Message-ID: <status-${k}-reply@customer.test>`,
    `In-Reply-To: ${a.messageId}`,
    `References: ${a.messageId}`,
    '',
    'Still broken.',
    '',
  ].join('\r\n');
  expect((await sendRaw(smtpPort, `rita${k}@customer.test`, ['support@localhost'], raw)).code).toBe(250);
  await eventually(() =>
    t
      .db('messages')
      .where({ message_id: `<status-${k}-reply@customer.test>` })
      .first(),
  );
}

/** A page action as this customer: the form's CSRF token from the page, then the post. */
async function onPage(a: Arranged, customerId: number, action: 'reply' | 'close'): Promise<Response> {
  const { secret } = await issueToken(t.db, 'ticket_link', { ticketId: a.id, customerId }, 3600);
  const html = await (await fetch(`${web}/t/${secret}`)).text();
  const form = html.slice(html.indexOf(`action="/t/${secret}/${action}"`));
  const csrf = /name="csrf" value="([^"]+)"/.exec(form)![1]!;
  const body = new URLSearchParams({ csrf, ...(action === 'reply' && { body: 'Still broken, from the page.' }) });
  return fetch(`${web}/t/${secret}/${action}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: body.toString(),
    redirect: 'manual',
  });
}

async function state(id: number) {
  const ticket = await t.db('tickets').where({ id }).first('status', 'closed_at');
  const linked = await t.db('tickets').where({ previous_ticket_id: id }).first('id', 'status');
  const closedMails = await t
    .db('outbound_messages')
    .where({ ticket_id: id, kind: 'ticket_closed' })
    .count<{ count: string }[]>();
  return { ...ticket, linked, closedMails: Number(closedMails[0]!.count) };
}

/** What a customer's message does, by the ticket's status and how long ago it was closed. */
const CUSTOMER_WRITES: { status: TicketStatus; daysAgo: number | null; becomes: 'open' | 'linked' }[] = [
  { status: 'open', daysAgo: null, becomes: 'open' },
  { status: 'pending', daysAgo: null, becomes: 'open' },
  { status: 'resolved', daysAgo: 2, becomes: 'open' },
  { status: 'resolved', daysAgo: REOPEN_DAYS + 5, becomes: 'linked' },
  { status: 'closed', daysAgo: 2, becomes: 'open' },
  { status: 'closed', daysAgo: REOPEN_DAYS + 5, becomes: 'linked' },
];

async function expectWritten(a: Arranged, before: TicketStatus, becomes: 'open' | 'linked') {
  const s = await state(a.id);
  if (becomes === 'open') {
    expect(s).toMatchObject({ status: 'open', closed_at: null, linked: undefined });
  } else {
    // the old ticket stays as it was; the message opened a new one, linked to it
    expect(s.status).toBe(before);
    expect(s.linked).toMatchObject({ status: 'open' });
  }
}

describe('a customer writes by mail', () => {
  it.each(CUSTOMER_WRITES)(
    'on a $status ticket closed $daysAgo days ago: $becomes',
    async ({ status, daysAgo, becomes }) => {
      const a = await ticketIn(status, daysAgo);
      await replyByMail(a);
      await expectWritten(a, status, becomes);
    },
  );
});

describe('a customer writes on the ticket page', () => {
  it.each(CUSTOMER_WRITES)(
    'on a $status ticket closed $daysAgo days ago: $becomes',
    async ({ status, daysAgo, becomes }) => {
      const a = await ticketIn(status, daysAgo);
      const r = await onPage(a, a.requesterId, 'reply');
      expect(r.status).toBe(303);
      await expectWritten(a, status, becomes);
      if (becomes === 'linked') {
        // the writer goes on in the new ticket, with a link of their own to it
        expect(r.headers.get('location')).toMatch(/^\/t\/[A-Za-z0-9_-]{43}\?done=linked$/);
        const page = await (await fetch(`${web}${r.headers.get('location')}`)).text();
        expect(page).toContain('Still broken, from the page.');
        expect(page).toContain('opened this new ticket');
      }
    },
  );
});

describe('a customer closes on the ticket page', () => {
  const cases = (['open', 'pending', 'resolved'] as const).flatMap((status) =>
    (['requester', 'follower'] as const).map((who) => ({ status, who })),
  );
  it.each(cases)('a $status ticket, by the $who', async ({ status, who }) => {
    const a = await ticketIn(status, status === 'resolved' ? 1 : null);
    const before = await state(a.id);
    const r = await onPage(a, who === 'requester' ? a.requesterId : a.followerId, 'close');
    expect(r.status).toBe(303);
    const s = await state(a.id);
    expect(s.status).toBe('closed');
    if (status === 'resolved') expect(s.closed_at).toEqual(before.closed_at);
    else expect(s.closed_at).toBeInstanceOf(Date);
    expect(s.closedMails).toBe(who === 'requester' ? 0 : 1);
  });

  it('a closed ticket offers no close button, and closing it again changes nothing', async () => {
    const a = await ticketIn('closed', 3);
    const before = await state(a.id);
    const { secret } = await issueToken(t.db, 'ticket_link', { ticketId: a.id, customerId: a.followerId }, 3600);
    expect(await (await fetch(`${web}/t/${secret}`)).text()).not.toContain(`action="/t/${secret}/close"`);
    await closeByCustomer(t.db, api.boss, { ticketId: a.id, customerId: a.followerId, via: 'ticket page' });
    expect(await state(a.id)).toEqual(before);
  });
});

describe('an agent sets the status through the API', () => {
  const cases = TICKET_STATUSES.flatMap((from) => TICKET_STATUSES.map((to) => ({ from, to })));
  it.each(cases)('$from -> $to', async ({ from, to }) => {
    const a = await ticketIn(from, from === 'resolved' || from === 'closed' ? 3 : null);
    const before = await state(a.id);
    const r = await api.call('PATCH', `/tickets/${a.id}`, { status: to });
    expect(r.status).toBe(200);
    const s = await state(a.id);
    expect(s.status).toBe(to);
    const closedAt = CLOSED_AT[from][to];
    if (closedAt === null) expect(s.closed_at).toBeNull();
    else if (closedAt === 'now') expect(s.closed_at!.getTime()).toBeGreaterThan(Date.now() - 60_000);
    else expect(s.closed_at).toEqual(before.closed_at);
    expect(s.closedMails).toBe(to === 'closed' && from !== 'closed' ? 1 : 0);
  });
});

describe('where the entry points used to disagree', () => {
  it('a ticket resolved through the API gets closed_at, so a reply after REOPEN_DAYS opens a linked ticket', async () => {
    const a = await ticketIn('open', null);
    expect((await api.call('PATCH', `/tickets/${a.id}`, { status: 'resolved' })).status).toBe(200);
    const resolved = await state(a.id);
    expect(resolved.closed_at).toBeInstanceOf(Date);
    // as if resolved long ago
    await t
      .db('tickets')
      .where({ id: a.id })
      .update({ closed_at: t.db.raw(`closed_at - make_interval(days => ?)`, [REOPEN_DAYS + 1]) });
    await replyByMail(a);
    const s = await state(a.id);
    expect(s.status).toBe('resolved');
    expect(s.linked).toMatchObject({ status: 'open' });
  });

  it('a mail to a pending ticket opens it again, as a reply on the page does', async () => {
    const byMail = await ticketIn('pending', null);
    await replyByMail(byMail);
    const byPage = await ticketIn('pending', null);
    await onPage(byPage, byPage.requesterId, 'reply');
    expect((await state(byMail.id)).status).toBe('open');
    expect((await state(byPage.id)).status).toBe('open');
    const reopened = await t.db('events').where({ ticket_id: byMail.id, type: 'ticket.reopened' }).first();
    expect(reopened.data).toMatchObject({ from: 'pending' });
  });

  it('closing on the page tells the requester, as closing through the API does, unless the requester closed it', async () => {
    const byFollower = await ticketIn('open', null);
    await onPage(byFollower, byFollower.followerId, 'close');
    const byAgent = await ticketIn('open', null);
    await api.call('PATCH', `/tickets/${byAgent.id}`, { status: 'closed' });
    const byRequester = await ticketIn('open', null);
    await onPage(byRequester, byRequester.requesterId, 'close');
    const mails = await t
      .db('outbound_messages')
      .whereIn('ticket_id', [byFollower.id, byAgent.id, byRequester.id])
      .where({ kind: 'ticket_closed' })
      .select('ticket_id', 'recipient', 'customer_id');
    expect(mails).toHaveLength(2);
    expect(mails.map((m) => m.ticket_id).sort()).toEqual([byFollower.id, byAgent.id].sort());
    expect(mails.find((m) => m.ticket_id === byFollower.id)!.customer_id).toBe(byFollower.requesterId);
  });
});
