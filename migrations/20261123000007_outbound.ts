import type { Knex } from 'knex';

// What the outbound worker needs to render, send and account for a mail: the message an agent
// reply carries (and its agent), the language, the server's answer, and the rendered mail when no outbound
// server is configured (the dev outbox).
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    ALTER TABLE outbound_messages
      -- the agent's message a reply or follower update carries. SET NULL: the record outlives it
      ADD COLUMN message_ref bigint REFERENCES messages (id) ON DELETE SET NULL,
      ADD COLUMN locale text,
      ADD COLUMN subject text,
      -- the receiving server's answer to our DATA, or why we gave up
      ADD COLUMN smtp_response text,
      -- the rendered mail as sent (kept for the dev outbox and for support questions)
      ADD COLUMN raw bytea,
      ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now(),
      -- when its outbound.send job was queued: rows written without one (an ack, in the inbound
      -- pipeline) get theirs from the relay, in a transaction of its own
      ADD COLUMN job_queued_at timestamptz;
    ALTER TABLE outbound_messages DROP CONSTRAINT outbound_messages_status_check;
    ALTER TABLE outbound_messages ADD CONSTRAINT outbound_messages_status_check
      CHECK (status IN ('queued', 'sent', 'failed', 'bounced', 'suppressed', 'cancelled'));
    -- the ack limit counts an address's recent acks; the outbox lists by status
    CREATE INDEX outbound_messages_recipient_idx ON outbound_messages (recipient, kind, created_at DESC);
    CREATE INDEX outbound_messages_status_idx ON outbound_messages (status, id DESC);
    -- a ticket's outbound mail: thread headers, the conversation
    CREATE INDEX outbound_messages_ticket_idx ON outbound_messages (ticket_id, sent_at) WHERE ticket_id IS NOT NULL;
    -- the relay's work: queued rows without a job yet
    CREATE INDEX outbound_messages_unrelayed_idx ON outbound_messages (id) WHERE status = 'queued' AND job_queued_at IS NULL;

    -- a customer's language for the mail we send them (null: the inbox's, then English)
    ALTER TABLE customers ADD COLUMN locale text CHECK (locale ~ '^[a-z]{2}(-[a-z]{2}){0,1}$');

    -- an agent's reply names its agent. SET NULL: the conversation outlives the agent's account
    ALTER TABLE messages ADD COLUMN author_agent_id bigint REFERENCES agents (id) ON DELETE SET NULL;
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    ALTER TABLE messages DROP COLUMN author_agent_id;
    ALTER TABLE customers DROP COLUMN locale;
    DROP INDEX outbound_messages_recipient_idx, outbound_messages_status_idx, outbound_messages_unrelayed_idx, outbound_messages_ticket_idx;
    ALTER TABLE outbound_messages DROP CONSTRAINT outbound_messages_status_check;
    ALTER TABLE outbound_messages ADD CONSTRAINT outbound_messages_status_check
      CHECK (status IN ('queued', 'sent', 'failed', 'bounced', 'suppressed'));
    ALTER TABLE outbound_messages DROP COLUMN message_ref, DROP COLUMN locale, DROP COLUMN subject,
      DROP COLUMN smtp_response, DROP COLUMN raw, DROP COLUMN updated_at, DROP COLUMN job_queued_at;
  `);
}
