import type { Knex } from 'knex';

// The status rule (src/tickets/status.ts): closed_at is when a ticket left the agents' work, set
// for resolved tickets too. Tickets resolved before the rule had none; their last change is the
// best evidence of when that was, so a late reply to them opens a linked ticket as it should.
// The constraint keeps every way in to the rule.
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    UPDATE tickets SET closed_at = updated_at
     WHERE status IN ('resolved', 'closed') AND closed_at IS NULL;
    ALTER TABLE tickets ADD CONSTRAINT tickets_closed_at_check
      CHECK ((status IN ('resolved', 'closed')) = (closed_at IS NOT NULL));
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('ALTER TABLE tickets DROP CONSTRAINT tickets_closed_at_check');
}
