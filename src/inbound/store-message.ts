// One inbound message with its attachments (bytes stored once, by sha256).
import { createHash } from 'node:crypto';
import type { ParsedMail } from 'mailparser';
import type { Sql } from '../db/index.ts';
import { attachmentNames } from '../attachments/index.ts';
import { CUSTOMER_BY_ADDRESS } from '../customers/index.ts';
import { TICKET_BY_TOKEN } from '../tickets/index.ts';
import type { Classification } from './classify.ts';
import type { AuthResult } from './auth.ts';
import type { Trust } from './trust.ts';
import { sanitizeHtml } from '../mail/index.ts';
import { visibleText } from './visible-text.ts';
import { visibleTextFromHtml } from './html-text.ts';
import { addressList, messageIdsOf, plainText } from './mail-fields.ts';

export interface NewMessage {
  rawId: number;
  mail: ParsedMail;
  /** the CPU-bound part, done in the mail pool (renderContent) */
  rendered: RenderedContent;
  classification: Classification;
  auth: AuthResult | undefined;
  /** how far the author is believed, and why (trust.ts) */
  trust: Trust;
  trustReason: string;
  /** the address of the customer who wrote it; none for automatic mail (the system is the author) */
  author: string | null;
}

/**
 * HTML past this size is shown cut (the original mail keeps all of it): sanitizing costs about
 * 0.1 s per MB, and no agent reads megabytes of markup.
 */
const MAX_DISPLAY_HTML = 2 * 1024 * 1024;
/** The visible reply is at the top of a mail; its text is looked for in the first part only. */
const MAX_VISIBLE_SOURCE = 256 * 1024;

/** Cuts HTML at a tag boundary near `max` characters. */
function head(html: string, max: number): { html: string; cut: boolean } {
  if (html.length <= max) return { html, cut: false };
  const lt = html.lastIndexOf('<', max);
  return { html: html.slice(0, lt > max / 2 ? lt : max), cut: true };
}

/** Where an attachment's bytes are served (the web role maps it to the ticket's access rules). */
export const attachmentUrl = (sha256: string): string => `/attachments/${sha256}`;

/** A message ready to be written: its row and its attachments, content sanitized. */
export interface MessageContent {
  rawId: number;
  /** the columns after ticket_id and direction, in the order of storeMessage's INSERT */
  values: unknown[];
  files: {
    sha256: Buffer;
    content: Buffer;
    /** the name the mail gave it (null: none) */
    filename: string | null;
    /** the name it is shown and downloaded under (attachments' names.ts) */
    displayName: string;
    contentType: string;
    contentId: string | null;
    inline: boolean;
    position: number;
  }[];
}

/** What a message shows: its sanitized HTML, its text and the visible part of the reply. */
export interface RenderedContent {
  html: string | null;
  text: string;
  visible: string;
  /** sha256 of each attachment, hex, in the mail's order */
  files: string[];
}

/** The CPU-bound part (sanitizing, visible text): run in the mail pool, off the event loop. */
export function renderContent(mail: ParsedMail): RenderedContent {
  const files = mail.attachments.map((a) => createHash('sha256').update(a.content).digest('hex'));
  const byCid = new Map<string, string>();
  mail.attachments.forEach((a, i) => {
    if (a.cid) byCid.set(a.cid.replace(/^<|>$/g, ''), files[i]!);
  });
  let html: string | null = null;
  if (typeof mail.html === 'string') {
    const shown = head(mail.html, MAX_DISPLAY_HTML);
    html = plainText(
      sanitizeHtml(shown.html, {
        cidUrl: (cid: string) => {
          const sha = byCid.get(cid);
          return sha && attachmentUrl(sha);
        },
      }),
    );
    if (shown.cut)
      html += '<p><em>[This message is too long to show whole: the rest is in the original mail.]</em></p>';
  }
  const text = plainText(mail.text ?? '');
  const visible = plainText(
    text.trim()
      ? visibleText(text.slice(0, MAX_VISIBLE_SOURCE))
      : typeof mail.html === 'string'
        ? visibleTextFromHtml(head(mail.html, MAX_VISIBLE_SOURCE).html)
        : '',
  );
  return { html, text, visible, files };
}

