import type { Knex } from 'knex';

// What the web role shares between its processes: keys (for CSRF tokens) and rate-limit counters,
// so every copy behind a load balancer agrees.
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE app_secrets (
      name        text PRIMARY KEY,
      value       bytea NOT NULL CHECK (length(value) >= 32),
      created_at  timestamptz NOT NULL DEFAULT now()
    );

    -- one row per key and fixed window; old windows are deleted by housekeeping
    CREATE TABLE rate_limits (
      key           text NOT NULL,
      window_start  timestamptz NOT NULL,
      count         integer NOT NULL,
      PRIMARY KEY (key, window_start)
    );
    -- housekeeping deletes old windows
    CREATE INDEX rate_limits_window_idx ON rate_limits (window_start);
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP TABLE rate_limits, app_secrets');
}
