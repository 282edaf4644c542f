// The tickets API: listing with filters and pages, a ticket with its conversation (from a real
// mail through SMTP and the worker), changes with their events, followers.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './helpers/db.ts';
import { startTestApi, type TestApi } from './helpers/api.ts';
import { eventually, startBossFor, startTestIngest, startTestWorker } from './helpers/app.ts';
import { sendRaw } from './helpers/smtp-client.ts';

let t: TestDatabase;
let api: TestApi;
let port: number;
let ticketId: number;

async function mail(
  from: string,
  subject: string,
  extra: string[] = [],
): Promise<{ id: number; requester_id: number; company_id: number | null }> {
  const raw = [
    `From: ${from}`,
    'To: support@localhost',
    ...extra,
    `Subject: ${subject}`,
    `Message-ID: <${subject.replace(/\W/g, '')}.${Date.now()}@client.test>`,
    '',
    `Body of ${subject}`,
    '',
  ].join('\r\n');
  const address = /<(.+)>/.exec(from)![1]!;
  expect((await sendRaw(port, address, ['support@localhost'], raw)).code).toBe(250);
  return eventually(() => t.db('tickets').where({ subject }).first());
}

beforeAll(async () => {
  t = await createTestDatabase();
  api = await startTestApi(t.url);
  const ingest = await startTestIngest(t.url, { inboxes: ['support@localhost', 'sales@localhost'] });
  port = ingest.port;
  await startTestWorker(t.url, await startBossFor(t.url, true), 1);
  await api.call('POST', '/companies', { name: 'Acme', domains: ['acme.test'] });
  ticketId = (await mail('Ann <ann@acme.test>', 'Printer on fire', ['Cc: Carl <carl@acme.test>'])).id;
  await mail('Bob <bob@other.test>', 'Second ticket');
  await mail('Ann <ann@acme.test>', 'Third ticket');
});

describe('GET /tickets', () => {
  it('lists newest first, filtered by status, customer and company, in pages', async () => {
    const all = await api.call('GET', '/tickets');
    expect(all.body.data.map((x: { subject: string }) => x.subject)).toEqual([
      'Third ticket',
      'Second ticket',
      'Printer on fire',
    ]);
    expect(all.body.data[0]).toMatchObject({
      inbox: 'support@localhost',
      status: 'open',
      priority: 'normal',
      tags: [],
    });
    const ann = all.body.data[2].requester_id;
    const byCustomer = await api.call('GET', `/tickets?customer_id=${ann}`);
    expect(byCustomer.body.data.map((x: { subject: string }) => x.subject)).toEqual([
      'Third ticket',
      'Printer on fire',
    ]);
    const byCompany = await api.call('GET', `/tickets?company_id=${all.body.data[2].company_id}`);
    expect(byCompany.body.data).toHaveLength(2);
    const p1 = await api.call('GET', '/tickets?limit=2');
    const p2 = await api.call('GET', `/tickets?limit=2&cursor=${p1.body.next_cursor}`);
    expect(p2.body).toMatchObject({ next_cursor: null });
    expect(p2.body.data.map((x: { id: number }) => x.id)).toEqual([ticketId]);
    expect((await api.call('GET', '/tickets?status=bogus')).status).toBe(400);
    const inbox = await t.db('inboxes').where({ address: 'sales@localhost' }).first('id');
    expect((await api.call('GET', `/tickets?inbox_id=${inbox.id}`)).body.data).toEqual([]);
  });
});

describe('the same read model on the command line', () => {
  const bin = path.resolve(import.meta.dirname, '../bin/inbound.js');
  const cli = async (args: string[]) =>
    JSON.parse(
      (await promisify(execFile)(process.execPath, [bin, ...args], { env: { ...process.env, DATABASE_URL: t.url } }))
        .stdout,
    );

  it('`tickets list --json` is GET /tickets: shape, order and filters', async () => {
    const all = (await api.call('GET', '/tickets?limit=100')).body.data;
    expect(all.length).toBeGreaterThanOrEqual(3);
    expect(all[0]).toMatchObject({ requester: expect.any(String), messages: expect.any(Number) });
    expect(await cli(['tickets', 'list', '--json'])).toEqual(all);
    const ann = all.find((x: { subject: string }) => x.subject === 'Printer on fire');
    const filters: [string, string[]][] = [
      [`customer_id=${ann.requester_id}`, ['--customer', String(ann.requester_id)]],
      [`company_id=${ann.company_id}`, ['--company', String(ann.company_id)]],
      [`inbox_id=${ann.inbox_id}&status=open`, ['--inbox', String(ann.inbox_id), '--status', 'open']],
    ];
    // the next page: the API's cursor is the id the command line takes
    const first = (await api.call('GET', '/tickets?limit=1')).body;
    filters.push([`limit=1&cursor=${first.next_cursor}`, ['--before', String(first.data[0].id), '--limit', '1']]);
    for (const [query, args] of filters) {
      const viaApi = (await api.call('GET', `/tickets?${query}`)).body.data;
      expect(viaApi.length).toBeGreaterThan(0);
      expect(await cli(['tickets', 'list', '--json', ...args])).toEqual(viaApi);
    }
  });

  it('`tickets show --json` is GET /tickets/:id', async () => {
    expect(await cli(['tickets', 'show', `id:${ticketId}`, '--json'])).toEqual(
      (await api.call('GET', `/tickets/${ticketId}`)).body,
    );
  });
});

