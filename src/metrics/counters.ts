// What each role counts as it works: in memory, a few nanoseconds each, never a query. Label
// values come from small fixed sets only (reply codes, outcomes, kinds, route patterns): no
// address, subject, id or secret ever becomes a label.
import { Counter, Histogram } from 'prom-client';
import { PREFIX, registry } from './registry.ts';

const registers = [registry];

const smtpReplies = new Counter({
  name: `${PREFIX}smtp_replies_total`,
  help: 'Replies of the SMTP role by stage (connect, mail, rcpt, data) and reply code',
  labelNames: ['stage', 'code'],
  registers,
});

export type SmtpStage = 'connect' | 'mail' | 'rcpt' | 'data';

/** A reply the SMTP role decided: 250 (or 220 at connect) accepted, 4xx and 5xx refused. */
export function countSmtpReply(stage: SmtpStage, code: number): void {
  smtpReplies.inc({ stage, code: String(code) });
}

const processingSeconds = new Histogram({
  name: `${PREFIX}processing_seconds`,
  help: 'Time a worker lane took for one batch of stored mail (load, analyse, check, decide, write)',
  buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
  registers,
});

const batchMails = new Histogram({
  name: `${PREFIX}processing_batch_mails`,
  help: 'Mails in one processed batch',
  buckets: [1, 2, 4, 8, 16, 32, 64],
  registers,
});

const processed = new Counter({
  name: `${PREFIX}processed_total`,
  help: "Stored mails processed, by outcome (the plan's outcomes and quarantined; failed: retried by the queue)",
  labelNames: ['outcome'],
  registers,
});

/** One batch: how long it took, and what became of each of its mails. */
export function countBatch(seconds: number, outcomes: readonly string[]): void {
  processingSeconds.observe(seconds);
  batchMails.observe(outcomes.length);
  for (const outcome of outcomes) processed.inc({ outcome });
}

const sends = new Counter({
  name: `${PREFIX}outbound_sends_total`,
  help: 'Outbound send attempts by kind and result (sent, kept, skipped, suppressed, failed; retry: to be tried again)',
  labelNames: ['kind', 'result'],
  registers,
});

export function countSend(kind: string, result: string): void {
  sends.inc({ kind, result });
}

const httpSeconds = new Histogram({
  name: `${PREFIX}http_request_seconds`,
  help: 'Time to answer an HTTP request, by area, route pattern, method and status class',
  labelNames: ['area', 'route', 'method', 'status_class'],
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  registers,
});

export interface HttpObservation {
  area: string;
  /** the route's pattern (/t/:secret), never the URL asked for */
  route: string;
  method: string;
  status: number;
  seconds: number;
}

export function observeHttp(o: HttpObservation): void {
  httpSeconds.observe(
    { area: o.area, route: o.route, method: o.method, status_class: `${Math.floor(o.status / 100)}xx` },
    o.seconds,
  );
}

const portalLists = new Counter({
  name: `${PREFIX}portal_list_round_trips_total`,
  help: "Portal ticket lists by how their statements went: 'one' with the session's, 'two' after it (no viewer known for the session, or it changed)",
  labelNames: ['round_trips'],
  registers,
});

export function countPortalList(roundTrips: 'one' | 'two'): void {
  portalLists.inc({ round_trips: roundTrips });
}
