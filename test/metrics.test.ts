// /metrics end to end: real mail over SMTP (accepted and refused), processed by the worker, its ack
// sent to a live SMTP sink, the ticket page, the portal and the API asked; then the scrape parsed
// and the counters read. No label may carry an address, a subject or a secret.
import { beforeAll, describe, expect, it } from 'vitest';
import { createDb } from '../src/db/index.ts';
import { loadConfig } from '../src/config.ts';
import { start } from '../src/main.ts';
import { scrapeMetrics } from '../src/metrics/index.ts';
import { QUEUES } from '../src/queue/index.ts';
import { buildWeb, listenWeb } from '../src/web/index.ts';
import { createTestDatabase, type TestDatabase } from './helpers/db.ts';
import { startTestApi, type TestApi } from './helpers/api.ts';
import {
  eventually,
  startBossFor,
  startTestIngest,
  startTestOutbound,
  startTestWorker,
  testLog,
} from './helpers/app.ts';
import { freePort } from './helpers/ports.ts';
import { sendRaw } from './helpers/smtp-client.ts';
import { startSink, type Sink } from './helpers/sink.ts';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Prometheus's text format (as prom-client writes it), one sample a line. */
function parse(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?/g)) {
      labels[l[1]!] = l[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    }
    const value = m[3] === '+Inf' ? Infinity : m[3] === '-Inf' ? -Infinity : Number(m[3]);
    samples.push({ name: m[1]!, labels, value });
  }
  return samples;
}

/** The sum of the samples of a name whose labels include these. */
function total(samples: Sample[], name: string, match: Record<string, string> = {}): number {
  return samples
    .filter((s) => s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v))
    .reduce((sum, s) => sum + s.value, 0);
}

function find(samples: Sample[], name: string, match: Record<string, string> = {}): Sample | undefined {
  return samples.find((s) => s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v));
}

let t: TestDatabase;
let api: TestApi;
let sink: Sink;
let web: string;
let smtpPort: number;

beforeAll(async () => {
  t = await createTestDatabase();
  api = await startTestApi(t.url);
  web = api.base.replace(/\/api\/v1$/, '');
  sink = await startSink();
  smtpPort = (await startTestIngest(t.url, { inboxes: ['support@localhost'] })).port;
  const boss = await startBossFor(t.url, true);
  await startTestWorker(t.url, boss, 1);
  await startTestOutbound(t.db, boss, sink.url, web);
});

