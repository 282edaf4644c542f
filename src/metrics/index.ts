// Prometheus metrics (prom-client): what each role counts in memory as it works, the queue gauges
// read at scrape time, and /metrics for a process without the web role.
export { setMetricsRole } from './registry.ts';
export {
  countBatch,
  countPortalList,
  countSend,
  countSmtpReply,
  observeHttp,
  type HttpObservation,
  type SmtpStage,
} from './counters.ts';
export { metricsAuthorized, scrapeMetrics, type Scrape } from './scrape.ts';
export { startMetricsServer, type MetricsServer, type MetricsServerOptions } from './server.ts';
