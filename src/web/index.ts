// The web role: health endpoints, the agents' JSON API, the public ticket page, the customer portal
// and the admin area.
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import Fastify, {
  type FastifyBaseLogger,
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  LogController,
} from 'fastify';
import type { Knex } from 'knex';
import { Eta } from 'eta';
import { AppError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { Boss } from '../queue/index.ts';
import { connectionUrl, ping, SharedPipeline } from '../db/index.ts';
import { DEFAULT_REOPEN_DAYS, DEFAULT_TICKET_LINK_DAYS } from '../config.ts';
import { QUEUES } from '../queue/index.ts';
import { apiPlugin } from './api/index.ts';
import { publicPages } from './public/index.ts';
import { portalPages } from './portal/index.ts';
import { adminPages } from './admin/index.ts';
import { getPortalSettings } from '../portal/index.ts';
import { metricsAuthorized, observeHttp, scrapeMetrics } from '../metrics/index.ts';

export interface WebDeps {
  db: Knex;
  boss: Boss;
  log: Logger;
  /** the load balancers in front of us (addresses or CIDRs): X-Forwarded-For is believed from these only */
  trustProxy?: readonly string[];
  /** where links in mail point (PUBLIC_URL or this machine); https makes the portal's cookies Secure */
  publicUrl?: string;
  /** REOPEN_DAYS and TICKET_LINK_DAYS, for what the ticket page does with a late reply */
  reopenDays?: number;
  ticketLinkDays?: number;
  /** METRICS_TOKEN: when set, /metrics answers only `Authorization: Bearer <token>` */
  metricsToken?: string;
}

/** The part of the site a route is in, by its first segment: a fixed set of labels. */
const AREAS: Readonly<Record<string, string>> = {
  api: 'api',
  t: 'ticket_page',
  portal: 'portal',
  admin: 'admin',
  healthz: 'health',
  readyz: 'health',
  metrics: 'health',
};
const METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

/**
 * A request's metric labels: its route's pattern (/t/:secret), never the URL asked for; a URL no
 * route matched is 'unmatched', in the area its first segment names (or 'other').
 */
function observeRequest(request: FastifyRequest, reply: FastifyReply): void {
  const route = request.routeOptions.url;
  const first = (route ?? request.url).split(/[/?#]/, 2)[1] ?? '';
  observeHttp({
    area: Object.hasOwn(AREAS, first) ? AREAS[first]! : 'other',
    route: route ?? 'unmatched',
    method: METHODS.has(request.method) ? request.method : 'other',
    status: reply.statusCode,
    seconds: reply.elapsedTime / 1000,
  });
}

/** Path segments whose next segment is a secret: magic links, password, sign-in and sign-up links. */
const SECRET_AFTER: readonly (readonly string[])[] = [
  ['t'],
  ['portal', 'password'],
  ['portal', 'sign-in', 'link'],
  ['portal', 'sign-up'],
  ['admin', 'password'],
];
/** A query parameter name logged as it is: short snake_case, as the API's are. Anything else could be a secret. */
const PLAIN_NAME = /^[a-z][a-z0-9_]{0,31}$/;

/**
 * The request URL as it is logged: without the secret of /t/<secret>, /portal/password/<secret> and
 * /admin/password/<secret>, and without the query's values.
 *
 * The router matches the percent-decoded path (find-my-way: the path ends at the first ? or #, is
 * split on its raw /, and an encoded %2F stays inside its segment), so the match here is on decoded
 * segments too: /%74/<secret> and /portal/%70assword/<secret> are the same routes as /t/<secret> and
 * /portal/password/<secret>. To err on the side of redacting, empty and . segments are skipped
 * (//t/<secret>, /t/./<secret>: what a proxy in front may fold), names are compared ignoring case,
 * an encoded / or \ inside a segment also separates names (the whole raw segment that holds the
 * secret goes), and the names are matched anywhere in the path, not only at its start. A
 * malformed escape never throws: what is not valid UTF-8 decodes to U+FFFD.
 *
 * The query can carry anything a client puts there, a secret too, so every value is dropped and
 * only names that look like the API's are kept (`?done=…`); the fragment, which browsers never
 * send, is dropped too. Linear in the URL's length: one pass to split, one decode per segment, and
 * comparisons of a fixed size; the regexes have no quantifier that can backtrack over another.
 */
export function redactUrl(url: string): string {
  const found = url.search(/[?#]/);
  const end = found === -1 ? url.length : found;
  const segments = url.slice(0, end).split('/');
  // every name in the path, decoded, with the raw segment it came from
  const names: { name: string; segment: number }[] = [];
  segments.forEach((raw, segment) => {
    for (const name of percentDecode(raw).split(/[/\\]/)) {
      if (name !== '' && name !== '.') names.push({ name: name.toLowerCase(), segment });
    }
  });
  const secret = new Set<number>();
  names.forEach((_, at) => {
    for (const prefix of SECRET_AFTER) {
      const next = names[at + prefix.length];
      if (next && prefix.every((p, i) => names[at + i]!.name === p)) secret.add(next.segment);
    }
  });
  const path = segments.map((raw, i) => (secret.has(i) ? '…' : raw)).join('/');
  return path + redactQuery(url.slice(end));
}

/** `?a=1&b` to `?a=…&b`; names that could be anything become …; a fragment goes. */
function redactQuery(rest: string): string {
  if (!rest.startsWith('?')) return '';
  const hash = rest.indexOf('#');
  const query = rest.slice(1, hash === -1 ? rest.length : hash);
  if (query === '') return '';
  const params = query.split('&').map((param) => {
    if (param === '') return '';
    const eq = param.indexOf('=');
    const name = percentDecode((eq === -1 ? param : param.slice(0, eq)).replaceAll('+', ' '));
    return `${PLAIN_NAME.test(name) ? name : '…'}${eq === -1 ? '' : '=…'}`;
  });
  return `?${params.join('&')}`;
}

/** Percent-decoding that never throws: a run of %XX escapes is read as UTF-8, invalid bytes as U+FFFD. */
function percentDecode(s: string): string {
  if (!s.includes('%')) return s;
  return s.replace(/(?:%[0-9A-Fa-f]{2})+/g, (run) => Buffer.from(run.replaceAll('%', ''), 'hex').toString('utf8'));
}

/** Whether a parsed query, path or body holds U+0000 in any string, at any depth it can have. */
function hasNul(value: unknown, depth = 0): boolean {
  if (typeof value === 'string') return value.includes('\u0000');
  if (value === null || typeof value !== 'object' || depth > 64 || Buffer.isBuffer(value)) return false;
  return Object.values(value).some((v) => hasNul(v, depth + 1));
}

const pages = new Eta({
  views: path.resolve(import.meta.dirname, '../../templates/pages'),
  autoEscape: true,
  cache: process.env.NODE_ENV === 'production',
});

/**
 * Our own trouble (an unexpected error, or one with a 5xx status): logged with the request's id
 * (the request logger's reqId), and answered with that id but not the error, as the notice page to
 * a browser and as the API's error body to anything else. A 4xx goes to Fastify's own handler, as
 * before. The API answers its errors itself (api/index.ts).
 */
function answerError(err: FastifyError | AppError, request: FastifyRequest, reply: FastifyReply) {
  const status = err instanceof AppError ? err.status : (err.statusCode ?? 500);
  if (status >= 400 && status < 500) throw err;
  request.log.error({ err }, 'request failed');
  reply.code(status >= 500 && status <= 599 ? status : 500);
  if (!(request.headers.accept ?? '').includes('text/html'))
    return reply.send({ error: { code: 'internal', message: 'internal error', request_id: request.id } });
  const html = pages.render('notice', {
    title: 'Something went wrong',
    text: `Something went wrong on our side; please try again in a moment. If it keeps happening, tell us this reference: ${request.id}`,
  });
  return reply.type('text/html; charset=utf-8').send(html);
}

export function buildWeb({
  db,
  boss,
  log,
  trustProxy,
  publicUrl,
  reopenDays,
  ticketLinkDays,
  metricsToken,
}: WebDeps): FastifyInstance {
  const app = Fastify({
    loggerInstance: log.child({ role: 'web' }) as FastifyBaseLogger,
    bodyLimit: 2 * 1024 * 1024,
    trustProxy: trustProxy?.length ? [...trustProxy] : false,
    // Fastify's own request lines would log secrets in URLs: ours below redact them
    logController: new LogController({ disableRequestLogging: true }),
    // unique across processes and restarts (Fastify counts req-1, req-2, ... per process), so the id
    // a user quotes finds its one log line
    genReqId: () => randomUUID(),
  });
  // every answer names its request, the id its log lines carry as reqId
  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
  });
  // set before the plugins are registered, so they inherit it (the API sets its own)
  app.setErrorHandler(answerError);
  // PostgreSQL's text holds no NUL: a request carrying one is malformed, refused before any
  // statement fails on it with a 500 (a NUL in a search, a filter, a file name, a form field)
  app.addHook('preValidation', async (request) => {
    if (hasNul(request.params) || hasNul(request.query) || hasNul(request.body))
      throw Object.assign(new Error('the request carries a NUL character'), { statusCode: 400 });
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
    observeRequest(request, reply);
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

  // Prometheus's text format (prom-client); the queue gauges are read for each scrape
  app.get('/metrics', async (request, reply) => {
    if (!metricsAuthorized(request.headers.authorization, metricsToken))
      return reply.code(401).header('www-authenticate', 'Bearer').send({ error: 'unauthorized' });
    const { contentType, body } = await scrapeMetrics(db);
    return reply.type(contentType).send(body);
  });

  app.register(apiPlugin, { prefix: '/api/v1', db, boss, log });
  const tickets = {
    reopenDays: reopenDays ?? DEFAULT_REOPEN_DAYS,
    ticketLinkDays: ticketLinkDays ?? DEFAULT_TICKET_LINK_DAYS,
  };
  app.register(publicPages, { db, boss, log, ...tickets });
  // the portal's pages send the session's statement and their own together, on a few pipelined
  // connections all requests share (db SharedPipeline), ended with the app
  // (two: on two cores, bench portal served 2,600-2,800 lists/s on two, 1,700-2,200 on four; a site
  // grows by web processes, each with its two)
  const reads = new SharedPipeline(connectionUrl(db), 2, { applicationName: 'inbound-web', log });
  app.addHook('onClose', () => reads.end());
  app.register(portalPages, { db, reads, boss, log, publicUrl: publicUrl ?? 'http://localhost', ...tickets });
  app.register(adminPages, { db, boss, log, publicUrl: publicUrl ?? 'http://localhost' });
  // the front door leads to the portal when it is open
  app.get('/', async (_req, reply) =>
    (await getPortalSettings(db)).enabled
      ? reply.redirect('/portal', 303)
      : reply.code(404).send({ error: 'not found' }),
  );

  return app;
}

export async function listenWeb(app: FastifyInstance, host: string, port: number): Promise<AddressInfo> {
  await app.listen({ host, port });
  return app.server.address() as AddressInfo;
}
