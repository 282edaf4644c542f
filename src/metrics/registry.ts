// The process's one registry: prom-client's default process metrics (memory, CPU, GC, handles)
// and the event loop's delay, all named inbound_*, and the role label that says which process
// answered a scrape.
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { collectDefaultMetrics, Gauge, Registry } from 'prom-client';

export const PREFIX = 'inbound_';

export const registry = new Registry();
collectDefaultMetrics({ register: registry, prefix: PREFIX });

// Sampled every 10 ms in the background (a timer of libuv's, not a JS timer); each scrape reads
// the percentiles of the delays since the previous scrape and starts a new window. Each sample is
// the time between two ticks of that timer, so the 10 ms are taken off: an idle loop reads ~0.
const RESOLUTION_MS = 10;
const delay = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
delay.enable();
const PERCENTILES: readonly [label: string, pct: number][] = [
  ['p50', 50],
  ['p90', 90],
  ['p99', 99],
  ['max', 100],
];
new Gauge({
  name: `${PREFIX}event_loop_delay_seconds`,
  help: 'Event-loop delay since the previous scrape, by percentile (perf_hooks.monitorEventLoopDelay)',
  labelNames: ['percentile'],
  registers: [registry],
  collect() {
    // no sample yet in this window (a scrape right after the previous one): 0
    const any = delay.count > 0;
    for (const [label, pct] of PERCENTILES) {
      this.set({ percentile: label }, any ? Math.max(0, delay.percentile(pct) - RESOLUTION_MS * 1e6) / 1e9 : 0);
    }
    delay.reset();
  },
});

/**
 * Which process this is: the roles it runs, comma-separated ("smtp,worker,web"), as a label on
 * every metric. Set once at start.
 */
export function setMetricsRole(roles: readonly string[]): void {
  registry.setDefaultLabels({ role: roles.join(',') });
}
