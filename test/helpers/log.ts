// A logger built like the program's (src/log.ts) whose lines a test reads back.
import { createLogger, type Logger } from '../../src/log.ts';

// biome-ignore lint/suspicious/noExplicitAny: a log line is whatever JSON pino wrote
export type LogLine = Record<string, any>;

export function capturedLog(level = 'info'): { log: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const log = createLogger(level, { write: (line: string) => void lines.push(JSON.parse(line)) });
  return { log, lines };
}
