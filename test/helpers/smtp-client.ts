// A plain SMTP client over a socket, to see each reply as a sending MTA would.
import { connect, type Socket } from 'node:net';

export interface Reply {
  code: number;
  text: string;
}

export class SmtpClient {
  private buffer = '';
  private waiting: ((r: Reply) => void)[] = [];
  private replies: Reply[] = [];
  private closed = false;

  private readonly socket: Socket;

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.setEncoding('utf8');
    socket.setNoDelay(true);
    socket.on('data', (d: string) => this.onData(d));
    socket.on('close', () => {
      this.closed = true;
      for (const w of this.waiting.splice(0)) w({ code: 0, text: 'connection closed' });
    });
    socket.on('error', () => {});
  }

  static async connect(port: number, host = '127.0.0.1'): Promise<{ client: SmtpClient; greeting: Reply }> {
    const socket = connect(port, host);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    const client = new SmtpClient(socket);
    return { client, greeting: await client.read() };
  }

  private onData(d: string) {
    this.buffer += d;
    let text: string[] = [];
    for (let idx = this.buffer.indexOf('\r\n'); idx >= 0; idx = this.buffer.indexOf('\r\n')) {
      const line = this.buffer.slice(0, idx);
      this.buffer = this.buffer.slice(idx + 2);
      text.push(line.slice(4));
      if (line[3] !== '-') {
        const reply = { code: Number(line.slice(0, 3)), text: text.join('\n') };
        text = [];
        const w = this.waiting.shift();
        if (w) w(reply);
        else this.replies.push(reply);
      }
    }
  }

  read(): Promise<Reply> {
    const r = this.replies.shift();
    if (r) return Promise.resolve(r);
    if (this.closed) return Promise.resolve({ code: 0, text: 'connection closed' });
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  async command(line: string): Promise<Reply> {
    this.socket.write(`${line}\r\n`);
    return this.read();
  }

  /** Writes raw bytes (part of a DATA body) without waiting for a reply. */
  write(data: string | Buffer): void {
    this.socket.write(data);
  }

  /** Sends a whole body after DATA's 354, dot-stuffed, and returns the final reply. */
  async data(body: Buffer | string): Promise<Reply> {
    this.socket.write(Buffer.concat([dotStuff(body), Buffer.from('.\r\n')]));
    return this.read();
  }

  close(): void {
    this.socket.destroy();
  }
}

export function dotStuff(body: Buffer | string): Buffer {
  // strings are sent as UTF-8; the stuffing works on bytes (latin1 maps each byte to one char)
  let s = (Buffer.isBuffer(body) ? body : Buffer.from(body, 'utf8')).toString('latin1');
  s = s.replace(/(^|\r\n)\./g, '$1..');
  if (!s.endsWith('\r\n')) s += '\r\n';
  return Buffer.from(s, 'latin1');
}

/** One whole transaction on a new connection; returns the reply to the end of DATA (or the first refusal). */
export async function sendRaw(port: number, from: string, to: string[], body: Buffer | string): Promise<Reply> {
  const { client, greeting } = await SmtpClient.connect(port);
  try {
    if (greeting.code !== 220) return greeting;
    let r = await client.command('EHLO test.example');
    if (r.code !== 250) return r;
    r = await client.command(`MAIL FROM:<${from}>`);
    if (r.code !== 250) return r;
    for (const rcpt of to) {
      r = await client.command(`RCPT TO:<${rcpt}>`);
      if (r.code !== 250) return r;
    }
    r = await client.command('DATA');
    if (r.code !== 354) return r;
    r = await client.data(body);
    await client.command('QUIT');
    return r;
  } finally {
    client.close();
  }
}

export function sampleMail(opts: { messageId?: string; subject?: string; body?: string; from?: string } = {}): string {
  const lines = [
    `From: ${opts.from ?? 'Alice Example <alice@example.com>'}`,
    'To: support@localhost',
    `Subject: ${opts.subject ?? 'Printer on fire'}`,
    'Date: Mon, 23 Nov 2026 10:00:00 +0000',
    ...(opts.messageId === ''
      ? []
      : [`Message-ID: ${opts.messageId ?? `<${Math.random().toString(36).slice(2)}@example.com>`}`]),
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8',
    '',
    opts.body ?? 'Hello,\r\nmy printer is on fire.\r\n.leading dot line\r\n',
  ];
  return lines.join('\r\n');
}
