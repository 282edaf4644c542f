// Writes one inbound message with its attachments (bytes stored once, by sha256).
import { createHash } from 'node:crypto';
import type { Knex } from 'knex';
import type { ParsedMail } from 'mailparser';
import type { Ticket } from '../tickets/index.ts';
import type { Classification } from './classify.ts';
import type { AuthResult } from './auth.ts';
import { sanitizeHtml, visibleText, visibleTextFromHtml } from './content.ts';
import { addressList, messageIdsOf, plainText } from './mail-fields.ts';

export interface NewMessage {
  ticket: Ticket;
  rawId: number;
  mail: ParsedMail;
  classification: Classification;
  auth: AuthResult | undefined;
  /** the From failed DMARC */
  untrustedFrom: boolean;
  customerId: number | null;
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

export async function storeMessage(trx: Knex.Transaction, m: NewMessage): Promise<number> {
  const { mail } = m;
  const files = mail.attachments.map((a, position) => ({
    a,
    position,
    sha256: createHash('sha256').update(a.content).digest(),
  }));
  const byCid = new Map(files.filter((f) => f.a.cid).map((f) => [f.a.cid!.replace(/^<|>$/g, ''), f.sha256.toString('hex')]));
  let html: string | null = null;
  if (typeof mail.html === 'string') {
    const shown = head(mail.html, MAX_DISPLAY_HTML);
    html = plainText(sanitizeHtml(shown.html, { cidUrl: (cid: string) => {
      const sha = byCid.get(cid);
      return sha && attachmentUrl(sha);
    } }));
    if (shown.cut) html += '<p><em>[This message is too long to show whole: the rest is in the original mail.]</em></p>';
  }
  const text = plainText(mail.text ?? '');
  const visible = plainText(
    text.trim()
      ? visibleText(text.slice(0, MAX_VISIBLE_SOURCE))
      : typeof mail.html === 'string'
        ? visibleTextFromHtml(head(mail.html, MAX_VISIBLE_SOURCE).html)
        : '',
  );
  const [from] = addressList(mail, ['from']);
  const refs = messageIdsOf(mail);

  const [row] = await trx('messages')
    .insert({
      ticket_id: m.ticket.id,
      raw_message_id: m.rawId,
      direction: 'inbound',
      author_type: m.customerId ? 'customer' : 'system',
      author_customer_id: m.customerId,
      message_id: mail.messageId ? plainText(mail.messageId).slice(0, 998) : null,
      in_reply_to: mail.inReplyTo ? plainText(mail.inReplyTo).slice(0, 998) : null,
      references: refs,
      subject: plainText(mail.subject ?? '').slice(0, 998),
      from_address: from?.address ?? null,
      from_name: from?.name ?? null,
      to_addresses: addressList(mail, ['to']).map((a) => a.address),
      cc_addresses: addressList(mail, ['cc']).map((a) => a.address),
      sent_at: mail.date && !Number.isNaN(mail.date.getTime()) ? mail.date : null,
      text,
      html,
      visible_text: visible,
      classification: m.classification.kind,
      classification_reasons: m.classification.reasons,
      auth: m.auth ? JSON.stringify(m.auth).replace(/\\u0000/g, '') : null,
      untrusted_from: m.untrustedFrom,
    })
    .returning<{ id: number }[]>('id');
  const messageId = row!.id;

  for (const f of files) {
    await trx('attachments').insert({ sha256: f.sha256, size: f.a.content.length, content: f.a.content }).onConflict('sha256').ignore();
  }
  if (files.length > 0) {
    await trx('message_attachments').insert(
      files.map((f) => ({
        message_id: messageId,
        sha256: f.sha256,
        filename: f.a.filename ? plainText(f.a.filename).slice(0, 255) : null,
        content_type: plainText(f.a.contentType || 'application/octet-stream').slice(0, 255),
        content_id: f.a.cid ? plainText(f.a.cid).slice(0, 998) : null,
        inline: f.a.contentDisposition === 'inline' || Boolean(f.a.related),
        position: f.position,
      })),
    );
  }
  return messageId;
}
