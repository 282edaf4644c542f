// The CPU-bound part of processing one mail: parse, classify, sanitize and find the visible
// text. It runs in a worker thread of the mail pool (mail-pool.ts), under a time budget, so that
// no mail content can hold the event loop that SMTP, the web and other mails share. Everything it
// returns crosses the thread boundary by structured clone: plain data only.
import { createHash } from 'node:crypto';
import { classify, type ClassifyContext, type Classification } from './classify.ts';
import { parseMail, type ParsedMail } from './parse.ts';
import { renderContent, type RenderedContent } from './store-message.ts';

export interface AnalyseInput extends ClassifyContext {
  raw: Uint8Array;
}

export type Analysed =
  | { ok: true; mail: ParsedMail; classification: Classification; rendered: RenderedContent | undefined }
  /** the mail cannot be parsed: retrying cannot help */
  | { ok: false; error: string };

export async function analyse(input: AnalyseInput): Promise<Analysed> {
  const raw = Buffer.from(input.raw.buffer, input.raw.byteOffset, input.raw.byteLength);
  let mail: ParsedMail;
  try {
    mail = await parseMail(raw);
  } catch (err) {
    return { ok: false, error: `cannot parse: ${(err as Error).message}` };
  }
  try {
    const classification = classify(mail, input);
    // our own mail and bounces are never shown as messages
    const shown = classification.kind !== 'own' && classification.kind !== 'bounce';
    return { ok: true, mail, classification, rendered: shown ? renderContent(mail) : undefined };
  } catch (err) {
    // a mail our own code cannot read: the same mail would fail again, and alone
    return { ok: false, error: `cannot process: ${(err as Error).message}` };
  }
}

/**
 * The analysis back on this side of a thread boundary: attachment contents arrive as plain
 * Uint8Arrays and become Buffers again (the rest of the code hashes and stores them as such).
 */
export function revive(a: Analysed): Analysed {
  if (!a.ok) return a;
  for (const att of a.mail.attachments) {
    const c = att.content as Uint8Array;
    if (!Buffer.isBuffer(c)) att.content = Buffer.from(c.buffer, c.byteOffset, c.byteLength);
  }
  return a;
}

/** sha256 of an attachment, as both sides compute it. */
export const sha256 = (b: Uint8Array): Buffer => createHash('sha256').update(b).digest();

/** A batch of mails for one thread, and where it says which mail it is on (see mail-pool.ts). */
export interface AnalyseBatch {
  mails: AnalyseInput[];
  /** [index of the mail being analysed, or -1; Date.now() when it started] */
  progress: SharedArrayBuffer;
}

/** The mails one after the other, telling the watchdog which one is running since when. */
export async function analyseMany({ mails, progress }: AnalyseBatch): Promise<Analysed[]> {
  const now = new Float64Array(progress);
  const out: Analysed[] = [];
  for (const [k, mail] of mails.entries()) {
    now[1] = Date.now();
    now[0] = k;
    out.push(await analyse(mail));
  }
  now[0] = -1;
  return out;
}
