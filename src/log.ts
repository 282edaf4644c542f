// One JSON line per event. Children carry the SMTP session id or the job id, so every line of a
// unit of work can be found together.
import { type DestinationStream, pino, type Logger } from 'pino';

export type { Logger };

/**
 * fd 1 for the long-running server; fd 2 for commands whose stdout is their answer; a stream where
 * the lines are read back (tests).
 */
export function createLogger(level: string, to: 1 | 2 | DestinationStream = 1): Logger {
  return pino(
    { name: 'inbound', level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime },
    typeof to === 'number' ? pino.destination({ fd: to, sync: to === 2 }) : to,
  );
}