describe('GET /tickets/:id', () => {
  it('shows requester, followers, company and every message with its verdicts', async () => {
    const r = await api.call('GET', `/tickets/${ticketId}`);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({
      id: ticketId,
      subject: 'Printer on fire',
      requester: { name: 'Ann', email: 'ann@acme.test' },
      company: { name: 'Acme' },
      followers: [{ name: 'Carl', email: 'carl@acme.test' }],
    });
    expect(r.body.messages).toHaveLength(1);
    expect(r.body.messages[0]).toMatchObject({
      direction: 'inbound',
      author_type: 'customer',
      from: 'ann@acme.test',
      classification: 'normal',
      internal: false,
    });
    expect(r.body.messages[0].visible_text).toContain('Body of Printer on fire');
    expect(r.body.messages[0].auth).toHaveProperty('dmarc');
    expect((await api.call('GET', '/tickets/999999')).status).toBe(404);
  });
});

describe('PATCH /tickets/:id', () => {
  it('changes status, priority, type, tags and assignee, leaving an event', async () => {
    const r = await api.call(
      'PATCH',
      `/tickets/${ticketId}`,
      {
        status: 'closed',
        priority: 'high',
        type: 'incident',
        tags: ['Hardware', 'fire', 'fire'],
        assignee_id: api.agentId,
      },
      api.agentToken,
    );
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({
      status: 'closed',
      priority: 'high',
      type: 'incident',
      tags: ['fire', 'hardware'],
      assignee_id: api.agentId,
    });
    expect(r.body.closed_at).not.toBeNull();
    const ev = await t
      .db('events')
      .where({ type: 'ticket.updated', ticket_id: ticketId })
      .orderBy('id', 'desc')
      .first();
    expect(ev.data).toMatchObject({
      agent_id: api.agentId,
      from: { status: 'open', priority: 'normal' },
      to: { status: 'closed', priority: 'high' },
    });
    const reopened = await api.call('PATCH', `/tickets/${ticketId}`, { status: 'open', assignee_id: null });
    expect(reopened.body).toMatchObject({ status: 'open', closed_at: null, assignee_id: null });
  });

  it.each([
    [{ status: 'done' }, 422],
    [{ priority: 'whenever' }, 422],
    [{ assignee_id: 999999 }, 422],
    [{ subject: 'not changeable here' }, 422],
  ])('refuses %j', async (body, status) => {
    expect((await api.call('PATCH', `/tickets/${ticketId}`, body)).status).toBe(status);
  });
});

describe('followers', () => {
  it('adds by customer id or by address (a new customer for a new address), and removes', async () => {
    const bob = await t.db('customer_emails').where({ address: 'bob@other.test' }).first('customer_id');
    const byId = await api.call('POST', `/tickets/${ticketId}/followers`, { customer_id: bob.customer_id });
    expect(byId.status).toBe(201);
    expect(byId.body.map((f: { email: string }) => f.email)).toEqual(['carl@acme.test', 'bob@other.test']);
    const byAddress = await api.call('POST', `/tickets/${ticketId}/followers`, {
      email: 'Dana@acme.test',
      name: 'Dana',
    });
    expect(byAddress.body.map((f: { email: string }) => f.email)).toContain('dana@acme.test');
    const dana = (await api.call('GET', '/customers?email=dana@acme.test')).body.data[0];
    expect(dana).toMatchObject({ name: 'Dana', company_source: 'domain' });
    const requester = (await api.call('GET', `/tickets/${ticketId}`)).body.requester;
    expect((await api.call('POST', `/tickets/${ticketId}/followers`, { customer_id: requester.id })).status).toBe(422);
    expect((await api.call('POST', `/tickets/${ticketId}/followers`, { customer_id: 999999 })).status).toBe(422);
    expect((await api.call('POST', `/tickets/999999/followers`, { customer_id: bob.customer_id })).status).toBe(404);
    expect((await api.call('POST', `/tickets/${ticketId}/followers`, { email: 'bad' })).status).toBe(422);

    expect((await api.call('DELETE', `/tickets/${ticketId}/followers/${bob.customer_id}`)).status).toBe(204);
    expect((await api.call('DELETE', `/tickets/${ticketId}/followers/${bob.customer_id}`)).status).toBe(404);
    expect(
      (await api.call('GET', `/tickets/${ticketId}`)).body.followers.map((f: { email: string }) => f.email),
    ).toEqual(['carl@acme.test', 'dana@acme.test']);
  });

  it('records the customer a follower by address made, with the ticket and the agent', async () => {
    const dana = await t.db('customer_emails').where({ address: 'dana@acme.test' }).first('customer_id');
    const events = await t
      .db('events')
      .where({ type: 'customer.created', customer_id: dana.customer_id })
      .pluck('data');
    expect(events).toEqual([{ via: 'follower', ticket_id: ticketId, agent_id: expect.any(Number) }]);
  });

  it('makes no customer for a follower posted by address to a missing ticket', async () => {
    const r = await api.call('POST', '/tickets/999999/followers', { email: 'nobody@acme.test', name: 'Nobody' });
    expect(r.status).toBe(404);
    expect(await t.db('customer_emails').where({ address: 'nobody@acme.test' }).first()).toBeUndefined();
    expect(await t.db('customers').where({ name: 'Nobody' }).first()).toBeUndefined();
  });
});
