// The companies API: create/list/show/update/delete, domains and what they do to customers, and
// a company's customers and tickets.
import { beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './helpers/db.ts';
import { startTestApi, type TestApi } from './helpers/api.ts';
import { makeTicket } from './helpers/tickets.ts';

let t: TestDatabase;
let api: TestApi;

beforeAll(async () => {
  t = await createTestDatabase();
  api = await startTestApi(t.url);
});

describe('companies', () => {
  it('creates, shows and lists companies with their domains and portal defaults', async () => {
    const r = await api.call('POST', '/companies', {
      name: 'Globex',
      domains: ['Globex.test', '@globex-mail.test'],
      portal_permissions: { view_company_tickets: true },
    });
    expect(r.status).toBe(201);
    expect(r.body).toMatchObject({
      name: 'Globex',
      domains: ['globex-mail.test', 'globex.test'],
      portal_permissions: { view_company_tickets: true },
    });
    expect(Object.keys(r.body)).toEqual(expect.arrayContaining(['id', 'name', 'domains', 'portal_permissions']));
    expect((await api.call('GET', `/companies/${r.body.id}`)).body).toEqual(r.body);
    const list = await api.call('GET', '/companies?name=glob');
    expect(list.body).toEqual({ data: [r.body], next_cursor: null });
  });

  it.each([
    ['a taken name, whatever its case', { name: 'GLOBEX' }, 409],
    ['a domain owned by another company', { name: 'Other', domains: ['globex.test'] }, 409],
    ['a free-mail domain', { name: 'Gmail Fans', domains: ['gmail.com'] }, 422],
    ['a disposable-mail domain', { name: 'Throwaway', domains: ['mailinator.com'] }, 422],
    ['something that is no domain', { name: 'Bad', domains: ['not a domain'] }, 422],
    ['no name', { domains: ['x.test'] }, 422],
  ])('refuses %s', async (_n, body, status) => {
    const r = await api.call('POST', '/companies', body);
    expect(r.status).toBe(status);
    expect(r.body.error.message).toBeTruthy();
  });

  it('names the owner of a taken domain', async () => {
    const globex = (await api.call('GET', '/companies?name=Globex')).body.data[0];
    const r = await api.call('POST', '/companies', { name: 'Copycat', domains: ['globex.test'] });
    expect(r.body.error).toMatchObject({ code: 'conflict', owner_id: globex.id });
  });

  it('pages through companies', async () => {
    for (let i = 0; i < 5; i++) await api.call('POST', '/companies', { name: `Pager ${i}` });
    const first = await api.call('GET', '/companies?name=Pager&limit=2');
    const second = await api.call('GET', `/companies?name=Pager&limit=2&cursor=${first.body.next_cursor}`);
    const third = await api.call('GET', `/companies?name=Pager&limit=2&cursor=${second.body.next_cursor}`);
    expect([...first.body.data, ...second.body.data, ...third.body.data].map((c: { name: string }) => c.name)).toEqual([
      'Pager 0',
      'Pager 1',
      'Pager 2',
      'Pager 3',
      'Pager 4',
    ]);
    expect(third.body.next_cursor).toBeNull();
  });

  it('re-places domain-matched customers when domains change, never hand-placed ones', async () => {
    const initech = (await api.call('POST', '/companies', { name: 'Initech' })).body;
    const other = (await api.call('POST', '/companies', { name: 'Other Co' })).body;
    const free = (await api.call('POST', '/customers', { email: 'peter@initech.test' })).body;
    const sub = (await api.call('POST', '/customers', { email: 'milton@basement.initech.test' })).body;
    const hand = (await api.call('POST', '/customers', { email: 'bill@initech.test', company_id: other.id })).body;
    const r = await api.call('PATCH', `/companies/${initech.id}`, { domains: ['initech.test'] });
    expect(r.body.domains).toEqual(['initech.test']);
    const get = async (id: number) => (await api.call('GET', `/customers/${id}`)).body;
    expect(await get(free.id)).toMatchObject({ company_id: initech.id, company_source: 'domain' });
    expect(await get(sub.id)).toMatchObject({ company_id: initech.id, company_source: 'domain' });
    expect(await get(hand.id)).toMatchObject({ company_id: other.id, company_source: 'manual' });
    // a more specific domain elsewhere takes its customers; removing it gives them back
    await api.call('PATCH', `/companies/${other.id}`, { domains: ['basement.initech.test'] });
    expect(await get(sub.id)).toMatchObject({ company_id: other.id, company_source: 'domain' });
    await api.call('PATCH', `/companies/${other.id}`, { domains: [] });
    expect(await get(sub.id)).toMatchObject({ company_id: initech.id, company_source: 'domain' });
    await api.call('PATCH', `/companies/${initech.id}`, { domains: [] });
    expect(await get(free.id)).toMatchObject({ company_id: null, company_source: null });
    expect(await get(hand.id)).toMatchObject({ company_id: other.id, company_source: 'manual' });
  });

  it('updates name and portal defaults; null clears a default', async () => {
    const c = (
      await api.call('POST', '/companies', {
        name: 'Hooli',
        portal_permissions: { create_tickets: false, view_company_tickets: true },
      })
    ).body;
    const r = await api.call('PATCH', `/companies/${c.id}`, {
      name: 'Hooli XYZ',
      portal_permissions: { create_tickets: null },
    });
    expect(r.body).toMatchObject({ name: 'Hooli XYZ', portal_permissions: { view_company_tickets: true } });
    expect(r.body.portal_permissions).not.toHaveProperty('create_tickets');
    expect((await api.call('PATCH', `/companies/${c.id}`, { name: 'globex' })).status).toBe(409);
    expect((await api.call('PATCH', '/companies/999999', { name: 'x' })).status).toBe(404);
  });

  it("lists a company's customers and tickets, and deletes it keeping both", async () => {
    const co = (await api.call('POST', '/companies', { name: 'Umbrella', domains: ['umbrella.test'] })).body;
    const a = (await api.call('POST', '/customers', { email: 'alice@umbrella.test' })).body;
    const b = (await api.call('POST', '/customers', { email: 'bob@elsewhere.test', company_id: co.id })).body;
    const [inbox] = await t.db('inboxes').insert({ address: 'help@localhost', name: 'Help' }).returning('id');
    const ticket = await makeTicket(t.db, {
      inboxId: inbox.id,
      requesterId: a.id,
      companyId: co.id,
      subject: 'Outbreak',
    });
    const customers = await api.call('GET', `/companies/${co.id}/customers`);
    expect(customers.body.data.map((c: { id: number }) => c.id)).toEqual([a.id, b.id]);
    const tickets = await api.call('GET', `/companies/${co.id}/tickets`);
    expect(tickets.body.data.map((x: { id: number }) => x.id)).toEqual([ticket.id]);

    expect((await api.call('DELETE', `/companies/${co.id}`, undefined, api.agentToken)).status).toBe(403);
    expect((await api.call('DELETE', `/companies/${co.id}`)).status).toBe(204);
    expect((await api.call('GET', `/companies/${co.id}`)).status).toBe(404);
    expect((await api.call('GET', `/companies/${co.id}/customers`)).status).toBe(404);
    expect((await api.call('GET', `/customers/${a.id}`)).body).toMatchObject({
      company_id: null,
      company_source: null,
    });
    expect((await api.call('GET', `/customers/${b.id}`)).body).toMatchObject({
      company_id: null,
      company_source: null,
    });
    expect(await t.db('tickets').where({ id: ticket.id }).first()).toMatchObject({
      company_id: null,
      subject: 'Outbreak',
    });
  });
});

describe('OpenAPI document', () => {
  it('is served without a token and describes every route with its schemas', async () => {
    const r = await api.call('GET', '/openapi.json', undefined, null);
    expect(r.status).toBe(200);
    expect(r.body.openapi).toBe('3.1.0');
    const ops = Object.entries(r.body.paths as Record<string, Record<string, unknown>>).flatMap(([p, m]) =>
      Object.keys(m).map((x) => `${x.toUpperCase()} ${p}`),
    );
    expect(ops).toEqual(
      expect.arrayContaining([
        'GET /tickets',
        'GET /tickets/{id}',
        'PATCH /tickets/{id}',
        'POST /tickets/{id}/followers',
        'DELETE /tickets/{id}/followers/{customer_id}',
        'GET /customers',
        'POST /customers',
        'GET /customers/{id}',
        'PATCH /customers/{id}',
        'DELETE /customers/{id}',
        'POST /customers/{id}/emails',
        'DELETE /customers/{id}/emails/{email}',
        'POST /customers/{id}/merge',
        'POST /customers/import',
        'GET /companies',
        'POST /companies',
        'GET /companies/{id}',
        'PATCH /companies/{id}',
        'DELETE /companies/{id}',
        'GET /companies/{id}/customers',
        'GET /companies/{id}/tickets',
      ]),
    );
    const create = r.body.paths['/customers'].post;
    expect(create.requestBody.content['application/json'].schema.required).toEqual(['email']);
    expect(create.responses['201'].content['application/json'].schema.properties).toHaveProperty('alternate_emails');
    expect(create.responses['409']).toEqual({ $ref: '#/components/responses/Error' });
  });
});
