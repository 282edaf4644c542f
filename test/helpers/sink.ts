// A live SMTP server on port 0 that receives what we send: every mail is kept with its envelope
// and parsed; `answer` decides the reply to each DATA (250 by default, or a 451 / 550).
import { afterAll } from 'vitest';
import { SMTPServer } from 'smtp-server';
import { simpleParser, type ParsedMail } from 'mailparser';

export interface SunkMail {
  from: string;
  to: string[];
  raw: Buffer;
  mail: ParsedMail;
  at: number;
}

export interface Sink {
  port: number;
  url: string;
  mails: SunkMail[];
  /** Reply for the next DATA: return an Error with responseCode 451/550 to refuse it. */
  answer: (envelopeTo: string[]) => Error | undefined;
  refused: number;
  /** clients that went away mid-transaction (a killed process): counted, not errors */
  clientsGone: number;
  /** any other error of the server or a connection */
  errors: Error[];
  close(): Promise<void>;
}

/** Socket errors that mean the client went away (smtp-server reports them when a client dies
 * inside a mail transaction; outside one it keeps quiet). */
const CLIENT_GONE = new Set(['ECONNRESET', 'EPIPE']);

/**
 * A server with no 'error' listener throws an unhandled error in the test process when a client
 * dies mid-mail, which fails the whole run. Fault tests kill our processes on purpose, so a client
 * gone is counted; anything else is kept for the test to look at.
 */
export function watchErrors(server: SMTPServer, into: { clientsGone: number; errors: Error[] }): void {
  server.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code && CLIENT_GONE.has(err.code)) into.clientsGone++;
    else into.errors.push(err);
  });
}

export async function startSink(): Promise<Sink> {
  const sink: Sink = {
    port: 0,
    url: '',
    mails: [],
    answer: () => undefined,
    refused: 0,
    clientsGone: 0,
    errors: [],
    close: async () => {},
  };
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', async () => {
        const to = session.envelope.rcptTo.map((r) => r.address);
        const refusal = sink.answer(to);
        if (refusal) {
          sink.refused++;
          return callback(refusal);
        }
        const raw = Buffer.concat(chunks);
        sink.mails.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to,
          raw,
          mail: await simpleParser(raw),
          at: performance.now(),
        });
        callback(null, `queued as sink-${sink.mails.length}`);
      });
    },
  });
  watchErrors(server, sink);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  sink.port = (server.server.address() as { port: number }).port;
  sink.url = `smtp://127.0.0.1:${sink.port}`;
  sink.close = () => new Promise((resolve) => server.close(() => resolve()));
  afterAll(() => sink.close());
  return sink;
}

/** An SMTP refusal as smtp-server sends it. */
export function refusal(code: number, text: string): Error {
  return Object.assign(new Error(text), { responseCode: code });
}
