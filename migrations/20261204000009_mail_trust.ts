import type { Knex } from 'knex';

// Mail trust: how far the author of each inbound message was believed, reply addresses issued to
// one recipient of one ticket, and magic links that name the customer they were mailed to.
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    -- inbound/trust.ts: authenticated | unauthenticated | untrusted, and why (for the reviewing agent)
    ALTER TABLE messages
      ADD COLUMN sender_trust text CHECK (sender_trust IN ('authenticated', 'unauthenticated', 'untrusted')),
      ADD COLUMN trust_reason text;

    -- Each outbound mail about a ticket carries a reply address of its own (inbox+<token>@),
    -- issued to its one recipient; only the token's sha256 is kept. Replies through it count as
    -- that customer only. Tickets' own reply_token stays the internal key, and old mail that
    -- carried it still threads (its author must belong to the ticket).
    ALTER TABLE outbound_messages ADD COLUMN reply_token_hash bytea CHECK (length(reply_token_hash) = 32);
    -- finding a ticket by the reply address a mail came back to
    CREATE UNIQUE INDEX outbound_messages_reply_token_key ON outbound_messages (reply_token_hash)
      WHERE reply_token_hash IS NOT NULL;

    -- A magic link is issued to one customer of one ticket; links from before name the ticket only.
    ALTER TABLE tokens DROP CONSTRAINT tokens_check;
    ALTER TABLE tokens ADD CONSTRAINT tokens_subject_check CHECK (
      num_nonnulls(agent_id, customer_id, ticket_id) = 1
      OR (purpose = 'ticket_link' AND agent_id IS NULL AND ticket_id IS NOT NULL AND customer_id IS NOT NULL)
    );
    -- revoking a follower's links when they are removed from a ticket
    CREATE INDEX tokens_ticket_customer_idx ON tokens (ticket_id, customer_id) WHERE ticket_id IS NOT NULL;
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    DROP INDEX tokens_ticket_customer_idx;
    DELETE FROM tokens WHERE ticket_id IS NOT NULL AND customer_id IS NOT NULL;
    ALTER TABLE tokens DROP CONSTRAINT tokens_subject_check;
    ALTER TABLE tokens ADD CONSTRAINT tokens_check CHECK (num_nonnulls(agent_id, customer_id, ticket_id) = 1);
    DROP INDEX outbound_messages_reply_token_key;
    ALTER TABLE outbound_messages DROP COLUMN reply_token_hash;
    ALTER TABLE messages DROP COLUMN sender_trust, DROP COLUMN trust_reason;
  `);
}
