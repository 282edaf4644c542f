// One JSON line per event. Children carry the SMTP session id or the job id, so every line of a
// unit of work can be found together.
import { pino, type Logger } from 'pino';

export type { Logger };

/** fd 1 for the long-running server; fd 2 for commands whose stdout is their answer. */
export function createLogger(level: string, fd: 1 | 2 = 1): Logger {
  return pino(
    { name: 'inbound', level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime },
    pino.destination({ fd, sync: fd === 2 }),
  );
}
