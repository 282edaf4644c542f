import type { Knex } from 'knex';

// The customer portal: its sessions, the help articles it shows, its settings and branding, the
// single-use link that signs a customer in by mail, and sign-up links that name an address.
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    -- A signed-in customer. The cookie holds a secret; only its sha256 is kept. A session ends at
    -- sign-out, on a password change or deactivation (every session of the customer at once), after
    -- an idle time (last_seen_at) and at its absolute expiry.
    CREATE TABLE portal_sessions (
      id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      token_hash    bytea NOT NULL CHECK (length(token_hash) = 32),
      customer_id   bigint NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
      created_at    timestamptz NOT NULL DEFAULT now(),
      last_seen_at  timestamptz NOT NULL DEFAULT now(),
      expires_at    timestamptz NOT NULL,
      ended_at      timestamptz,
      -- what the customer sees in their list of sessions
      ip            text,
      user_agent    text CHECK (length(user_agent) <= 512)
    );
    CREATE UNIQUE INDEX portal_sessions_hash_key ON portal_sessions (token_hash);
    CREATE INDEX portal_sessions_customer_idx ON portal_sessions (customer_id) WHERE ended_at IS NULL;

    -- sign_in: the link of "email me a sign-in link" (15 minutes, single use, spent by a POST)
    ALTER TABLE tokens DROP CONSTRAINT tokens_purpose_check;
    ALTER TABLE tokens ADD CONSTRAINT tokens_purpose_check
      CHECK (purpose IN ('ticket_link', 'password_set', 'session', 'signup', 'sign_in'));

    -- A self sign-up link names the address it was mailed to, not a customer: nobody is made for an
    -- address until its owner opens the link (the customer is found or made then). Its address is
    -- normalised (trimmed, lower case); every other token names one agent, customer or ticket.
    ALTER TABLE tokens ADD COLUMN address text CHECK (length(address) BETWEEN 3 AND 320);
    ALTER TABLE tokens DROP CONSTRAINT tokens_subject_check;
    ALTER TABLE tokens ADD CONSTRAINT tokens_subject_check CHECK (
      (address IS NULL AND (
        num_nonnulls(agent_id, customer_id, ticket_id) = 1
        OR (purpose = 'ticket_link' AND agent_id IS NULL AND ticket_id IS NOT NULL AND customer_id IS NOT NULL)))
      OR (purpose = 'signup' AND address IS NOT NULL AND num_nonnulls(agent_id, customer_id, ticket_id) = 0)
    );
    -- revoking an address's other sign-up links once one is used
    CREATE INDEX tokens_address_idx ON tokens (address) WHERE address IS NOT NULL;

    -- Help articles, markdown, one locale each; searched with PostgreSQL's full-text search in the
    -- language of the article.
    CREATE TABLE help_articles (
      id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      locale        text NOT NULL DEFAULT 'en' CHECK (locale ~ '^[a-z]{2}(-[a-z]{2})\\?$'),
      title         text NOT NULL CHECK (length(title) BETWEEN 1 AND 300),
      body          text NOT NULL CHECK (length(body) <= 200000),
      published     boolean NOT NULL DEFAULT false,
      created_at    timestamptz NOT NULL DEFAULT now(),
      updated_at    timestamptz NOT NULL DEFAULT now(),
      search        tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector(CASE WHEN locale LIKE 'de%' THEN 'german'::regconfig ELSE 'english'::regconfig END, title), 'A') ||
        setweight(to_tsvector(CASE WHEN locale LIKE 'de%' THEN 'german'::regconfig ELSE 'english'::regconfig END, body), 'B')
      ) STORED
    );
    CREATE INDEX help_articles_search_idx ON help_articles USING gin (search);
    CREATE INDEX help_articles_locale_idx ON help_articles (locale, published);

    -- The portal's settings and branding: one row. The logo is kept here (small: size-checked).
    CREATE TABLE portal_settings (
      id          boolean PRIMARY KEY DEFAULT true CHECK (id),
      settings    jsonb NOT NULL DEFAULT '{}'::jsonb,
      logo        bytea CHECK (length(logo) <= 262144),
      logo_type   text CHECK (logo_type IN ('image/png', 'image/jpeg', 'image/gif', 'image/webp')),
      updated_at  timestamptz NOT NULL DEFAULT now()
    );
    INSERT INTO portal_settings DEFAULT VALUES;

    -- the portal's ticket lists: a customer's own, their company's, newest activity first
    CREATE INDEX tickets_requester_activity_idx ON tickets (requester_id, last_message_at DESC, id DESC);
    CREATE INDEX tickets_company_activity_idx ON tickets (company_id, last_message_at DESC, id DESC)
      WHERE company_id IS NOT NULL;
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    DROP INDEX tickets_company_activity_idx, tickets_requester_activity_idx;
    DROP TABLE portal_settings, help_articles, portal_sessions;
    DELETE FROM tokens WHERE purpose = 'sign_in' OR address IS NOT NULL;
    DROP INDEX tokens_address_idx;
    ALTER TABLE tokens DROP CONSTRAINT tokens_subject_check;
    ALTER TABLE tokens DROP COLUMN address;
    ALTER TABLE tokens ADD CONSTRAINT tokens_subject_check CHECK (
      num_nonnulls(agent_id, customer_id, ticket_id) = 1
      OR (purpose = 'ticket_link' AND agent_id IS NULL AND ticket_id IS NOT NULL AND customer_id IS NOT NULL)
    );
    ALTER TABLE tokens DROP CONSTRAINT tokens_purpose_check;
    ALTER TABLE tokens ADD CONSTRAINT tokens_purpose_check
      CHECK (purpose IN ('ticket_link', 'password_set', 'session', 'signup'));
  `);
}
