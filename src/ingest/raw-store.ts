// Durable accept: the raw bytes and the job that processes them commit in one transaction, and
// only then does the client get its 250.
import type { Knex } from 'knex';
import type { Boss } from '../queue/index.ts';
import { QUEUES, jobDb } from '../queue/index.ts';

export interface RawMail {
  mailFrom: string;
  rcptTo: string[];
  remoteAddress: string | undefined;
  helo: string | undefined;
  smtpSession: string | undefined;
  sha256: Buffer;
  messageId: string | undefined;
  raw: Buffer;
}

export interface Stored {
  id: number;
  /** Set when these bytes were stored before: this row only records the second delivery. */
  duplicateOf?: number;
}

export async function storeRawMail(db: Knex, boss: Boss, mail: RawMail): Promise<Stored> {
  return db.transaction(async (trx) => {
    const row = {
      mail_from: mail.mailFrom,
      rcpt_to: mail.rcptTo,
      remote_address: mail.remoteAddress ?? null,
      helo: mail.helo ?? null,
      smtp_session: mail.smtpSession ?? null,
      size: mail.raw.length,
      sha256: mail.sha256,
      message_id: mail.messageId ?? null,
    };
    // A parallel insert of the same bytes waits on the unique index and then conflicts, so two
    // copies racing each other still end as one original and one duplicate.
    const inserted = await trx.raw<{ rows: { id: number }[] }>(
      `INSERT INTO raw_messages (mail_from, rcpt_to, remote_address, helo, smtp_session, size, sha256, message_id, raw)
       VALUES (:mail_from, :rcpt_to, :remote_address, :helo, :smtp_session, :size, :sha256, :message_id, :raw)
       ON CONFLICT (sha256, coalesce(message_id, '')) WHERE duplicate_of IS NULL DO NOTHING
       RETURNING id`,
      { ...row, raw: mail.raw },
    );
    const first = inserted.rows[0];
    if (first) {
      await boss.send(QUEUES.inboundProcess, { rawId: first.id }, { db: jobDb(trx) });
      return { id: first.id };
    }
    const original = await trx('raw_messages')
      .select('id')
      .where({ sha256: mail.sha256, duplicate_of: null })
      .whereRaw(`coalesce(message_id, '') = ?`, [mail.messageId ?? ''])
      .first<{ id: number }>();
    if (!original) throw new Error('duplicate key conflict without an original row');
    const [dup] = await trx('raw_messages')
      .insert({ ...row, raw: null, status: 'duplicate', duplicate_of: original.id, processed_at: trx.fn.now() })
      .returning<{ id: number }[]>('id');
    return { id: dup!.id, duplicateOf: original.id };
  });
}
