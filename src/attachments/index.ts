// Files attached to messages, stored once by content (sha256) and named per message. Every read
// and write of the attachment tables outside inbound's pipelined writes is here: the ticket views,
// the public page and the portal, agents' replies, and outbound mail that carries files.
import { createHash } from 'node:crypto';
import type { Knex } from 'knex';
import type { Db } from '../db/index.ts';
import { attachmentNames } from './names.ts';

export { attachmentNames, contentDisposition, type NameSource } from './names.ts';

export interface AttachmentInfo {
  message_id: number;
  /** what it is shown and downloaded under: never empty, unique within its message (names.ts) */
  name: string;
  /** the name the mail gave it, as given (null: none) */
  filename: string | null;
  content_type: string;
  size: number;
  inline: boolean;
  /** hex: how a download names it */
  sha256: string;
}

/**
 * The attachments of these messages, by message, in their order within the message. `inline`
 * false leaves out the parts a mail's HTML shows in place (its cid: images).
 */
export async function attachmentsOf(
  db: Db,
  messageIds: number[],
  opts: { inline?: false } = {},
): Promise<Map<number, AttachmentInfo[]>> {
  const out = new Map<number, AttachmentInfo[]>();
  if (messageIds.length === 0) return out;
  const q = db('message_attachments as a')
    .join('attachments as b', 'b.sha256', 'a.sha256')
    .whereIn('a.message_id', messageIds)
    .orderBy(['a.message_id', 'a.position'])
    .select('a.message_id', 'a.display_name as name', 'a.filename', 'a.content_type', 'b.size', 'a.inline', 'a.sha256');
  if (opts.inline === false) q.where('a.inline', false);
  for (const r of await q) {
    const list = out.get(r.message_id) ?? [];
    list.push({ ...r, sha256: Buffer.from(r.sha256).toString('hex') });
    out.set(r.message_id, list);
  }
  return out;
}

/** Whether a string is the hex name of a stored file. */
function isAttachmentName(sha256: string): boolean {
  return /^[0-9a-f]{64}$/.test(sha256);
}

/**
 * Where a file is downloaded from, under `base`: by its hash, with the name of the link that was
 * followed (the same bytes may be attached under two names; attachmentContent takes it back).
 */
export function attachmentLink(base: string, file: { sha256: string; name: string }): string {
  return `${base}/${file.sha256}?name=${encodeURIComponent(file.name)}`;
}

/**
 * The file with this hash as attached to one of these messages (a subquery of message ids that
 * says whose files a page may hand out), with the name it has there: the one asked for when it is
 * one of those names (a link of attachmentLink), else the first it has. The name asked for is
 * only ever compared: what comes back is a stored name.
 */
export async function attachmentContent(
  db: Db,
  sha256: string,
  messageIds: Knex.QueryBuilder,
  name?: string,
): Promise<{ name: string; content_type: string; content: Buffer } | undefined> {
  if (!isAttachmentName(sha256)) return undefined;
  return db('message_attachments as a')
    .join('attachments as b', 'b.sha256', 'a.sha256')
    .where('a.sha256', Buffer.from(sha256, 'hex'))
    .whereIn('a.message_id', messageIds)
    .orderByRaw('a.display_name = ? DESC, a.message_id, a.position', [name ?? ''])
    .first('a.display_name as name', 'a.content_type', 'b.content');
}

/** The files of outbound mail: names, types and content, in order. */
export async function attachmentFiles(
  db: Db,
  messageId: number,
): Promise<{ name: string; content_type: string; size: number; sha256: string; content: Buffer }[]> {
  const rows = await db('message_attachments as a')
    .join('attachments as b', 'b.sha256', 'a.sha256')
    .where('a.message_id', messageId)
    .where('a.inline', false)
    .orderBy('a.position')
    .select('a.display_name as name', 'a.content_type', 'b.size', 'a.sha256', 'b.content');
  return rows.map((r) => ({ ...r, sha256: Buffer.from(r.sha256).toString('hex') }));
}

export interface NewAttachment {
  filename: string;
  content_type: string;
  content: Buffer;
}

/**
 * Attaches files to a message; content-addressed, so the same file sent twice is stored once.
 * Each keeps the name it was given and gets the one it is shown under (names.ts).
 */
export async function storeAttachments(
  trx: Knex.Transaction,
  messageId: number,
  files: NewAttachment[],
): Promise<void> {
  const names = attachmentNames(files.map((a) => ({ filename: a.filename, contentType: a.content_type })));
  for (const [position, a] of files.entries()) {
    const sha256 = createHash('sha256').update(a.content).digest();
    await trx('attachments')
      .insert({ sha256, size: a.content.length, content: a.content })
      .onConflict('sha256')
      .ignore();
    await trx('message_attachments').insert({
      message_id: messageId,
      sha256,
      filename: a.filename,
      display_name: names[position],
      content_type: a.content_type,
      inline: false,
      position,
    });
  }
}
