// The customers API over real HTTP against a real database: every endpoint, its errors, cursor
// pages, and the directory rules (one owner per address, manual company kept, domain matching).
import { beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './helpers/db.ts';
import { startTestApi, type TestApi } from './helpers/api.ts';
import { eventually, startBossFor, startTestIngest, startTestWorker } from './helpers/app.ts';
import { sendRaw } from './helpers/smtp-client.ts';
import { QUEUES } from '../src/queue/index.ts';
import { follow, makeTicket } from './helpers/tickets.ts';

let t: TestDatabase;
let api: TestApi;
let acme: number;
let euAcme: number;

beforeAll(async () => {
  t = await createTestDatabase();
  api = await startTestApi(t.url);
  acme = (await api.call('POST', '/companies', { name: 'Acme', domains: ['acme.test'] })).body.id;
  euAcme = (await api.call('POST', '/companies', { name: 'Acme Europe', domains: ['eu.acme.test'] })).body.id;
});

describe('POST /customers', () => {
  it('creates a customer, answering 201 with the snake_case object', async () => {
    const r = await api.call('POST', '/customers', {
      name: 'Ann Example',
      email: ' Ann@Example.ORG ',
      alternate_emails: ['ann@home.example'],
      phone: '+1 555 0100',
      portal_permissions: { view_company_tickets: true },
    });
    expect(r.status).toBe(201);
    expect(r.body).toMatchObject({
      name: 'Ann Example',
      email: 'ann@example.org',
      alternate_emails: ['ann@home.example'],
      company_id: null,
      company_source: null,
      phone: '+1 555 0100',
      portal_permissions: { view_company_tickets: true },
      portal_status: 'none',
    });
    expect(Object.keys(r.body)).toEqual(
      expect.arrayContaining([
        'id',
        'name',
        'email',
        'alternate_emails',
        'company_id',
        'company_source',
        'phone',
        'portal_permissions',
        'created_at',
      ]),
    );
    expect((await api.call('GET', `/customers/${r.body.id}`)).body).toEqual(r.body);
  });

  it.each([
    ['a domain match', 'bo@acme.test', undefined, (): number => acme, 'domain'],
    ['the most specific domain, for a subdomain', 'cy@eu.acme.test', undefined, (): number => euAcme, 'domain'],
    ['a deeper subdomain of the parent', 'di@lab.acme.test', undefined, (): number => acme, 'domain'],
    ['nothing for an unknown domain', 'ed@elsewhere.test', undefined, (): null => null, null],
    ['nothing for free mail', 'fay.acme@gmail.com', undefined, (): null => null, null],
    [
      'the company chosen by hand, over the domain',
      'gil@acme.test',
      (): number => euAcme,
      (): number => euAcme,
      'manual',
    ],
    ['no company when none is chosen by hand', 'hal@acme.test', (): null => null, (): null => null, 'manual'],
  ] as const)('places a new customer: %s', async (_name, email, chosen, expected, source) => {
    const r = await api.call('POST', '/customers', { email, ...(chosen && { company_id: chosen() }) });
    expect(r.status).toBe(201);
    expect(r.body).toMatchObject({ company_id: expected(), company_source: source });
  });

  it('refuses an address that belongs to another customer with 409 and the owner id', async () => {
    const owner = (
      await api.call('POST', '/customers', { email: 'owner@example.net', alternate_emails: ['shared@example.net'] })
    ).body;
    for (const body of [
      { email: 'SHARED@example.net' },
      { email: 'new@example.net', alternate_emails: ['owner@example.net'] },
    ]) {
      const r = await api.call('POST', '/customers', body);
      expect(r.status).toBe(409);
      expect(r.body.error).toMatchObject({ code: 'conflict', owner_id: owner.id });
    }
    expect(await t.db('customer_emails').where('address', 'new@example.net').first()).toBeUndefined();
  });

  it.each([
    ['a bad address', { email: 'not-an-address' }, 422, 'invalid'],
    ['a bad alternate address', { email: 'ok@example.net', alternate_emails: ['x@'] }, 422, 'invalid'],
    ['an unknown company', { email: 'ok2@example.net', company_id: 999999 }, 422, 'invalid'],
    ['an unknown field', { email: 'ok3@example.net', colour: 'red' }, 422, 'invalid'],
    ['a wrong type', { email: 42 }, 422, 'invalid'],
    ['an unknown permission', { email: 'ok4@example.net', portal_permissions: { root: true } }, 422, 'invalid'],
    ['a body that is not JSON', '{"email":', 400, 'bad_request'],
  ])('rejects %s', async (_name, body, status, code) => {
    const r = await api.call('POST', '/customers', body);
    expect(r.status).toBe(status);
    expect(r.body.error.code).toBe(code);
    expect(typeof r.body.error.message).toBe('string');
  });

  it('queues the portal welcome mail with send_welcome, in the same transaction', async () => {
    const c = (await api.call('POST', '/customers', { email: 'welcome@example.net', send_welcome: true })).body;
    expect(c.portal_status).toBe('invited');
    const out = await t.db('outbound_messages').where({ customer_id: c.id }).first();
    expect(out).toMatchObject({ kind: 'portal_welcome', recipient: 'welcome@example.net', status: 'queued' });
    const jobs = await t.db.raw(`SELECT data FROM pgboss.job WHERE name = ? AND data->>'outboundId' = ?`, [
      QUEUES.outboundSend,
      String(out.id),
    ]);
    expect(jobs.rows).toHaveLength(1);
    // a failing create leaves neither row nor job behind
    const before = (await t.db.raw(`SELECT count(*)::int AS n FROM pgboss.job WHERE name = ?`, [QUEUES.outboundSend]))
      .rows[0].n;
    expect((await api.call('POST', '/customers', { email: 'welcome@example.net', send_welcome: true })).status).toBe(
      409,
    );
    expect(
      (await t.db.raw(`SELECT count(*)::int AS n FROM pgboss.job WHERE name = ?`, [QUEUES.outboundSend])).rows[0].n,
    ).toBe(before);
  });
});

describe('GET /customers', () => {
  it('pages with a cursor until next_cursor is null, each customer once', async () => {
    for (let i = 0; i < 7; i++)
      await api.call('POST', '/customers', { email: `page${i}@paging.test`, name: `Pager ${i}` });
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const r: { status: number; body: { data: { email: string }[]; next_cursor: string | null } } = await api.call(
        'GET',
        `/customers?q=paging.test&limit=3${cursor ? `&cursor=${cursor}` : ''}`,
      );
      expect(r.status).toBe(200);
      seen.push(...r.body.data.map((c) => c.email));
      cursor = r.body.next_cursor;
      pages++;
    } while (cursor);
    expect(pages).toBe(3);
    expect(seen).toEqual([0, 1, 2, 3, 4, 5, 6].map((i) => `page${i}@paging.test`));
  });

  it('filters by company and by any address of the customer', async () => {
    const r = await api.call('GET', `/customers?company_id=${euAcme}`);
    expect(r.body.data.map((c: { email: string }) => c.email)).toEqual(['cy@eu.acme.test', 'gil@acme.test']);
    const byAlt = await api.call('GET', '/customers?email=SHARED@example.net');
    expect(byAlt.body.data.map((c: { email: string }) => c.email)).toEqual(['owner@example.net']);
  });

  it('rejects a forged cursor and a bad limit with 400', async () => {
    expect((await api.call('GET', '/customers?cursor=nonsense')).status).toBe(400);
    expect((await api.call('GET', '/customers?limit=0')).status).toBe(400);
    expect((await api.call('GET', '/customers?limit=201')).body.error.code).toBe('bad_request');
  });
});

