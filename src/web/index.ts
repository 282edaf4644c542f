// The web role: health endpoints, the agents' JSON API and the public ticket page; the portal is
// mounted here as it comes.
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import type { AddressInfo } from 'node:net';
import type { Knex } from 'knex';
import type { Logger } from '../log.ts';
import type { Boss } from '../queue/index.ts';
import { ping } from '../db/index.ts';
import { QUEUES } from '../queue/index.ts';
import { apiPlugin } from './api/index.ts';
import { publicPages } from './public/index.ts';

export interface WebDeps {
  db: Knex;
  boss: Boss;
  log: Logger;
  /** the load balancers in front of us (addresses or CIDRs): X-Forwarded-For is believed from these only */
  trustProxy?: readonly string[];
}

/** Paths that carry a secret (magic links, password links) are logged without it. */
export function redactUrl(url: string): string {
  return url.replace(/\/(t|portal\/password|admin\/password)\/[^/?#]+/, '/$1/…');
}

export function buildWeb({ db, boss, log, trustProxy }: WebDeps): FastifyInstance {
  const app = Fastify({
    loggerInstance: log.child({ role: 'web' }) as FastifyBaseLogger,
    bodyLimit: 2 * 1024 * 1024,
    trustProxy: trustProxy?.length ? [...trustProxy] : false,
    // Fastify's own request lines would log secrets in URLs: ours below redact them
    logController: new LogController({ disableRequestLogging: true }),
  });
  app.addHook('onResponse', async (request, reply) => {
    request.log.info(
      {
        method: request.method,
        url: redactUrl(request.url),
        status: reply.statusCode,
        ms: Math.round(reply.elapsedTime),
      },
      'request',
    );
  });
  const started = Date.now();

  app.get('/healthz', async () => ({ status: 'ok', uptime_s: Math.round((Date.now() - started) / 1000) }));

  app.get('/readyz', async (_req, res) => {
    const [database, queue] = await Promise.all([
      ping(db),
      boss.getQueue(QUEUES.inboundProcess).then(
        (q) => q !== null,
        () => false,
      ),
    ]);
    const ready = database && queue;
    return res.code(ready ? 200 : 503).send({
      status: ready ? 'ready' : 'unavailable',
      checks: { database: database ? 'ok' : 'down', queue: queue ? 'ok' : 'down' },
    });
  });

  app.register(apiPlugin, { prefix: '/api/v1', db, boss, log });
  app.register(publicPages, { db, boss, log });

  return app;
}

export async function listenWeb(app: FastifyInstance, host: string, port: number): Promise<AddressInfo> {
  await app.listen({ host, port });
  return app.server.address() as AddressInfo;
}
