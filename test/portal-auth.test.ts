// Portal sign-in and sign-out: a session cookie made at sign-in (a new one each time), CSRF on
// every form, one answer for every failure, limits per address, sign-out and the end of every
// session on a password change.
import { beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './helpers/db.ts';
import { startTestApi, type TestApi } from './helpers/api.ts';
import { PortalClient } from './helpers/portal.ts';
import { setPassword, updatePortalSettings } from '../src/portal/index.ts';

let t: TestDatabase;
let api: TestApi;
let web: string;
let customerId: number;
const PASSWORD = 'correct horse battery';

beforeAll(async () => {
  t = await createTestDatabase();
  api = await startTestApi(t.url);
  web = api.base.replace(/\/api\/v1$/, '');
  await updatePortalSettings(t.db, { enabled: true });
  const c = await api.call('POST', '/customers', {
    name: 'Petra Portal',
    email: 'petra@customer.test',
    alternate_emails: ['petra@home.test'],
  });
  customerId = c.body.id;
  await setPassword(t.db, customerId, PASSWORD);
});

async function signIn(client: PortalClient, email: string, password: string) {
  return client.submit('/portal/sign-in', '/portal/sign-in', { email, password });
}

describe('portal sign-in', () => {
  it('signs in with any address of the customer, with a new session each time', async () => {
    const a = new PortalClient(web);
    const r = await signIn(a, 'petra@customer.test', PASSWORD);
    expect(r).toMatchObject({ status: 303, location: '/portal/tickets' });
    const first = a.cookie('inbound_portal');
    expect(first).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const b = new PortalClient(web);
    expect((await signIn(b, 'Petra@Home.test', PASSWORD)).status).toBe(303);
    expect(b.cookie('inbound_portal')).not.toBe(first);
    // only the hash is stored
    const rows = await t.db('portal_sessions').where({ customer_id: customerId }).select('token_hash');
    expect(rows.length).toBeGreaterThanOrEqual(2);
    expect(rows.map((r) => r.token_hash.toString('base64url'))).not.toContain(first);
  });

  it('answers an unknown address, a wrong password and a disabled account alike', async () => {
    const bodies: string[] = [];
    for (const [email, password] of [
      ['nobody@customer.test', PASSWORD],
      ['petra@customer.test', 'wrong password!'],
    ] as const) {
      const r = await signIn(new PortalClient(web), email, password);
      expect(r.status).toBe(401);
      bodies.push(r.html.replace(/value="[^"]*"/g, ''));
    }
    expect(bodies[0]).toBe(bodies[1]);
  });

  it('refuses a post without the form token', async () => {
    const r = await new PortalClient(web).post('/portal/sign-in', { email: 'petra@customer.test', password: PASSWORD });
    expect(r.status).toBe(403);
  });

  it('limits attempts per address', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 12; i++)
      statuses.push((await signIn(new PortalClient(web), 'limited@customer.test', 'x'.repeat(12))).status);
    expect(statuses.slice(0, 10).every((s) => s === 401)).toBe(true);
    expect(statuses.slice(10)).toEqual([429, 429]);
  });

  it('signs out only with the form token, and a password change ends every session', async () => {
    const a = new PortalClient(web);
    await signIn(a, 'petra@customer.test', PASSWORD);
    const b = new PortalClient(web);
    await signIn(b, 'petra@customer.test', PASSWORD);
    // signed in: the sign-in page sends them on
    expect(await a.get('/portal/sign-in')).toMatchObject({ status: 303, location: '/portal/tickets' });
    expect((await a.post('/portal/sign-out', {})).status).toBe(403);
    await setPassword(t.db, customerId, `${PASSWORD}!`);
    // both sessions ended at once: the sign-in page is shown again
    expect((await a.get('/portal/sign-in')).status).toBe(200);
    expect((await b.get('/portal/sign-in')).status).toBe(200);
    const live = await t.db('portal_sessions').where({ customer_id: customerId }).whereNull('ended_at').count();
    expect(Number(live[0]!.count)).toBe(0);
  });
});
