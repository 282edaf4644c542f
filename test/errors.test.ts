// Our own trouble answers 500 with the request's id, and the log line of the error carries the
// same id, so what a user reports finds the error.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './helpers/db.ts';
import { startBossFor } from './helpers/app.ts';
import { capturedLog } from './helpers/log.ts';
import { createDb, type Knex } from '../src/db/index.ts';
import { buildWeb, listenWeb } from '../src/web/index.ts';
import { createAgent, createApiToken } from '../src/agents/index.ts';
import { AppError } from '../src/errors.ts';

let t: TestDatabase;
let db: Knex;
let base: string;
let token: string;
const { log, lines } = capturedLog();

beforeAll(async () => {
  t = await createTestDatabase();
  db = createDb(t.url, { poolMax: 3 });
  const boss = await startBossFor(t.url);
  const app = buildWeb({ db, boss, log });
  app.get('/boom', async () => {
    throw new Error('the secret reason');
  });
  app.get('/teapot', async () => {
    throw new AppError('teapot', 'short and stout', 418);
  });
  const { port } = await listenWeb(app, '127.0.0.1', 0);
  base = `http://127.0.0.1:${port}`;
  const agent = await createAgent(db, { email: 'admin@example.com', name: 'Ada Admin', role: 'admin' });
  token = (await createApiToken(db, agent.id)).token;
  afterAll(async () => {
    await app.close();
    await db.destroy();
  });
});

interface ErrorBody {
  error: { code: string; message: string; request_id?: string };
}

/** The error lines logged for one request id. */
const errorsOf = (id: string) => lines.filter((l) => l.reqId === id && l.level >= 50);

/** Runs `fn` while `table` is missing: every statement that reads it fails. */
async function without<T>(table: string, fn: () => Promise<T>): Promise<T> {
  await t.db.raw('ALTER TABLE ?? RENAME TO ??', [table, `${table}_away`]);
  try {
    return await fn();
  } finally {
    await t.db.raw('ALTER TABLE ?? RENAME TO ??', [`${table}_away`, table]);
  }
}

describe('request ids in 500 answers and their log lines', () => {
  it('the API answers a failing database with the id its error line carries', async () => {
    const r = await without('outbound_messages', () =>
      fetch(`${base}/api/v1/outbound`, { headers: { authorization: `Bearer ${token}` } }),
    );
    expect(r.status).toBe(500);
    const body = (await r.json()) as ErrorBody;
    expect(body).toEqual({ error: { code: 'internal', message: 'internal error', request_id: expect.any(String) } });
    const id = body.error.request_id!;
    expect(r.headers.get('x-request-id')).toBe(id);
    const logged = errorsOf(id);
    expect(logged).toHaveLength(1);
    expect(logged[0]).toMatchObject({
      msg: 'API request failed',
      err: { message: expect.stringContaining('outbound_messages') },
    });
    // the answer says nothing of the cause
    expect(JSON.stringify(body)).not.toContain('outbound_messages');
  });

  it('a page shows the id on the error page', async () => {
    const r = await without('tokens', () => fetch(`${base}/t/${'a'.repeat(43)}`, { headers: { accept: 'text/html' } }));
    expect(r.status).toBe(500);
    expect(r.headers.get('content-type')).toMatch(/^text\/html/);
    const id = r.headers.get('x-request-id')!;
    const html = await r.text();
    expect(html).toContain(id);
    expect(html).not.toContain('tokens');
    expect(errorsOf(id)).toMatchObject([
      { msg: 'request failed', err: { message: expect.stringContaining('tokens') } },
    ]);
  });

  it('anything else gets the JSON error with the id', async () => {
    const r = await fetch(`${base}/boom`);
    expect(r.status).toBe(500);
    const body = (await r.json()) as ErrorBody;
    expect(body).toEqual({
      error: { code: 'internal', message: 'internal error', request_id: r.headers.get('x-request-id') },
    });
    expect(errorsOf(body.error.request_id!)).toMatchObject([{ err: { message: 'the secret reason' } }]);
  });

  it('ids differ between requests; a client error keeps its own answer and logs no error', async () => {
    const a = await fetch(`${base}/healthz`);
    const b = await fetch(`${base}/healthz`);
    expect(a.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    expect(a.headers.get('x-request-id')).not.toBe(b.headers.get('x-request-id'));

    const teapot = await fetch(`${base}/teapot`);
    expect(teapot.status).toBe(418);
    expect(errorsOf(teapot.headers.get('x-request-id')!)).toEqual([]);

    const api = await fetch(`${base}/api/v1/outbound`);
    expect(api.status).toBe(401);
    expect(((await api.json()) as ErrorBody).error.request_id).toBeUndefined();
  });
});
