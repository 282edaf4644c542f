import type { Knex } from 'knex';

// The admin area: admins' sessions (as the portal's, with a second-factor step), their optional
// TOTP second factor with one-time recovery codes, and who did what in events.
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE admin_sessions (
      id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      -- sha256 of the cookie's secret
      token_hash    bytea NOT NULL CHECK (length(token_hash) = 32),
      -- CASCADE: an agent's sessions go with it
      agent_id      bigint NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
      -- the password was right and the second factor is still to come: such a session opens
      -- nothing but the code page, and only for a few minutes
      second_factor_pending boolean NOT NULL DEFAULT false,
      -- wrong codes given in this session; too many end it
      code_failures integer NOT NULL DEFAULT 0,
      created_at    timestamptz NOT NULL DEFAULT now(),
      last_seen_at  timestamptz NOT NULL DEFAULT now(),
      expires_at    timestamptz NOT NULL,
      ended_at      timestamptz,
      ip            text,
      user_agent    text
    );
    CREATE UNIQUE INDEX admin_sessions_hash_key ON admin_sessions (token_hash);
    CREATE INDEX admin_sessions_agent_idx ON admin_sessions (agent_id) WHERE ended_at IS NULL;

    -- TOTP (RFC 6238): the secret is sealed with a server key (AES-256-GCM), so the table alone
    -- does not hand out second factors; totp_enabled_at is null while it is being set up.
    -- totp_last_step: the time step of the last code accepted, so a code works once.
    ALTER TABLE agents
      ADD COLUMN totp_secret text,
      ADD COLUMN totp_enabled_at timestamptz,
      ADD COLUMN totp_last_step bigint;

    CREATE TABLE agent_recovery_codes (
      id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      agent_id   bigint NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
      -- sha256 of the code; the code is shown once
      code_hash  bytea NOT NULL CHECK (length(code_hash) = 32),
      used_at    timestamptz,
      created_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE UNIQUE INDEX agent_recovery_codes_key ON agent_recovery_codes (agent_id, code_hash);

    -- An agent disabled, or no longer an admin, is signed out of the admin area at once, however
    -- the change is made (the API, the command line, SQL by hand): enabling or promoting them
    -- again revives no old session.
    CREATE FUNCTION end_admin_sessions() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      UPDATE admin_sessions SET ended_at = now() WHERE agent_id = NEW.id AND ended_at IS NULL;
      RETURN NEW;
    END $$;
    CREATE TRIGGER agents_end_admin_sessions AFTER UPDATE OF disabled, role ON agents
      FOR EACH ROW WHEN ((NEW.disabled AND NOT OLD.disabled) OR (OLD.role = 'admin' AND NEW.role <> 'admin'))
      EXECUTE FUNCTION end_admin_sessions();

    -- who did it, for events that a person in the admin area did (SET NULL: the log outlives them)
    ALTER TABLE events ADD COLUMN agent_id bigint REFERENCES agents (id) ON DELETE SET NULL;
    CREATE INDEX events_agent_idx ON events (id) WHERE agent_id IS NOT NULL;
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    DROP INDEX events_agent_idx;
    ALTER TABLE events DROP COLUMN agent_id;
    DROP TRIGGER agents_end_admin_sessions ON agents;
    DROP FUNCTION end_admin_sessions();
    DROP TABLE agent_recovery_codes, admin_sessions;
    ALTER TABLE agents DROP COLUMN totp_secret, DROP COLUMN totp_enabled_at, DROP COLUMN totp_last_step;
  `);
}
