import { beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './helpers/db.ts';
import { startBossFor, testLog } from './helpers/app.ts';
import { startTcpProxy, viaProxy } from './helpers/tcp-proxy.ts';
import { createDb } from '../src/db/index.ts';
import { buildWeb, listenWeb } from '../src/web/index.ts';

let t: TestDatabase;
beforeAll(async () => {
  t = await createTestDatabase();
});

describe('health endpoints', () => {
  it('healthz says the process is up; readyz checks the database and the queue', async () => {
    const u = new URL(t.url);
    const proxy = await startTcpProxy(u.hostname, Number(u.port || 5432));
    const db = createDb(viaProxy(t.url, proxy), { poolMax: 2, log: testLog });
    const boss = await startBossFor(viaProxy(t.url, proxy));
    const app = buildWeb({ db, boss, log: testLog });
    const { port } = await listenWeb(app, '127.0.0.1', 0);
    const get = async (p: string) => {
      const r = await fetch(`http://127.0.0.1:${port}${p}`);
      return { status: r.status, body: await r.json() };
    };
    try {
      expect(await get('/healthz')).toMatchObject({ status: 200, body: { status: 'ok' } });
      expect(await get('/readyz')).toEqual({
        status: 200,
        body: { status: 'ready', checks: { database: 'ok', queue: 'ok' } },
      });
      proxy.down();
      expect(await get('/healthz')).toMatchObject({ status: 200 });
      expect(await get('/readyz')).toMatchObject({
        status: 503,
        body: { status: 'unavailable', checks: { database: 'down' } },
      });
      proxy.up();
      expect((await get('/readyz')).status).toBe(200);
    } finally {
      await app.close();
      await db.destroy();
      await proxy.close();
    }
  });
});

describe('secrets in URLs and client addresses', () => {
  it('logs magic and password links without their secret', async () => {
    const { redactUrl } = await import('../src/web/index.ts');
    expect(redactUrl('/t/AbCdEfGhIjKlMnOpQrStUvWxYz0123456789_-abcde')).toBe('/t/…');
    expect(redactUrl('/t/AbC/attachments/ff00')).toBe('/t/…/attachments/ff00');
    expect(redactUrl('/portal/password/secret123?x=1')).toBe('/portal/password/…?x=…');
    expect(redactUrl('/api/v1/tickets/3')).toBe('/api/v1/tickets/3');
  });

  it('counts IPv6 clients by their /64 and IPv4 ones by address', async () => {
    const { clientKey } = await import('../src/access/index.ts');
    expect(clientKey('203.0.113.7')).toBe('203.0.113.7');
    expect(clientKey('::ffff:203.0.113.7')).toBe('203.0.113.7');
    expect(clientKey('2001:db8:1:2:aaaa::1')).toBe('2001:db8:1:2::/64');
    expect(clientKey('2001:db8:1:2:bbbb:cccc:dddd:eeee')).toBe('2001:db8:1:2::/64');
    expect(clientKey('::1')).toBe('0:0:0:0::/64');
  });
});
