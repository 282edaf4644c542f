import type { Knex } from 'knex';

// Customers, companies and tickets: what inbound processing turns stored mail into.
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE companies (
      id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      name                text NOT NULL,
      -- defaults for the portal permissions of this company's customers (portal work)
      portal_permissions  jsonb NOT NULL DEFAULT '{}'::jsonb,
      created_at          timestamptz NOT NULL DEFAULT now()
    );

    CREATE TABLE company_domains (
      -- lower-case; a domain belongs to one company. CASCADE: a company's domains go with it
      domain      text PRIMARY KEY CHECK (domain = lower(domain) AND domain LIKE '%_._%'),
      company_id  bigint NOT NULL REFERENCES companies (id) ON DELETE CASCADE
    );
    -- a company's domains, for listings
    CREATE INDEX company_domains_company_idx ON company_domains (company_id);

    CREATE TABLE customers (
      id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      name                text NOT NULL,
      -- SET NULL: deleting a company keeps its customers, without a company
      company_id          bigint REFERENCES companies (id) ON DELETE SET NULL,
      -- 'manual': chosen by hand, never changed by domain matching; 'domain': matched by address
      company_source      text CHECK (company_source IN ('manual', 'domain')),
      phone               text,
      portal_permissions  jsonb NOT NULL DEFAULT '{}'::jsonb,
      created_at          timestamptz NOT NULL DEFAULT now(),
      updated_at          timestamptz NOT NULL DEFAULT now()
    );
    -- a company's customers
    CREATE INDEX customers_company_idx ON customers (company_id);

    CREATE TABLE customer_emails (
      id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      -- CASCADE: a customer's addresses go with it
      customer_id  bigint NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
      address      text NOT NULL CHECK (address = lower(btrim(address)) AND address LIKE '%_@_%'),
      is_primary   boolean NOT NULL DEFAULT false,
      created_at   timestamptz NOT NULL DEFAULT now()
    );
    -- an address belongs to one customer; the lookup of every inbound sender
    CREATE UNIQUE INDEX customer_emails_address_key ON customer_emails (address);
    -- one primary address per customer
    CREATE UNIQUE INDEX customer_emails_primary_key ON customer_emails (customer_id) WHERE is_primary;
    -- a customer's addresses
    CREATE INDEX customer_emails_customer_idx ON customer_emails (customer_id);

    -- ticket numbers are per inbox: the next one is taken under the inbox row's lock
    ALTER TABLE inboxes ADD COLUMN next_ticket_number integer NOT NULL DEFAULT 1;

    CREATE TABLE tickets (
      id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      -- RESTRICT: an inbox with tickets is disabled, not deleted
      inbox_id         bigint NOT NULL REFERENCES inboxes (id) ON DELETE RESTRICT,
      number           integer NOT NULL,
      -- SET NULL: deleting a customer keeps their tickets
      requester_id     bigint REFERENCES customers (id) ON DELETE SET NULL,
      company_id       bigint REFERENCES companies (id) ON DELETE SET NULL,
      subject          text NOT NULL DEFAULT '',
      status           text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'pending', 'resolved', 'closed')),
      priority         text NOT NULL DEFAULT 'normal' CHECK (priority IN ('low', 'normal', 'high', 'urgent')),
      type             text,
      tags             text[] NOT NULL DEFAULT '{}',
      assignee_id      bigint,
      -- the secret in support+<token>@ reply addresses: threads a reply to this ticket
      reply_token      text NOT NULL UNIQUE,
      -- a reply to a long-closed ticket opens a new one linked to it. SET NULL: history stays readable
      previous_ticket_id bigint REFERENCES tickets (id) ON DELETE SET NULL,
      -- set when a customer's mail failed DMARC: an agent should look before trusting it
      needs_review     boolean NOT NULL DEFAULT false,
      created_at       timestamptz NOT NULL DEFAULT now(),
      updated_at       timestamptz NOT NULL DEFAULT now(),
      last_message_at  timestamptz NOT NULL DEFAULT now(),
      closed_at        timestamptz
    );
    CREATE UNIQUE INDEX tickets_inbox_number_key ON tickets (inbox_id, number);
    -- a customer's history, newest first
    CREATE INDEX tickets_requester_idx ON tickets (requester_id, created_at DESC);
    -- a company's tickets
    CREATE INDEX tickets_company_idx ON tickets (company_id, created_at DESC);
    -- listings by status
    CREATE INDEX tickets_status_idx ON tickets (status, last_message_at DESC);

    CREATE TABLE ticket_followers (
      -- CASCADE both ways: a follower row means nothing without its ticket or customer
      ticket_id    bigint NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
      customer_id  bigint NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
      created_at   timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (ticket_id, customer_id)
    );
    -- the tickets a customer follows
    CREATE INDEX ticket_followers_customer_idx ON ticket_followers (customer_id);

    CREATE TABLE messages (
      id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      -- CASCADE: a ticket's messages go with it
      ticket_id           bigint NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
      -- one message per stored mail, whatever retries or reprocessing happen. RESTRICT: raw mail is kept
      raw_message_id      bigint UNIQUE REFERENCES raw_messages (id) ON DELETE RESTRICT,
      direction           text NOT NULL CHECK (direction IN ('inbound', 'outbound')),
      author_type         text NOT NULL CHECK (author_type IN ('customer', 'agent', 'system')),
      -- SET NULL: deleting a customer keeps the conversation
      author_customer_id  bigint REFERENCES customers (id) ON DELETE SET NULL,
      internal            boolean NOT NULL DEFAULT false,
      message_id          text,
      in_reply_to         text,
      "references"        text[] NOT NULL DEFAULT '{}',
      subject             text NOT NULL DEFAULT '',
      from_address        text,
      from_name           text,
      to_addresses        text[] NOT NULL DEFAULT '{}',
      cc_addresses        text[] NOT NULL DEFAULT '{}',
      sent_at             timestamptz,
      text                text NOT NULL DEFAULT '',
      html                text,
      visible_text        text NOT NULL DEFAULT '',
      -- normal | auto-reply | bulk (see src/inbound/classify.ts)
      classification      text NOT NULL DEFAULT 'normal',
      classification_reasons text[] NOT NULL DEFAULT '{}',
      -- SPF/DKIM/DMARC verdicts as checked on arrival
      auth                jsonb,
      untrusted_from      boolean NOT NULL DEFAULT false,
      created_at          timestamptz NOT NULL DEFAULT now()
    );
    -- a ticket's conversation in order
    CREATE INDEX messages_ticket_idx ON messages (ticket_id, id);
    -- threading by In-Reply-To / References
    CREATE INDEX messages_message_id_idx ON messages (message_id) WHERE message_id IS NOT NULL;

    -- attachment bytes, stored once whatever the number of mails that carry them
    CREATE TABLE attachments (
      sha256   bytea PRIMARY KEY CHECK (length(sha256) = 32),
      size     integer NOT NULL,
      content  bytea NOT NULL
    );

    CREATE TABLE message_attachments (
      id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      -- CASCADE: goes with its message. RESTRICT: bytes outlive any one message
      message_id    bigint NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
      sha256        bytea NOT NULL REFERENCES attachments (sha256) ON DELETE RESTRICT,
      filename      text,
      content_type  text NOT NULL,
      content_id    text,
      inline        boolean NOT NULL DEFAULT false,
      position      integer NOT NULL
    );
    -- a message's attachments
    CREATE INDEX message_attachments_message_idx ON message_attachments (message_id, position);

    -- what Inbound sent (the outbound worker fills it); bounces find their message here
    CREATE TABLE outbound_messages (
      id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      kind          text NOT NULL,
      -- SET NULL: the record of what was sent outlives the ticket
      ticket_id     bigint REFERENCES tickets (id) ON DELETE SET NULL,
      recipient     text NOT NULL,
      message_id    text UNIQUE,
      -- the token in our VERP return path bounces+<token>@...
      verp_token    text UNIQUE,
      status        text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'sent', 'failed', 'bounced', 'suppressed')),
      attempts      integer NOT NULL DEFAULT 0,
      last_error    text,
      created_at    timestamptz NOT NULL DEFAULT now(),
      sent_at       timestamptz,
      bounced_at    timestamptz
    );

    -- addresses we no longer send to (hard bounces, complaints)
    CREATE TABLE suppressions (
      address     text PRIMARY KEY CHECK (address = lower(address)),
      reason      text NOT NULL,
      -- SET NULL: the suppression stays if the outbound record goes
      outbound_id bigint REFERENCES outbound_messages (id) ON DELETE SET NULL,
      created_at  timestamptz NOT NULL DEFAULT now()
    );

    -- the audit log and customer history
    CREATE TABLE events (
      id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      type         text NOT NULL,
      -- SET NULL both: the log outlives what it speaks of
      ticket_id    bigint REFERENCES tickets (id) ON DELETE SET NULL,
      customer_id  bigint REFERENCES customers (id) ON DELETE SET NULL,
      data         jsonb NOT NULL DEFAULT '{}'::jsonb,
      created_at   timestamptz NOT NULL DEFAULT now()
    );
    -- a ticket's and a customer's history
    CREATE INDEX events_ticket_idx ON events (ticket_id, id) WHERE ticket_id IS NOT NULL;
    CREATE INDEX events_customer_idx ON events (customer_id, id) WHERE customer_id IS NOT NULL;

    -- what processing made of a stored mail: ticket, reply, bounce, auto-reply, ...
    ALTER TABLE raw_messages ADD COLUMN outcome text;
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    ALTER TABLE raw_messages DROP COLUMN outcome;
    DROP TABLE events, suppressions, outbound_messages, message_attachments, attachments, messages,
               ticket_followers, tickets, customer_emails, customers, company_domains, companies;
    ALTER TABLE inboxes DROP COLUMN next_ticket_number;
  `);
}