/** The message's row and attachments, from the mail and what renderContent made of it. */
export function messageContent(m: NewMessage): MessageContent {
  const { mail } = m;
  const { html, text, visible } = m.rendered;
  const files = mail.attachments.map((a, position) => ({
    a,
    position,
    sha256: Buffer.from(m.rendered.files[position]!, 'hex'),
  }));
  const names = attachmentNames(
    mail.attachments.map((a) => ({ filename: a.filename, contentType: a.contentType, contentId: a.cid })),
  );
  const [from] = addressList(mail, ['from']);
  return {
    rawId: m.rawId,
    values: [
      m.rawId,
      m.author ? 'customer' : 'system',
      m.author,
      mail.messageId ? plainText(mail.messageId).slice(0, 998) : null,
      mail.inReplyTo ? plainText(mail.inReplyTo).slice(0, 998) : null,
      messageIdsOf(mail),
      plainText(mail.subject ?? '').slice(0, 998),
      from?.address ?? null,
      from?.name ?? null,
      addressList(mail, ['to']).map((a) => a.address),
      addressList(mail, ['cc']).map((a) => a.address),
      mail.date && !Number.isNaN(mail.date.getTime()) ? mail.date : null,
      text,
      html,
      visible,
      m.classification.kind,
      m.classification.reasons,
      m.auth ? JSON.stringify(m.auth).replace(/\\u0000/g, '') : null,
      m.trust === 'untrusted',
      m.trust,
      m.trustReason,
    ],
    files: files.map((f) => ({
      sha256: f.sha256,
      content: f.a.content,
      filename: f.a.filename ? plainText(f.a.filename).slice(0, 255) : null,
      displayName: names[f.position]!,
      contentType: plainText(
        typeof f.a.contentType === 'string' && f.a.contentType ? f.a.contentType : 'application/octet-stream',
      ).slice(0, 255),
      contentId: f.a.cid ? plainText(f.a.cid).slice(0, 998) : null,
      inline: f.a.contentDisposition === 'inline' || Boolean(f.a.related),
      position: f.position,
    })),
  };
}

/**
 * Writes the message into the ticket the reply token names, and its message.received event when
 * `event` is given. Attachments find their message by its raw message, which is unique.
 */
export function storeMessage(
  sql: Sql,
  replyToken: string,
  content: MessageContent,
  event?: Record<string, unknown>,
): Promise<unknown>[] {
  const sent: Promise<unknown>[] = [
    sql(
      `WITH m AS (
         INSERT INTO messages (ticket_id, direction, raw_message_id, author_type, author_customer_id, message_id, in_reply_to,
                               "references", subject, from_address, from_name, to_addresses, cc_addresses, sent_at, text, html,
                               visible_text, classification, classification_reasons, auth, untrusted_from, sender_trust, trust_reason)
         VALUES (${TICKET_BY_TOKEN('$1')}, 'inbound', $2, $3, ${CUSTOMER_BY_ADDRESS('$4')}, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15,
                 $16, $17, $18, $19, $20, $21, $22)
         RETURNING ticket_id, author_customer_id
       )
       INSERT INTO events (type, ticket_id, customer_id, data)
       SELECT 'message.received', ticket_id, author_customer_id, $23::jsonb FROM m WHERE $23::jsonb IS NOT NULL`,
      [replyToken, ...content.values, event ?? null],
    ),
  ];
  for (const f of content.files) {
    sent.push(
      sql('INSERT INTO attachments (sha256, size, content) VALUES ($1, $2, $3) ON CONFLICT (sha256) DO NOTHING', [
        f.sha256,
        f.content.length,
        f.content,
      ]),
      sql(
        `INSERT INTO message_attachments (message_id, sha256, filename, display_name, content_type, content_id, inline, position)
         VALUES ((SELECT id FROM messages WHERE raw_message_id = $1), $2, $3, $4, $5, $6, $7, $8)`,
        [content.rawId, f.sha256, f.filename, f.displayName, f.contentType, f.contentId, f.inline, f.position],
      ),
    );
  }
  return sent;
}