async function scrape(base = web, headers: Record<string, string> = {}): Promise<Sample[]> {
  const r = await fetch(`${base}/metrics`, { headers });
  expect(r.status).toBe(200);
  expect(r.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return parse(await r.text());
}

describe('/metrics', () => {
  it('counts mail in, processing, sends and requests, with no personal data in any label', async () => {
    const before = await scrape();
    const subject = 'Zebra invoice question';
    const raw = [
      'From: Ann Metric <ann.metric@sender.test>',
      'To: support@localhost',
      `Subject: ${subject}`,
      `Message-ID: <m1.${Date.now()}@sender.test>`,
      '',
      'Where is my invoice?',
      '',
    ].join('\r\n');
    const accepted = await sendRaw(smtpPort, 'ann.metric@sender.test', ['support@localhost'], raw);
    expect(accepted.code).toBe(250);
    const refused = await sendRaw(smtpPort, 'ann.metric@sender.test', ['nobody@localhost'], raw);
    expect(refused.code).toBe(550);
    const rawId = Number(/queued as (\d+)/.exec(accepted.text)![1]);
    await eventually(() => t.db('raw_messages').where({ id: rawId, status: 'processed' }).first());
    const ack = await eventually(async () => sink.mails.find((m) => m.to.includes('ann.metric@sender.test')), 15_000);
    await eventually(() => t.db('outbound_messages').where({ kind: 'ack', status: 'sent' }).first());

    // the ticket page by its magic link, the portal (a sign-in link that is no good), the API
    const link = new RegExp(`${web}/t/([A-Za-z0-9_-]{43})`).exec(ack.mail.text!)!;
    const secret = link[1]!;
    expect((await fetch(link[0])).status).toBe(200);
    const bogus = 'QmFkU2VjcmV0VGhhdE11c3ROb3RBcHBlYXJJbkxhYmVscw';
    await fetch(`${web}/portal/sign-in/link/${bogus}`, { redirect: 'manual' });
    await fetch(`${web}/portal`, { redirect: 'manual' });
    expect((await api.call('GET', '/tickets')).status).toBe(200);
    const ticket = (await t.db('tickets').where({ subject }).first())!;
    expect((await api.call('GET', `/tickets/${ticket.id}`)).status).toBe(200);
    await fetch(`${web}/no/such/${secret}`, { redirect: 'manual' });

    const after = await scrape();
    const delta = (name: string, match: Record<string, string> = {}) =>
      total(after, name, match) - total(before, name, match);

    // the SMTP role: two connections, two senders, one recipient taken and one refused, one mail stored
    expect(delta('inbound_smtp_replies_total', { stage: 'connect', code: '220' })).toBe(2);
    expect(delta('inbound_smtp_replies_total', { stage: 'mail', code: '250' })).toBe(2);
    expect(delta('inbound_smtp_replies_total', { stage: 'rcpt', code: '250' })).toBe(1);
    expect(delta('inbound_smtp_replies_total', { stage: 'rcpt', code: '550' })).toBe(1);
    expect(delta('inbound_smtp_replies_total', { stage: 'data', code: '250' })).toBe(1);
    expect(delta('inbound_smtp_replies_total', { stage: 'data' })).toBe(1);

    // the worker: one batch, one mail, one new ticket
    expect(delta('inbound_processed_total', { outcome: 'ticket_created' })).toBe(1);
    expect(delta('inbound_processed_total')).toBe(1);
    expect(delta('inbound_processing_seconds_count')).toBe(1);
    expect(delta('inbound_processing_seconds_sum')).toBeGreaterThan(0);
    expect(delta('inbound_processing_batch_mails_sum')).toBe(1);

    // the outbound sender: the ack, sent
    expect(delta('inbound_outbound_sends_total', { kind: 'ack', result: 'sent' })).toBe(1);
    expect(delta('inbound_outbound_sends_total')).toBe(1);

    // the web role, by area and route pattern
    const http = 'inbound_http_request_seconds_count';
    expect(delta(http, { area: 'ticket_page', route: '/t/:secret', method: 'GET', status_class: '2xx' })).toBe(1);
    expect(delta(http, { area: 'api', route: '/api/v1/tickets', method: 'GET', status_class: '2xx' })).toBe(1);
    expect(delta(http, { area: 'api', route: '/api/v1/tickets/:id', method: 'GET', status_class: '2xx' })).toBe(1);
    expect(delta(http, { area: 'portal' })).toBe(2);
    expect(delta(http, { area: 'other', route: 'unmatched', status_class: '4xx' })).toBe(1);
    expect(delta(http, { area: 'health', route: '/metrics' })).toBe(1); // the first scrape
    expect(find(after, 'inbound_http_request_seconds_bucket', { route: '/t/:secret', le: '+Inf' })).toBeDefined();

    // the queues and the backlog, read at the scrape
    expect(total(after, 'inbound_queue_stats_up')).toBe(1);
    for (const queue of [QUEUES.inboundProcess, QUEUES.outboundSend]) {
      for (const state of ['created', 'retry', 'active', 'failed']) {
        expect(find(after, 'inbound_queue_jobs', { queue, state })).toBeDefined();
        expect(find(after, 'inbound_queue_jobs', { queue: `${queue}.dead`, state })).toBeDefined();
      }
      expect(find(after, 'inbound_queue_oldest_seconds', { queue })?.value).toBeGreaterThanOrEqual(0);
      expect(find(after, 'inbound_queue_oldest_seconds', { queue: `${queue}.dead` })).toBeUndefined();
    }
    expect(find(after, 'inbound_raw_backlog_messages')?.value).toBe(0);
    expect(find(after, 'inbound_raw_backlog_oldest_seconds')?.value).toBe(0);

    // the process: event-loop delay, and prom-client's defaults under our prefix
    for (const percentile of ['p50', 'p90', 'p99', 'max']) {
      const s = find(after, 'inbound_event_loop_delay_seconds', { percentile });
      expect(s?.value).toBeGreaterThanOrEqual(0);
      expect(s?.value).toBeLessThan(60);
    }
    for (const name of [
      'inbound_process_cpu_user_seconds_total',
      'inbound_process_resident_memory_bytes',
      'inbound_nodejs_heap_size_used_bytes',
      'inbound_nodejs_eventloop_lag_p99_seconds',
    ]) {
      expect(find(after, name), name).toBeDefined();
    }

    // nothing personal in any label: no address, no subject, no secret, no raw URL
    const values = new Set(after.flatMap((s) => Object.values(s.labels)));
    for (const v of values) {
      expect(v).not.toContain('@');
      expect(v).not.toContain('Zebra');
      expect(v).not.toContain(secret);
      expect(v).not.toContain(bogus);
      expect(v).not.toContain('/no/such');
      expect(v).not.toContain(`/tickets/${ticket.id}`);
    }
    for (const s of after.filter((x) => x.labels.route !== undefined)) {
      expect(s.labels.route).toMatch(/^(unmatched|\/[A-Za-z0-9_:.*/-]*)$/);
    }
  });

  it('reads the backlog of stored mail and the dead-letter queues at each scrape', async () => {
    // a stored mail an hour old whose job is gone: the backlog counts it until it is processed
    const [row] = await t
      .db('raw_messages')
      .insert({
        received_at: t.db.raw(`now() - interval '1 hour'`),
        mail_from: '',
        rcpt_to: ['support@localhost'],
        size: 1,
        sha256: Buffer.alloc(32, 7),
        raw: Buffer.from('x'),
      })
      .returning('id');
    await api.boss.send(`${QUEUES.inboundProcess}.dead`, { rawId: row.id });
    try {
      const s = await scrape();
      expect(find(s, 'inbound_raw_backlog_messages')?.value).toBe(1);
      expect(find(s, 'inbound_raw_backlog_oldest_seconds')?.value).toBeGreaterThanOrEqual(3600);
      expect(find(s, 'inbound_queue_jobs', { queue: `${QUEUES.inboundProcess}.dead`, state: 'created' })?.value).toBe(
        1,
      );
    } finally {
      await t.db('raw_messages').where({ id: row.id }).delete();
    }
  });

  it('says when the database does not answer, and shows no stale queue numbers', async () => {
    const down = createDb('postgres://postgres@127.0.0.1:1/none', { poolMax: 1, log: testLog });
    try {
      const samples = parse((await scrapeMetrics(down)).body);
      expect(total(samples, 'inbound_queue_stats_up')).toBe(0);
      expect(find(samples, 'inbound_queue_jobs')).toBeUndefined();
      expect(find(samples, 'inbound_raw_backlog_messages')?.value).toBeNaN();
      expect(find(samples, 'inbound_raw_backlog_oldest_seconds')?.value).toBeNaN();
      // the rest of the process's metrics are still there
      expect(find(samples, 'inbound_smtp_replies_total')).toBeDefined();
    } finally {
      await down.destroy();
    }
    expect(total(await scrape(), 'inbound_queue_stats_up')).toBe(1);
  });

  it('answers only the bearer of METRICS_TOKEN when it is set', async () => {
    const token = 'metrics-token-0123456789';
    const app = buildWeb({ db: api.db, boss: api.boss, log: testLog, metricsToken: token });
    const { port } = await listenWeb(app, '127.0.0.1', 0);
    try {
      const base = `http://127.0.0.1:${port}`;
      expect((await fetch(`${base}/metrics`)).status).toBe(401);
      expect(
        (await fetch(`${base}/metrics`, { headers: { authorization: 'Bearer wrong-token-0123456789' } })).status,
      ).toBe(401);
      expect(find(await scrape(base, { authorization: `Bearer ${token}` }), 'inbound_queue_stats_up')?.value).toBe(1);
    } finally {
      await app.close();
    }
  });

  it('serves /metrics on METRICS_PORT in a process without the web role, with its role as a label', async () => {
    // a database of its own without a worker: a due job nobody takes, two minutes old
    const other = await createTestDatabase();
    const port = await freePort();
    const token = 'another-metrics-token-42';
    const config = loadConfig({
      DATABASE_URL: other.url,
      SMTP_HOST: '127.0.0.1',
      SMTP_PORT: '0',
      HTTP_HOST: '127.0.0.1',
      METRICS_PORT: String(port),
      METRICS_TOKEN: token,
      LOG_LEVEL: 'silent',
    });
    const running = await start(
      config,
      { url: other.url, embedded: false, location: '', close: async () => {} },
      testLog,
      {
        roles: ['smtp'],
      },
    );
    try {
      expect(running.http).toBeUndefined();
      expect(running.metrics?.port).toBe(port);
      await running.boss.send(QUEUES.outboundSend, { outboundId: 0 });
      await other.db.raw(`UPDATE pgboss.job SET start_after = now() - interval '2 minutes' WHERE name = ?`, [
        QUEUES.outboundSend,
      ]);
      const base = `http://127.0.0.1:${port}`;
      expect((await fetch(`${base}/metrics`)).status).toBe(401);
      expect((await fetch(`${base}/other`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(404);
      const s = await scrape(base, { authorization: `Bearer ${token}` });
      expect(find(s, 'inbound_queue_jobs', { queue: QUEUES.outboundSend, state: 'created' })?.value).toBe(1);
      expect(find(s, 'inbound_queue_oldest_seconds', { queue: QUEUES.outboundSend })?.value).toBeGreaterThanOrEqual(
        120,
      );
      // every sample names the process's roles
      expect(s.every((x) => x.labels.role === 'smtp')).toBe(true);
    } finally {
      await running.stop();
    }
  });
});
