// The web role on port 0 against the test file's database, with an admin and an agent token.
import { afterAll } from 'vitest';
import type { Knex } from 'knex';
import { createDb } from '../../src/db/index.ts';
import { buildWeb, listenWeb } from '../../src/web/index.ts';
import { createAgent, createApiToken } from '../../src/agents/index.ts';
import type { Boss } from '../../src/queue/index.ts';
import { startBossFor, testLog } from './app.ts';

// biome-ignore lint/suspicious/noExplicitAny: tests read whatever JSON a route returns
export interface ApiResponse<T = any> {
  status: number;
  body: T;
  headers: Headers;
}

export interface TestApi {
  base: string;
  db: Knex;
  boss: Boss;
  adminToken: string;
  agentToken: string;
  agentId: number;
  /** JSON in, JSON out, as the admin unless another token is given */
  // biome-ignore lint/suspicious/noExplicitAny: as above
  call<T = any>(method: string, path: string, body?: unknown, token?: string | null): Promise<ApiResponse<T>>;
}

export async function startTestApi(url: string): Promise<TestApi> {
  const db = createDb(url, { poolMax: 5, log: testLog });
  const boss = await startBossFor(url);
  const app = buildWeb({ db, boss, log: testLog });
  const { port } = await listenWeb(app, '127.0.0.1', 0);
  afterAll(async () => {
    await app.close();
    await db.destroy();
  });
  const admin = await createAgent(db, { email: `admin-${port}@example.com`, name: 'Ada Admin', role: 'admin' });
  const agent = await createAgent(db, { email: `agent-${port}@example.com`, name: 'Alan Agent', role: 'agent' });
  const adminToken = (await createApiToken(db, admin.id)).token;
  const agentToken = (await createApiToken(db, agent.id)).token;
  const base = `http://127.0.0.1:${port}/api/v1`;
  return {
    base,
    db,
    boss,
    adminToken,
    agentToken,
    agentId: agent.id,
    async call(method, path, body, token = adminToken) {
      const r = await fetch(base + path, {
        method,
        headers: {
          ...(token !== null && { authorization: `Bearer ${token}` }),
          ...(body !== undefined && { 'content-type': 'application/json' }),
        },
        body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
      });
      const text = await r.text();
      return { status: r.status, body: text ? JSON.parse(text) : undefined, headers: r.headers };
    },
  };
}