describe('authentication and roles', () => {
  it('answers 401 without a token, with a bad one and with a revoked one, the same way', async () => {
    const none = await api.call('GET', '/customers', undefined, null);
    const bad = await api.call('GET', '/customers', undefined, 'inb_not-a-real-token');
    expect(none.status).toBe(401);
    expect(bad.status).toBe(401);
    expect(bad.body).toEqual(none.body);
    expect(none.headers.get('www-authenticate')).toBe('Bearer');
    const { createApiToken, revokeApiToken } = await import('../src/agents/index.ts');
    const tok = await createApiToken(t.db, api.agentId);
    expect((await api.call('GET', '/customers', undefined, tok.token)).status).toBe(200);
    await revokeApiToken(t.db, tok.id);
    expect((await api.call('GET', '/customers', undefined, tok.token)).status).toBe(401);
  });

  it('keeps deletes and merges for admins (403 for agents)', async () => {
    const c = (await api.call('POST', '/customers', { email: 'keep@example.net' }, api.agentToken)).body;
    expect((await api.call('DELETE', `/customers/${c.id}`, undefined, api.agentToken)).status).toBe(403);
    const r = await api.call('POST', `/customers/${c.id}/merge`, { customer_id: 1 }, api.agentToken);
    expect(r.status).toBe(403);
    expect(r.body.error.code).toBe('forbidden');
    expect((await api.call('GET', `/customers/${c.id}`)).status).toBe(200);
  });

  it('answers 404 for unknown customers and endpoints, 400 for a bad id', async () => {
    expect((await api.call('GET', '/customers/999999')).status).toBe(404);
    expect((await api.call('PATCH', '/customers/999999', { name: 'x' })).body.error.code).toBe('not_found');
    expect((await api.call('GET', '/customers/abc')).status).toBe(400);
    expect((await api.call('GET', '/nothing-here')).status).toBe(404);
  });
});

