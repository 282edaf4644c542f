// The portal's forms that carry files (a reply, a new ticket): multipart, read as it streams with
// limits per file, per form and on the number of files. The form's CSRF token is its first field
// (the hidden input comes first in the page): a post without a good one is refused before any
// file is read. Over a limit, the rest is read and dropped, so the page can answer with the
// problem and the text that was typed. A form without files may come urlencoded too.
import type { FastifyRequest } from 'fastify';
import type { NewAttachment } from '../../attachments/index.ts';
import type { MessageKey } from './i18n.ts';

export const UPLOAD_LIMITS = {
  fileBytes: 10 * 1024 * 1024,
  totalBytes: 25 * 1024 * 1024,
  files: 10,
  fields: 20,
  fieldBytes: 200_000,
} as const;

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

/**
 * The form's fields and files; 'csrf' when its first field is not a token that `csrfOk` takes
 * (nothing else is read then).
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
  let total = 0;
  let first = true;
  try {
    for await (const part of request.parts()) {
      if (first) {
        first = false;
        if (part.type !== 'field' || part.fieldname !== 'csrf' || !csrfOk(part.value)) {
          if (part.type === 'file') part.file.resume();
          return 'csrf';
        }
        continue;
      }
      if (part.type === 'field') {
        if (part.valueTruncated) out.problem ??= { kind: 'malformed' };
        else if (!(part.fieldname in out.fields)) out.fields[part.fieldname] = String(part.value);
        continue;
      }
      // a file input left empty still sends a part, without a name or content
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of part.file as AsyncIterable<Buffer>) {
        size += chunk.length;
        if (!out.problem && total + size <= UPLOAD_LIMITS.totalBytes) chunks.push(chunk);
      }
      if (!part.filename && size === 0) continue;
      const name = (part.filename || 'file').slice(0, 255);
      if (part.file.truncated) out.problem ??= { kind: 'fileTooLarge', name };
      else if (total + size > UPLOAD_LIMITS.totalBytes) out.problem ??= { kind: 'tooLarge' };
      total += size;
      if (out.problem) continue;
      const type = part.mimetype.toLowerCase().split(';')[0]!.trim();
      out.files.push({
        filename: name,
        content_type: CONTENT_TYPE.test(type) ? type : 'application/octet-stream',
        content: Buffer.concat(chunks),
      });
    }
  } catch (err) {
    const code = (err as { code?: string }).code ?? '';
    if (!LIMIT_ERRORS.has(code)) throw err;
    out.problem ??= code === 'FST_FILES_LIMIT' ? { kind: 'tooMany' } : { kind: 'malformed' };
  }
  if (first) return 'csrf';
  if (out.problem) out.files = [];
  return out;
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
