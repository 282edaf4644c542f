// An outbound relay for fault tests: a live SMTP server that takes its time over each mail, as a
// real one does (it answers the end of DATA after a delay), and can hold its answers for a while,
// so that a test chooses when our sender hears its 250. Like a real relay, it keeps a mail it has
// received whole even when the client is gone before the 250 (RFC 1047): a mail counts as
// delivered when the 250 is written, whether or not anyone reads it.
import { randomInt } from 'node:crypto';
import { SMTPServer } from 'smtp-server';
import { watchErrors } from './sink.ts';

export interface Delivered {
  /** the envelope's recipients, comma-separated */
  to: string;
  /** what the mail answers (an ack: the customer's Message-ID) */
  inReplyTo: string;
  /** the outbound row it came from: our loop header (X-Inbound-Loop) carries its id */
  outboundId: number;
  /** Date.now() when the end of DATA arrived, and when the 250 was written */
  receivedAt: number;
  at: number;
}

export interface Relay {
  url: string;
  delivered: Delivered[];
  /** mails received whole whose 250 is still to come */
  inFlight: number;
  /** senders that died mid-mail (counted), and any other error (kept) */
  clientsGone: number;
  errors: Error[];
  /** Answers nothing until release(): mails pile up in flight. */
  hold(): void;
  release(): void;
  close(): Promise<void>;
}

export async function startRelay(opts: { minDelayMs?: number; maxDelayMs?: number } = {}): Promise<Relay> {
  const minDelay = opts.minDelayMs ?? 20;
  const maxDelay = opts.maxDelayMs ?? 200;
  let held: (() => void)[] | undefined;
  const relay: Relay = {
    url: '',
    delivered: [],
    inFlight: 0,
    clientsGone: 0,
    errors: [],
    hold() {
      held ??= [];
    },
    release() {
      const waiting = held ?? [];
      held = undefined;
      for (const answer of waiting) answer();
    },
    close: async () => {},
  };
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onData(stream, session, callback) {
      let head = '';
      stream.on('data', (c: Buffer) => {
        if (head.length < 16_384) head += c.toString('latin1');
      });
      stream.on('end', () => {
        const receivedAt = Date.now();
        relay.inFlight++;
        const answer = () => {
          relay.inFlight--;
          const header = (name: string) => new RegExp(`^${name}:[ \\t]*(.+)$`, 'im').exec(head)?.[1]?.trim() ?? '';
          relay.delivered.push({
            to: session.envelope.rcptTo.map((a) => a.address).join(','),
            inReplyTo: header('In-Reply-To'),
            outboundId: Number(header('X-Inbound-Loop')),
            receivedAt,
            at: Date.now(),
          });
          callback(null, `queued as relay-${relay.delivered.length}`);
        };
        setTimeout(() => (held ? held.push(answer) : answer()), randomInt(minDelay, maxDelay + 1));
      });
    },
  });
  watchErrors(server, relay);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  relay.url = `smtp://127.0.0.1:${(server.server.address() as { port: number }).port}`;
  relay.close = async () => {
    relay.release();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return relay;
}

/** Deliveries counted by recipient and by the Message-ID each answers, and the duplicates (every delivery past the first to a recipient). */
export function deliveriesBy(delivered: Delivered[]) {
  const recipients = new Map<string, number>();
  const answering = new Map<string, number>();
  for (const d of delivered) {
    recipients.set(d.to, (recipients.get(d.to) ?? 0) + 1);
    answering.set(d.inReplyTo, (answering.get(d.inReplyTo) ?? 0) + 1);
  }
  const duplicates = [...recipients.values()].reduce((s, n) => s + n - 1, 0);
  return { recipients, answering, duplicates };
}
