// The portal's forms that carry files (a reply, a new ticket): multipart, read as it streams with
// limits per file, per form and on the number of files. The routes check who may post, and the
// rate limit, before a byte is read. The form's CSRF token is its first field (the hidden input
// comes first in the page): a post without a good one is refused before any file is read. A body
// over the limits is not read to its end: a Content-Length over BODY_LIMIT is refused at once, and
// reading stops at the first limit passed (a file, the files together, their number, the bytes
// counted as they arrive), so the page answers with the problem and the text typed so far, and
// the connection closes (closeUnread) instead of the rest being drained. A form without files may
// come urlencoded too.
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { NewAttachment } from '../../attachments/index.ts';
import type { MessageKey } from './i18n.ts';

export const UPLOAD_LIMITS = {
  fileBytes: 10 * 1024 * 1024,
  totalBytes: 25 * 1024 * 1024,
  files: 10,
  fields: 20,
  fieldBytes: 200_000,
} as const;

/**
 * The most a form's whole body may be: its files together, and room for the fields (the text is
 * at most 100,000 characters, 400 KB of UTF-8), the parts' headers and boundaries.
 */
export const BODY_LIMIT = UPLOAD_LIMITS.totalBytes + 1024 * 1024;

/** What @fastify/multipart is told: busboy truncates a file past its size and we say so. */
export const MULTIPART_OPTIONS = {
  throwFileSizeLimit: false,
  limits: {
    fileSize: UPLOAD_LIMITS.fileBytes,
    files: UPLOAD_LIMITS.files,
    fields: UPLOAD_LIMITS.fields,
    fieldSize: UPLOAD_LIMITS.fieldBytes,
    parts: UPLOAD_LIMITS.files + UPLOAD_LIMITS.fields,
    headerPairs: 100,
  },
};

export type UploadProblem =
  | { kind: 'fileTooLarge'; name: string }
  | { kind: 'tooLarge' }
  | { kind: 'tooMany' }
  | { kind: 'malformed' };

export interface Upload {
  fields: Record<string, string>;
  files: NewAttachment[];
  problem?: UploadProblem;
}

