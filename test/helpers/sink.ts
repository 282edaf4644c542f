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
  close(): Promise<void>;
}

export async function startSink(): Promise<Sink> {
  const sink: Sink = { port: 0, url: '', mails: [], answer: () => undefined, refused: 0, close: async () => {} };
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