describe('PATCH /customers/:id', () => {
  it('updates fields; a new primary keeps the old address as an alternate', async () => {
    const c = (await api.call('POST', '/customers', { email: 'old@example.net', name: 'Old' })).body;
    const r = await api.call('PATCH', `/customers/${c.id}`, {
      name: 'New Name',
      email: 'new-primary@example.net',
      phone: '123',
      portal_permissions: { portal_access: false },
    });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({
      name: 'New Name',
      email: 'new-primary@example.net',
      alternate_emails: ['old@example.net'],
      phone: '123',
      portal_permissions: { portal_access: false },
    });
    const cleared = await api.call('PATCH', `/customers/${c.id}`, {
      alternate_emails: [],
      portal_permissions: { portal_access: null },
    });
    expect(cleared.body).toMatchObject({ alternate_emails: [], portal_permissions: {} });
    expect((await api.call('PATCH', `/customers/${c.id}`, { email: 'owner@example.net' })).status).toBe(409);
  });

  it('a company chosen by hand stays when a matching domain is added to another company', async () => {
    const manual = (await api.call('POST', '/customers', { email: 'm@newco.test', company_id: acme })).body;
    const byDomain = (await api.call('POST', '/customers', { email: 'd@newco.test' })).body;
    const none = (await api.call('POST', '/customers', { email: 'n@newco.test', company_id: null })).body;
    expect(byDomain.company_id).toBeNull();
    const newco = (await api.call('POST', '/companies', { name: 'NewCo', domains: ['newco.test'] })).body;
    expect((await api.call('GET', `/customers/${manual.id}`)).body).toMatchObject({
      company_id: acme,
      company_source: 'manual',
    });
    expect((await api.call('GET', `/customers/${none.id}`)).body).toMatchObject({
      company_id: null,
      company_source: 'manual',
    });
    expect((await api.call('GET', `/customers/${byDomain.id}`)).body).toMatchObject({
      company_id: newco.id,
      company_source: 'domain',
    });
    // and back to matching by domain when asked
    const back = await api.call('PATCH', `/customers/${manual.id}`, { company_source: 'domain' });
    expect(back.body).toMatchObject({ company_id: newco.id, company_source: 'domain' });
  });
});

describe('alternate addresses', () => {
  it('adds and removes an alternate; the primary cannot be removed; 409 for a taken one', async () => {
    const c = (await api.call('POST', '/customers', { email: 'alt-owner@example.net' })).body;
    const added = await api.call('POST', `/customers/${c.id}/emails`, { email: 'Alt.Two@Example.net' });
    expect(added.status).toBe(201);
    expect(added.body.alternate_emails).toEqual(['alt.two@example.net']);
    expect((await api.call('POST', `/customers/${c.id}/emails`, { email: 'owner@example.net' })).body.error.code).toBe(
      'conflict',
    );
    expect((await api.call('DELETE', `/customers/${c.id}/emails/alt-owner@example.net`)).status).toBe(422);
    expect((await api.call('DELETE', `/customers/${c.id}/emails/nobody@example.net`)).status).toBe(404);
    const removed = await api.call('DELETE', `/customers/${c.id}/emails/alt.two@example.net`);
    expect(removed.body.alternate_emails).toEqual([]);
  });

  it('makes later mail from an added alternate land in that customer history', async () => {
    const ingest = await startTestIngest(t.url, { inboxes: ['support@localhost'], boss: api.boss });
    await startTestWorker(t.url, await startBossFor(t.url, true), 1);
    const c = (await api.call('POST', '/customers', { email: 'history@example.net', name: 'Hester' })).body;
    await api.call('POST', `/customers/${c.id}/emails`, { email: 'hester@home.example' });
    const mail = [
      'From: Hester at home <hester@home.example>',
      'To: support@localhost',
      'Subject: From my other address',
      'Message-ID: <alt-1@home.example>',
      '',
      'Hello',
      '',
    ].join('\r\n');
    const reply = await sendRaw(ingest.port, 'hester@home.example', ['support@localhost'], mail);
    expect(reply.code).toBe(250);
    const ticket = await eventually(() => t.db('tickets').where({ subject: 'From my other address' }).first());
    expect(ticket.requester_id).toBe(c.id);
    const tickets = await api.call('GET', `/customers/${c.id}/tickets`);
    expect(tickets.body.data.map((x: { id: number }) => x.id)).toEqual([ticket.id]);
    expect(await t.db('customers').where({ name: 'Hester at home' }).first()).toBeUndefined();
  });
});

