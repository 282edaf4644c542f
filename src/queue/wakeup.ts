// Waking the worker the moment mail is stored, without a NOTIFY inside the ingest transaction.
//
// PostgreSQL serialises the commits of all transactions that NOTIFY (one global lock, held across
// the commit's WAL flush), which capped ingest at one commit at a time. So the ingest transaction
// only inserts its jobs, and after COMMIT a separate, coalesced NOTIFY wakes the worker; the
// worker's poll remains the backstop should that NOTIFY be lost with a crash.
import pg from 'pg';
import type { Logger } from '../log.ts';

export const INBOUND_CHANNEL = 'inbound_jobs';

/**
 * wake(): the first call NOTIFYs at once; calls within `intervalMs` of a NOTIFY are
 * coalesced into one more at the end of the interval. Each NOTIFY is a commit of its own, so
 * under load this keeps them to a few hundred a second whatever the mail rate.
 */
export function createWaker(
  db: { query(text: string, values: unknown[]): Promise<unknown> },
  channel: string,
  log: Logger,
  intervalMs = 5,
): { wake(): void; stop(): void } {
  let last = 0;
  let timer: NodeJS.Timeout | undefined;
  const send = (): void => {
    timer = undefined;
    last = Date.now();
    db.query('SELECT pg_notify($1, $2)', [channel, '']).catch((err: unknown) =>
      log.warn({ err }, 'wake-up notify failed; the worker poll will find the job'),
    );
  };
  return {
    wake() {
      if (timer) return;
      const wait = last + intervalMs - Date.now();
      if (wait <= 0) send();
      else timer = setTimeout(send, wait);
    },
    /** Sends what is pending now; the pool is about to close. */
    stop() {
      if (timer) {
        clearTimeout(timer);
        send();
      }
    },
  };
}

export interface Listener {
  close(): Promise<void>;
}

/** LISTENs on a dedicated connection, reconnecting with backoff; calls onWake for each notification (and after each reconnect). */
export function listenForWakeups(url: string, channel: string, onWake: () => void, log: Logger): Listener {
  let client: pg.Client | undefined;
  let closed = false;
  let retry: NodeJS.Timeout | undefined;
  let delay = 250;

  const connect = async (): Promise<void> => {
    const c = new pg.Client({ connectionString: url, application_name: 'inbound-listen', keepAlive: true });
    c.on('error', (err) => {
      log.warn({ err }, 'wake-up listener lost its connection');
      void c.end().catch(() => undefined);
      reconnect();
    });
    c.on('notification', () => onWake());
    try {
      await c.connect();
      await c.query(`LISTEN ${pg.escapeIdentifier(channel)}`);
      if (closed) return void (await c.end());
      client = c;
      delay = 250;
      onWake(); // anything committed while we were not listening
    } catch (err) {
      log.warn({ err }, 'wake-up listener cannot connect');
      void c.end().catch(() => undefined);
      reconnect();
    }
  };
  const reconnect = () => {
    client = undefined;
    if (closed || retry) return;
    retry = setTimeout(() => {
      retry = undefined;
      void connect();
    }, delay);
    delay = Math.min(delay * 2, 10_000);
  };
  void connect();
  return {
    async close() {
      closed = true;
      clearTimeout(retry);
      await client?.end().catch(() => undefined);
    },
  };
}
