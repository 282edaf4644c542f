import type { Knex } from 'knex';

// Every mail we answered 250 for, byte-exact, before anything else happens to it. Processing never
// deletes a row here: a mail that cannot be parsed stays, quarantined, and can be run again.
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE raw_messages (
      id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      received_at     timestamptz NOT NULL DEFAULT now(),
      -- SMTP envelope: '' is the null reverse path (<>) of bounces
      mail_from       text NOT NULL,
      rcpt_to         text[] NOT NULL,
      remote_address  text,
      helo            text,
      smtp_session    text,
      size            integer NOT NULL CHECK (size >= 0),
      sha256          bytea NOT NULL CHECK (length(sha256) = 32),
      message_id      text,
      -- NULL only for duplicates: their bytes are those of duplicate_of
      raw             bytea CHECK ((raw IS NULL) = (status = 'duplicate')),
      status          text NOT NULL DEFAULT 'received'
                      CHECK (status IN ('received', 'processed', 'duplicate', 'quarantined')),
      -- a duplicate points at the first copy; RESTRICT: the first copy is never deleted before it
      duplicate_of    bigint REFERENCES raw_messages (id) ON DELETE RESTRICT
                      CHECK ((duplicate_of IS NULL) = (status <> 'duplicate')),
      error           text,
      attempts        integer NOT NULL DEFAULT 0,
      processed_at    timestamptz
    );
    -- the same bytes with the same Message-ID (a sender retrying after a lost 250) are stored once;
    -- inserts race on this index, so two parallel copies still end as one original + one duplicate
    CREATE UNIQUE INDEX raw_messages_dedupe_key
      ON raw_messages (sha256, coalesce(message_id, '')) WHERE duplicate_of IS NULL;
    -- listings by status (quarantined, received) in arrival order
    CREATE INDEX raw_messages_status_idx ON raw_messages (status, id);
  `);
  // Raw mail is written once, kept forever and read rarely: lz4 compresses it at a fraction of
  // pglz's CPU cost. Servers built without lz4 keep the default.
  await knex.raw(`
    DO $$ BEGIN
      ALTER TABLE raw_messages ALTER COLUMN raw SET COMPRESSION lz4;
    EXCEPTION WHEN feature_not_supported OR invalid_parameter_value THEN
      RAISE NOTICE 'lz4 not available, raw mail uses the default compression';
    END $$;
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP TABLE raw_messages');
}
