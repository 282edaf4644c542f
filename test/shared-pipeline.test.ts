// The portal's shared pipelined connections (src/db/shared-pipeline.ts) against a real PostgreSQL:
// many callers at once each get their own rows, a statement's error is its caller's alone and
// leaves the connection working, and a database that stops answering (a TCP proxy that holds every
// byte, the connection left open) fails what is in flight within the query deadline instead of
// hanging, after which the next call connects afresh.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { SharedPipeline } from '../src/db/index.ts';
import { createTestDatabase, type TestDatabase } from './helpers/db.ts';
import { startTcpProxy, type TcpProxy, viaProxy } from './helpers/tcp-proxy.ts';

let t: TestDatabase;
let proxy: TcpProxy;
let shared: SharedPipeline;

beforeAll(async () => {
  t = await createTestDatabase();
  const u = new URL(t.url);
  proxy = await startTcpProxy(u.hostname, Number(u.port || 5432));
  shared = new SharedPipeline(viaProxy(t.url, proxy), 2, { applicationName: 'inbound-test-shared' });
});
afterAll(async () => {
  await shared.end();
  await proxy.close();
});

const echo = (n: number) => ({ sql: 'SELECT ?::int AS n, pg_backend_pid() AS pid', bindings: [n] });

it('gives each of many concurrent callers its own rows, on two connections', async () => {
  const calls = Array.from({ length: 200 }, (_, i) => shared.rows(t.db, [echo(i), echo(1000 + i)]));
  const results = await Promise.all(calls);
  const pids = new Set<number>();
  results.forEach((settled, i) => {
    expect(settled.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled']);
    const [a, b] = settled as PromiseFulfilledResult<{ n: number; pid: number }[]>[];
    expect(a!.value[0]!.n).toBe(i);
    expect(b!.value[0]!.n).toBe(1000 + i);
    // the two statements of one call go on one connection, together
    expect(a!.value[0]!.pid).toBe(b!.value[0]!.pid);
    pids.add(a!.value[0]!.pid);
  });
  expect(pids.size).toBe(2);
});

it('fails only the statement that fails, and the connection goes on', async () => {
  const [bad, good] = await shared.rows(t.db, [{ sql: 'SELECT 1 / (? - 1) AS x', bindings: [1] }, echo(7)]);
  expect(bad!.status).toBe('rejected');
  expect((bad as PromiseRejectedResult).reason.code).toBe('22012');
  expect(good).toMatchObject({ status: 'fulfilled', value: [{ n: 7 }] });
  const [again] = await shared.rows(t.db, [echo(8)]);
  expect(again).toMatchObject({ status: 'fulfilled', value: [{ n: 8 }] });
});

it('a database that stops answering fails the calls within the deadline; the next call after it answers works', async () => {
  await shared.rows(t.db, [echo(1)]);
  proxy.freeze();
  const started = performance.now();
  const stuck = await Promise.all([shared.rows(t.db, [echo(2)]), shared.rows(t.db, [echo(3)])]).then(
    (r) => r.flat(),
    (err: Error) => [{ status: 'rejected', reason: err }],
  );
  const waited = performance.now() - started;
  expect(stuck.every((r) => r.status === 'rejected')).toBe(true);
  // the query deadline is 10 s: well before anything a user or a load balancer gives up on
  expect(waited).toBeGreaterThan(9_000);
  expect(waited).toBeLessThan(30_000);
  proxy.thaw();
  const [after] = await shared.rows(t.db, [echo(4)]);
  expect(after).toMatchObject({ status: 'fulfilled', value: [{ n: 4 }] });
}, 60_000);
