import type { Knex } from 'knex';

// An inbox is an address we accept mail for. Addresses are stored lower-case; the unique index
// makes the RCPT check and `inbox add` agree on what "the same address" means.
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE inboxes (
      id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      address     text NOT NULL CHECK (address = lower(address) AND address LIKE '%_@_%'),
      name        text NOT NULL,
      from_name   text,
      enabled     boolean NOT NULL DEFAULT true,
      -- per-inbox switches (ack on/off, portal allowed, ...) added by later features
      settings    jsonb NOT NULL DEFAULT '{}'::jsonb,
      created_at  timestamptz NOT NULL DEFAULT now()
    );
    -- one inbox per address; also serves the RCPT lookup
    CREATE UNIQUE INDEX inboxes_address_key ON inboxes (address);
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP TABLE inboxes');
}
