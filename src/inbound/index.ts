// Stored mail into tickets: the worker calls processRawMessages for a batch of jobs; the mail pool
// is warmed at start and closed at stop.
export {
  processRawMessage,
  processRawMessages,
  type InboundContext,
  type InboundSettings,
  type Outcome,
  type Processed,
  type RawJob,
} from './process.ts';
export { closeMailPool, warmMailPool } from './mail-pool.ts';