describe('merge and delete', () => {
  it('merges: addresses, tickets and follows move, nothing is lost', async () => {
    const inbox = (await t.db('inboxes').insert({ address: 'merge@localhost', name: 'M' }).returning('id'))[0];
    const a = (await api.call('POST', '/customers', { email: 'keep-me@example.net', name: 'Keeper' })).body;
    const b = (
      await api.call('POST', '/customers', {
        email: 'dupe@example.net',
        alternate_emails: ['dupe2@example.net'],
        phone: '999',
        company_id: acme,
      })
    ).body;
    const other = (await api.call('POST', '/customers', { email: 'other@example.net' })).body;
    const tb = await makeTicket(t.db, { inboxId: inbox.id, requesterId: b.id, companyId: null, subject: 'B asks' });
    const to = await makeTicket(t.db, {
      inboxId: inbox.id,
      requesterId: other.id,
      companyId: null,
      subject: 'B follows',
    });
    const ta = await makeTicket(t.db, {
      inboxId: inbox.id,
      requesterId: a.id,
      companyId: null,
      subject: 'A asks, B follows',
    });
    await follow(t.db, to.id, [b.id]);
    await follow(t.db, ta.id, [b.id]);

    const r = await api.call('POST', `/customers/${a.id}/merge`, { customer_id: b.id });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({
      id: a.id,
      name: 'Keeper',
      email: 'keep-me@example.net',
      phone: '999',
      company_id: acme,
    });
    expect(r.body.alternate_emails.sort()).toEqual(['dupe2@example.net', 'dupe@example.net']);
    expect((await t.db('tickets').where({ id: tb.id }).first()).requester_id).toBe(a.id);
    expect(await t.db('ticket_followers').where({ ticket_id: to.id }).pluck('customer_id')).toEqual([a.id]);
    // A requests that ticket itself: not also a follower of it
    expect(await t.db('ticket_followers').where({ ticket_id: ta.id }).pluck('customer_id')).toEqual([]);
    expect((await api.call('GET', `/customers/${b.id}`)).status).toBe(404);
    expect((await t.db('events').where({ type: 'customer.merged', customer_id: a.id }).first()).data).toMatchObject({
      merged_customer_id: b.id,
    });
    expect((await api.call('POST', `/customers/${a.id}/merge`, { customer_id: a.id })).status).toBe(422);
    expect((await api.call('POST', `/customers/${a.id}/merge`, { customer_id: 999999 })).status).toBe(404);
  });

  it('deletes a customer and keeps their tickets', async () => {
    const inbox = await t.db('inboxes').first('id');
    const c = (await api.call('POST', '/customers', { email: 'leaving@example.net' })).body;
    const ticket = await makeTicket(t.db, {
      inboxId: inbox.id,
      requesterId: c.id,
      companyId: null,
      subject: 'Still here',
    });
    expect((await api.call('DELETE', `/customers/${c.id}`)).status).toBe(204);
    expect((await api.call('GET', `/customers/${c.id}`)).status).toBe(404);
    expect(await t.db('tickets').where({ id: ticket.id }).first()).toMatchObject({
      subject: 'Still here',
      requester_id: null,
    });
    expect(await t.db('customer_emails').where({ address: 'leaving@example.net' }).first()).toBeUndefined();
    expect((await api.call('DELETE', `/customers/${c.id}`)).status).toBe(404);
  });
});

describe('customer.created', () => {
  it('records a customer the API made, with via api', async () => {
    const r = await api.call('POST', '/customers', { email: 'via-api@example.test' });
    expect(r.status).toBe(201);
    expect(await t.db('events').where({ type: 'customer.created', customer_id: r.body.id }).pluck('data')).toEqual([
      { via: 'api' },
    ]);
  });
});
