import type { Knex } from 'knex';

// Agents and their API tokens, single-purpose tokens (password links, later magic links and
// sessions), and what the customer directory needs: unique company names (a CSV names its
// company) and the portal state of a customer.
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE agents (
      id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      name           text NOT NULL,
      email          text NOT NULL CHECK (email = lower(btrim(email)) AND email LIKE '%_@_%'),
      role           text NOT NULL CHECK (role IN ('admin', 'agent')),
      -- scrypt, self-describing ("scrypt$N$r$p$salt$hash"); null until the agent sets one
      password_hash  text,
      disabled       boolean NOT NULL DEFAULT false,
      created_at     timestamptz NOT NULL DEFAULT now(),
      last_sign_in_at timestamptz
    );
    -- one agent per address; the sign-in lookup
    CREATE UNIQUE INDEX agents_email_key ON agents (email);

    CREATE TABLE api_tokens (
      id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      -- CASCADE: an agent's tokens go with it
      agent_id      bigint NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
      name          text NOT NULL DEFAULT '',
      -- sha256 of the secret; the secret itself is shown once and never stored
      token_hash    bytea NOT NULL CHECK (length(token_hash) = 32),
      -- the secret's first characters, so an agent can tell tokens apart in a listing
      prefix        text NOT NULL,
      created_at    timestamptz NOT NULL DEFAULT now(),
      last_used_at  timestamptz,
      revoked_at    timestamptz
    );
    -- the lookup of every API request
    CREATE UNIQUE INDEX api_tokens_hash_key ON api_tokens (token_hash);
    CREATE INDEX api_tokens_agent_idx ON api_tokens (agent_id);

    -- A token grants one purpose to one subject until it expires, is used (single-use purposes)
    -- or is revoked. Only the hash of the secret is stored.
    CREATE TABLE tokens (
      id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      purpose      text NOT NULL CHECK (purpose IN ('ticket_link', 'password_set', 'session', 'signup')),
      token_hash   bytea NOT NULL CHECK (length(token_hash) = 32),
      -- the subject: exactly one of these. CASCADE: a token means nothing without its subject
      agent_id     bigint REFERENCES agents (id) ON DELETE CASCADE,
      customer_id  bigint REFERENCES customers (id) ON DELETE CASCADE,
      ticket_id    bigint REFERENCES tickets (id) ON DELETE CASCADE,
      CHECK (num_nonnulls(agent_id, customer_id, ticket_id) = 1),
      expires_at   timestamptz NOT NULL,
      used_at      timestamptz,
      revoked_at   timestamptz,
      created_at   timestamptz NOT NULL DEFAULT now()
    );
    -- the lookup of every link followed
    CREATE UNIQUE INDEX tokens_hash_key ON tokens (token_hash);
    -- revoking a subject's tokens
    CREATE INDEX tokens_agent_idx ON tokens (agent_id) WHERE agent_id IS NOT NULL;
    CREATE INDEX tokens_customer_idx ON tokens (customer_id) WHERE customer_id IS NOT NULL;
    CREATE INDEX tokens_ticket_idx ON tokens (ticket_id) WHERE ticket_id IS NOT NULL;

    -- a CSV names a customer's company: names are unique whatever their case
    CREATE UNIQUE INDEX companies_name_key ON companies (lower(name));

    -- the portal account of a customer: none until invited or welcomed
    ALTER TABLE customers
      ADD COLUMN portal_status text NOT NULL DEFAULT 'none' CHECK (portal_status IN ('none', 'invited', 'active', 'disabled')),
      ADD COLUMN portal_password_hash text,
      ADD COLUMN last_sign_in_at timestamptz;
    -- the portal users export walks only customers with an account
    CREATE INDEX customers_portal_idx ON customers (id) WHERE portal_status <> 'none';

    -- what an outbound mail is about when it is not about a ticket (a portal welcome)
    ALTER TABLE outbound_messages
      -- SET NULL: the record of what was sent outlives the customer
      ADD COLUMN customer_id bigint REFERENCES customers (id) ON DELETE SET NULL;
    -- a ticket's assignee is an agent. SET NULL: a removed agent's tickets stay, unassigned
    ALTER TABLE tickets ADD CONSTRAINT tickets_assignee_fkey FOREIGN KEY (assignee_id) REFERENCES agents (id) ON DELETE SET NULL;
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    ALTER TABLE tickets DROP CONSTRAINT tickets_assignee_fkey;
    ALTER TABLE outbound_messages DROP COLUMN customer_id;
    ALTER TABLE customers DROP COLUMN portal_status, DROP COLUMN portal_password_hash, DROP COLUMN last_sign_in_at;
    DROP INDEX companies_name_key;
    DROP TABLE tokens, api_tokens, agents;
  `);
}
