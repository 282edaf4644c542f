// A scrape: the queue gauges read afresh, then the whole registry in Prometheus's text format.
// Served by the web role at /metrics on its own port, and by a process without it on METRICS_PORT
// (server.ts). With METRICS_TOKEN set, only `Authorization: Bearer <token>` gets an answer.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Knex } from 'knex';
import { refreshQueueGauges } from './queue-stats.ts';
import { registry } from './registry.ts';

export interface Scrape {
  contentType: string;
  body: string;
}

export async function scrapeMetrics(db: Knex): Promise<Scrape> {
  await refreshQueueGauges(db);
  return { contentType: registry.contentType, body: await registry.metrics() };
}

const digest = (s: string) => createHash('sha256').update(s).digest();

/** Whether an Authorization header opens /metrics: always without a token, else its bearer, compared in constant time. */
export function metricsAuthorized(authorization: string | undefined, token: string | undefined): boolean {
  if (token === undefined) return true;
  const given = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '')?.[1];
  return given !== undefined && timingSafeEqual(digest(given), digest(token));
}
