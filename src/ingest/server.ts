// The SMTP role: accepts mail for our inboxes and stores it durably. Rejections happen as early
// as the protocol allows (RCPT, then DATA), and our own trouble is always a temporary failure so
// the sending MTA keeps the mail and retries.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { SMTPServer, type SMTPServerDataStream, type SMTPServerSession } from 'smtp-server';
import type pg from 'pg';
import type { Logger } from '../log.ts';
import { createWaker, INBOUND_CHANNEL, type Boss } from '../queue/index.ts';
import type { Inbox } from '../inboxes/index.ts';
import { countSmtpReply, type SmtpStage } from '../metrics/index.ts';
import { HeaderScanner } from './headers.ts';
import { createRawMailWriter } from './raw-store.ts';

export interface IngestOptions {
  host: string;
  port: number;
  hostname: string;
  maxMessageBytes: number;
  maxClients: number;
  tls: { certFile: string; keyFile: string } | undefined;
  /** How long shutdown waits for mail in flight before closing connections anyway. */
  shutdownTimeoutMs: number;
  maxRecipients?: number;
}

export interface IngestDeps {
  /** node-postgres pool for the durable write (see raw-store.ts). */
  pool: pg.Pool;
  boss: Boss;
  log: Logger;
  findInbox: (recipient: string) => Promise<Inbox | undefined>;
}

export interface SmtpIngest {
  listen(): Promise<AddressInfo>;
  /** Refuse new mail (421), let mail in flight finish, then close. */
  close(): Promise<void>;
}

/** An error whose responseCode smtp-server sends as the reply. */
function reply(code: number, text: string): Error & { responseCode: number } {
  return Object.assign(new Error(text), { responseCode: code });
}

const TEMPORARY = () => reply(451, '4.3.0 Temporary local problem, please try again later');
const SHUTTING_DOWN = () => reply(421, '4.3.2 Service shutting down, please try again later');

/** The reply's code counted by its stage (metrics), and the reply given. */
function answer(stage: SmtpStage, callback: (err?: Error | null) => void, refusal?: Error & { responseCode: number }) {
  countSmtpReply(stage, refusal ? refusal.responseCode : stage === 'connect' ? 220 : 250);
  callback(refusal);
}

export function createSmtpIngest(options: IngestOptions, deps: IngestDeps): SmtpIngest {
  const { pool, boss, log, findInbox } = deps;
  const maxRecipients = options.maxRecipients ?? 100;
  let draining = false;
  let inFlight = 0;
  let idle: (() => void) | undefined;
  const waker = createWaker(pool, INBOUND_CHANNEL, log);
  const writer = createRawMailWriter(pool, boss, { onCommit: waker.wake });

  const server = new SMTPServer({
    name: options.hostname,
    banner: 'Inbound ESMTP',
    size: options.maxMessageBytes,
    maxClients: options.maxClients,
    authOptional: true,
    // STARTTLS only with a certificate of our own: the library's built-in one is expired.
    ...(options.tls
      ? { key: readFileSync(options.tls.keyFile), cert: readFileSync(options.tls.certFile) }
      : { hideSTARTTLS: true }),
    disabledCommands: options.tls ? ['AUTH'] : ['AUTH', 'STARTTLS'],
    closeTimeout: 1_000,
    // A PTR lookup per connection costs a DNS round trip and tells processing nothing it needs.
    disableReverseLookup: true,
    logger: false,

    onConnect(_session, callback) {
      answer('connect', callback, draining ? SHUTTING_DOWN() : undefined);
    },

    onMailFrom(_address, _session, callback) {
      answer('mail', callback, draining ? SHUTTING_DOWN() : undefined);
    },

    onRcptTo(address, session, callback) {
      if (session.envelope.rcptTo.length >= maxRecipients) {
        return answer('rcpt', callback, reply(452, '4.5.3 Too many recipients'));
      }
      findInbox(address.address).then(
        (inbox) => {
          if (inbox) return answer('rcpt', callback);
          log.info({ smtp: session.id, rcpt: address.address }, 'rcpt refused: no such inbox');
          answer('rcpt', callback, reply(550, `5.1.1 <${address.address}>: no such mailbox here`));
        },
        (err: unknown) => {
          log.error({ smtp: session.id, err }, 'rcpt lookup failed');
          answer('rcpt', callback, TEMPORARY());
        },
      );
    },

    onData(stream, session, callback) {
      inFlight++;
      receive(stream, session)
        .then(
          (text) => {
            countSmtpReply('data', 250);
            callback(null, text);
          },
          (err: Error & { responseCode?: number }) => {
            countSmtpReply('data', err.responseCode ?? 450); // smtp-server's own default
            callback(err);
          },
        )
        .finally(() => {
          inFlight--;
          if (inFlight === 0) idle?.();
        });
    },
  });

  server.on('error', (err) => log.error({ err }, 'smtp server error'));

  async function receive(stream: SMTPServerDataStream, session: SMTPServerSession): Promise<string> {
    const started = performance.now();
    const hash = createHash('sha256');
    const scanner = new HeaderScanner();
    const chunks: Buffer[] = [];
    let size = 0;
    await new Promise<void>((resolve, reject) => {
      stream.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > options.maxMessageBytes) return; // keep draining the socket, keep nothing
        hash.update(chunk);
        scanner.push(chunk);
        chunks.push(chunk);
      });
      stream.once('end', resolve);
      stream.once('error', reject);
    });
    if (stream.sizeExceeded || size > options.maxMessageBytes) {
      log.info({ smtp: session.id, size }, 'message refused: too big');
      throw reply(552, `5.3.4 Message too big, the limit is ${options.maxMessageBytes} bytes`);
    }
    const raw = Buffer.concat(chunks, size);
    const mailFrom = session.envelope.mailFrom ? session.envelope.mailFrom.address : '';
    let stored: Awaited<ReturnType<typeof writer.store>>;
    try {
      stored = await writer.store({
        mailFrom,
        rcptTo: session.envelope.rcptTo.map((r) => r.address),
        remoteAddress: session.remoteAddress,
        helo: session.hostNameAppearsAs,
        smtpSession: session.id,
        sha256: hash.digest(),
        messageId: scanner.messageId(),
        raw,
      });
    } catch (err) {
      log.error({ smtp: session.id, err }, 'message not stored');
      throw TEMPORARY();
    }
    const ms = Math.round((performance.now() - started) * 10) / 10;
    if (stored.duplicateOf) {
      log.info({ smtp: session.id, raw: stored.id, duplicateOf: stored.duplicateOf, size, ms }, 'duplicate message');
      return `2.0.0 Ok: already have this message as ${stored.duplicateOf}`;
    }
    log.info({ smtp: session.id, raw: stored.id, size, from: mailFrom, ms }, 'message accepted');
    return `2.0.0 Ok: queued as ${stored.id}`;
  }

  return {
    listen() {
      return new Promise((resolve, reject) => {
        server.server.once('error', reject);
        server.listen(options.port, options.host, () => {
          server.server.off('error', reject);
          resolve(server.server.address() as AddressInfo);
        });
      });
    },

    async close() {
      draining = true;
      if (inFlight > 0) {
        log.info({ inFlight }, 'smtp draining: waiting for mail in flight');
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, options.shutdownTimeoutMs);
          idle = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
      await new Promise<void>((resolve) => server.close(() => resolve()));
      waker.stop();
    },
  };
}