const CONTENT_TYPE = /^[a-z0-9][a-z0-9!#$&^_.+-]{0,126}\/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$/;
const LIMIT_ERRORS = new Set(['FST_FILES_LIMIT', 'FST_PARTS_LIMIT', 'FST_FIELDS_LIMIT']);
const STOP = Symbol('stop');

/**
 * The form's fields and files; 'csrf' when its first field is not a token that `csrfOk` takes
 * (nothing else is read then). Past a limit it stops reading: the rest of the body is left unread.
 */
export async function readUpload(
  request: FastifyRequest,
  csrfOk: (token: unknown) => boolean,
): Promise<Upload | 'csrf'> {
  if (!request.isMultipart()) {
    const body = (request.body ?? {}) as Record<string, string>;
    return csrfOk(body.csrf) ? { fields: body, files: [] } : 'csrf';
  }
  const out: Upload = { fields: {}, files: [] };
  // announced as too large: refused before a byte is read
  if (Number(request.headers['content-length']) > BODY_LIMIT) return { ...out, problem: { kind: 'tooLarge' } };

  // A limit passed ends the reading: whatever is awaited then (a part, a chunk) is given up.
  let halted = false;
  let stop!: () => void;
  const stopped = new Promise<typeof STOP>((resolve) => {
    stop = () => resolve(STOP);
  });
  const fail = (problem: UploadProblem) => {
    out.problem ??= problem;
    halted = true;
    stop();
  };
  const raw = request.raw;
  const parts = request.parts()[Symbol.asyncIterator]();
  // the first next() runs the parser's start at once, which pipes the request into busboy: only
  // then may another 'data' listener be added (before, it would let chunks flow past busboy)
  let next = parts.next();
  // every byte as it arrives, whatever busboy makes of it (a file it cut off, it reads on)
  let received = 0;
  const count = (chunk: Buffer) => {
    received += chunk.length;
    if (received > BODY_LIMIT) fail({ kind: 'tooLarge' });
  };
  raw.on('data', count);

  let total = 0;
  let first = true;
  try {
    for (;;) {
      const step = await Promise.race([next, stopped]);
      if (step === STOP || step.done) break;
      const part = step.value;
      if (first) {
        first = false;
        if (part.type !== 'field' || part.fieldname !== 'csrf' || !csrfOk(part.value)) return 'csrf';
      } else if (part.type === 'field') {
        if (part.valueTruncated) out.problem ??= { kind: 'malformed' };
        else if (!(part.fieldname in out.fields)) out.fields[part.fieldname] = String(part.value);
      } else {
        const name = (part.filename || 'file').slice(0, 255);
        // busboy cuts a file off at its limit and then reads the rest of it for nothing
        part.file.once('limit', () => fail({ kind: 'fileTooLarge', name }));
        const chunks: Buffer[] = [];
        let size = 0;
        const file = (part.file as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
        for (;;) {
          const chunk = await Promise.race([file.next(), stopped]);
          if (chunk === STOP || chunk.done) break;
          size += chunk.value.length;
          if (total + size > UPLOAD_LIMITS.totalBytes) fail({ kind: 'tooLarge' });
          else chunks.push(chunk.value);
        }
        if (!halted && part.file.truncated) fail({ kind: 'fileTooLarge', name });
        if (halted) break;
        total += size;
        // a file input left empty still sends a part, without a name or content
        if ((part.filename || size > 0) && !out.problem) {
          const type = part.mimetype.toLowerCase().split(';')[0]!.trim();
          out.files.push({
            filename: name,
            content_type: CONTENT_TYPE.test(type) ? type : 'application/octet-stream',
            content: Buffer.concat(chunks),
          });
        }
      }
      next = parts.next();
    }
  } catch (err) {
    const code = (err as { code?: string }).code ?? '';
    if (!LIMIT_ERRORS.has(code)) throw err;
    out.problem ??= code === 'FST_FILES_LIMIT' ? { kind: 'tooMany' } : { kind: 'malformed' };
  } finally {
    raw.off('data', count);
    stopReading(request);
  }
  // nothing read but too much of it: the problem, as for a Content-Length over the limit
  if (first && !halted) return 'csrf';
  if (out.problem) out.files = [];
  return out;
}

/** Reads no more of a multipart body that was not read to its end (closeUnread closes it). */
function stopReading(request: FastifyRequest): void {
  if (request.raw.complete) return;
  request.raw.unpipe();
  request.raw.pause();
}

/**
 * An onSend hook for the routes that take files: an answer given before the body was read to its
 * end (refused before reading, or stopped at a limit) closes the connection, so that Node does not
 * drain the rest, however large, to keep it open.
 */
export function closeUnread(
  request: FastifyRequest,
  reply: FastifyReply,
  payload: unknown,
  done: (err: null, payload: unknown) => void,
): void {
  if (request.isMultipart() && !request.raw.complete) {
    stopReading(request);
    reply.header('connection', 'close');
  }
  done(null, payload);
}

const MB = 1024 * 1024;

/** What the form says of a problem with its files: they are dropped, so it asks for them again. */
export function uploadProblem(
  t: (key: MessageKey, vars?: Record<string, string | number>) => string,
  p: UploadProblem,
): string {
  const text =
    p.kind === 'fileTooLarge'
      ? t('ticket.err.fileTooLarge', { name: p.name, max: UPLOAD_LIMITS.fileBytes / MB })
      : p.kind === 'tooLarge'
        ? t('ticket.err.tooLarge', { max: UPLOAD_LIMITS.totalBytes / MB })
        : p.kind === 'tooMany'
          ? t('ticket.err.tooMany', { max: UPLOAD_LIMITS.files })
          : t('ticket.err.malformed');
  return `${text} ${t('ticket.err.filesAgain')}`;
}
