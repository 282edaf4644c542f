// /metrics for a process without the web role (METRICS_PORT): a bare node:http server that
// answers that one path, so an SMTP or worker process is scraped like the web role.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Knex } from 'knex';
import type { Logger } from '../log.ts';
import { metricsAuthorized, scrapeMetrics } from './scrape.ts';

export interface MetricsServerOptions {
  host: string;
  port: number;
  /** for the queue gauges */
  db: Knex;
  token: string | undefined;
  log: Logger;
}

export interface MetricsServer {
  address: AddressInfo;
  close(): Promise<void>;
}

export async function startMetricsServer(o: MetricsServerOptions): Promise<MetricsServer> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (path !== '/metrics' || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    if (!metricsAuthorized(req.headers.authorization, o.token)) {
      res.writeHead(401, { 'content-type': 'text/plain', 'www-authenticate': 'Bearer' }).end('unauthorized\n');
      return;
    }
    scrapeMetrics(o.db).then(
      ({ contentType, body }) => res.writeHead(200, { 'content-type': contentType }).end(body),
      (err: unknown) => {
        o.log.error({ err }, 'metrics scrape failed');
        res.writeHead(500, { 'content-type': 'text/plain' }).end('error\n');
      },
    );
  });
  // a scraper keeps its connection open between scrapes: close() ends them rather than waiting
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    address: server.address() as AddressInfo,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
