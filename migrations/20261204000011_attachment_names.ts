import type { Knex } from 'knex';
import { attachmentNames } from '../src/attachments/index.ts';

// Every file gets the name it is shown and downloaded under (src/attachments/names.ts): the name
// given cleaned, else from its Content-ID or its type, unique within its message. `filename`
// keeps what the mail said (NULL: it said nothing), so a generated name stays recognisable.
// Files stored before the rule are named by the same rule here, a batch of messages at a time:
// the rule needs a message's files together, in their order.
const MESSAGES_PER_BATCH = 1000;

export async function up(knex: Knex): Promise<void> {
  await knex.raw('ALTER TABLE message_attachments ADD COLUMN display_name text');
  let after = 0;
  for (;;) {
    const ids: number[] = (
      await knex.raw(
        `SELECT DISTINCT message_id FROM message_attachments WHERE message_id > ? ORDER BY message_id LIMIT ?`,
        [after, MESSAGES_PER_BATCH],
      )
    ).rows.map((r: { message_id: string }) => Number(r.message_id));
    if (ids.length === 0) break;
    after = ids[ids.length - 1]!;
    const rows: {
      id: string;
      message_id: string;
      filename: string | null;
      content_type: string;
      content_id: string | null;
    }[] = await knex('message_attachments')
      .whereIn('message_id', ids)
      .orderBy(['message_id', 'position', 'id'])
      .select('id', 'message_id', 'filename', 'content_type', 'content_id');
    const byMessage = Map.groupBy(rows, (r) => r.message_id);
    const named: { id: string; name: string }[] = [];
    for (const files of byMessage.values()) {
      const names = attachmentNames(
        files.map((f) => ({ filename: f.filename, contentType: f.content_type, contentId: f.content_id })),
      );
      for (const [i, f] of files.entries()) named.push({ id: f.id, name: names[i]! });
    }
    await knex.raw(
      `UPDATE message_attachments a SET display_name = v.name
         FROM jsonb_to_recordset(?::jsonb) AS v(id bigint, name text)
        WHERE a.id = v.id`,
      [JSON.stringify(named)],
    );
  }
  // every writer names its files (inbound/store-message.ts, attachments' storeAttachments)
  await knex.raw(`
    ALTER TABLE message_attachments ALTER COLUMN display_name SET NOT NULL;
    ALTER TABLE message_attachments ADD CONSTRAINT message_attachments_display_name_check CHECK (display_name <> '');
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('ALTER TABLE message_attachments DROP COLUMN display_name');
}
