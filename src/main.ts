// Composition root: builds the database, the queue and the services, and starts the roles.
import type { AddressInfo } from 'node:net';
import type { Config } from './config.ts';
import type { Logger } from './log.ts';
import { createDb, createPgPool, type Knex } from './db/index.ts';
import { startBoss, type Boss } from './queue/index.ts';
import { migrate, type Database } from './setup.ts';
import { cachedInboxLookup, createInboxStore } from './inboxes/index.ts';
import { createSmtpIngest } from './ingest/index.ts';
import { startWorker } from './worker/index.ts';
import { startOutboundWorker } from './outbound/index.ts';
import { startHousekeeping } from './worker/index.ts';
import type { InboundSettings } from './inbound/index.ts';
import { LOOP_HEADER } from './mail/index.ts';
import { buildWeb, listenWeb } from './web/index.ts';
import { compileDefaultTemplates } from './templates/index.ts';
import { setMetricsRole, startMetricsServer } from './metrics/index.ts';

import type { Role } from './roles.ts';

const DEFAULT_INBOX = 'support@localhost';

export { migrate, openDatabase, type Database } from './setup.ts';

/** What inbound processing needs to know about us. */
export function inboundSettings(config: Config): InboundSettings {
  return {
    reopenDays: config.reopenDays,
    // our Message-IDs use the public host name; without one, only the loop header marks our mail
    ownDomains: config.http.publicUrl ? [config.messageIdDomain] : [],
    loopHeader: LOOP_HEADER,
    mta: config.smtp.hostname,
    ackLimitPerHour: config.ackLimitPerHour,
    cpuBudgetMs: config.mailCpuBudgetMs,
  };
}

export interface Running {
  smtp?: AddressInfo;
  http?: AddressInfo;
  /** /metrics of a process without the web role (METRICS_PORT) */
  metrics?: AddressInfo;
  db: Knex;
  boss: Boss;
  stop(): Promise<void>;
}

export interface StartOptions {
  roles: readonly Role[];
  /** Create support@localhost when there is no inbox yet (the embedded, try-it-out setup). */
  defaultInbox?: boolean;
}

export async function start(config: Config, database: Database, log: Logger, opts: StartOptions): Promise<Running> {
  if (opts.roles.includes('worker')) {
    // the worker renders mail: a broken shipped template stops it here, not at the first send
    const { compiled } = await compileDefaultTemplates();
    log.info({ templates: compiled }, 'mail templates compiled');
  }
  await migrate(database.url, log);
  const db = createDb(database.url, {
    poolMax: config.dbPoolMax,
    applicationName: `inbound-${opts.roles.join('-')}`,
    log,
  });
  const inboxes = createInboxStore(db);
  // a parallel start may make it first: then that start says so; any other error stops this one
  if (opts.defaultInbox && (await inboxes.count()) === 0 && (await inboxes.addIfNew(DEFAULT_INBOX, 'Support'))) {
    log.info({ inbox: DEFAULT_INBOX }, 'created default inbox');
  }
  const boss = await startBoss({ url: database.url, worker: opts.roles.includes('worker'), log });
  setMetricsRole(opts.roles);
  const stops: (() => Promise<void>)[] = [];
  const running: Running = { db, boss, stop: async () => {} };

  try {
    if (opts.roles.includes('smtp')) {
      const pool = createPgPool(database.url, { poolMax: 6, applicationName: 'inbound-smtp', log, pipeline: true });
      const smtp = createSmtpIngest(
        { ...config.smtp, shutdownTimeoutMs: config.shutdownTimeoutMs },
        { pool, boss, log: log.child({ role: 'smtp' }), findInbox: cachedInboxLookup(inboxes) },
      );
      stops.push(async () => {
        await smtp.close();
        await pool.end();
      });
      running.smtp = await smtp.listen();
      log.info({ host: running.smtp.address, port: running.smtp.port }, 'smtp listening');
    }
    if (opts.roles.includes('worker')) {
      const outbound = await startOutboundWorker({
        db,
        boss,
        log: log.child({ role: 'worker', queue: 'outbound' }),
        outboundSmtpUrl: config.outboundSmtpUrl,
        publicUrl: config.http.baseUrl,
        messageIdDomain: config.messageIdDomain,
        ticketLinkDays: config.ticketLinkDays,
      });
      // one connection per lane: a lane holds its connection for its batch
      const pool = createPgPool(database.url, {
        poolMax: config.workerConcurrency,
        applicationName: 'inbound-worker',
        log,
        pipeline: true,
      });
      const worker = await startWorker({
        url: database.url,
        pool,
        boss,
        log: log.child({ role: 'worker' }),
        concurrency: config.workerConcurrency,
        inbound: inboundSettings(config),
        onFollowUps: outbound.kick,
      });
      // stopped in this order: no new inbound work, then the sender
      stops.push(async () => {
        await worker.stop();
        await pool.end();
      });
      stops.push(() => outbound.stop());
      const housekeeping = startHousekeeping(db, log.child({ role: 'worker' }));
      stops.push(async () => housekeeping.stop());
      log.info({ concurrency: config.workerConcurrency }, 'worker started');
    }
    if (opts.roles.includes('web')) {
      const web = buildWeb({
        db,
        boss,
        log,
        trustProxy: config.http.trustProxy,
        publicUrl: config.http.baseUrl,
        reopenDays: config.reopenDays,
        ticketLinkDays: config.ticketLinkDays,
        metricsToken: config.metrics.token,
      });
      running.http = await listenWeb(web, config.http.host, config.http.port);
      stops.push(() => web.close());
      log.info({ host: running.http.address, port: running.http.port }, 'http listening');
      if (config.metrics.port !== undefined) log.info('METRICS_PORT unused: the web role serves /metrics on HTTP_PORT');
    } else if (config.metrics.port !== undefined) {
      const metrics = await startMetricsServer({
        host: config.http.host,
        port: config.metrics.port,
        db,
        token: config.metrics.token,
        log,
      });
      running.metrics = metrics.address;
      // stopped last: a scrape during shutdown still finds it
      stops.push(() => metrics.close());
      log.info({ host: metrics.address.address, port: metrics.address.port }, 'metrics listening');
    }
  } catch (err) {
    await shutdown();
    throw err;
  }

  let stopping: Promise<void> | undefined;
  async function shutdown(): Promise<void> {
    // In start order: SMTP first (refuse new mail, finish what is in flight), then the worker
    // and the web, then the queue and the pool.
    for (const stop of stops) {
      await stop().catch((err: unknown) => log.error({ err }, 'error while stopping'));
    }
    await boss
      .stop({ graceful: true, timeout: config.shutdownTimeoutMs })
      .catch((err: unknown) => log.error({ err }, 'queue stop'));
    await db.destroy();
  }
  running.stop = () => (stopping ??= shutdown());
  return running;
}
