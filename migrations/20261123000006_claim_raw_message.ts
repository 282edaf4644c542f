import type { Knex } from 'knex';

// Claiming a stored mail for processing, as the first statement of the transaction that writes
// what the mail means. The worker sends a mail's statements and its COMMIT together, without
// waiting for answers in between, so "already processed" cannot be an empty result that the code
// looks at: it has to be an error, which aborts the transaction and turns the COMMIT into a
// rollback. Nothing of a mail is then ever written twice, whatever retries and reprocessing race.
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE FUNCTION claim_raw_message(raw_id bigint, result text) RETURNS void
    LANGUAGE plpgsql AS $$
    BEGIN
      UPDATE raw_messages
         SET status = 'processed', outcome = result, error = NULL, processed_at = now(), attempts = attempts + 1
       WHERE id = raw_id AND status NOT IN ('processed', 'duplicate');
      IF NOT FOUND THEN
        -- 'IB001': a code of our own, so the worker tells this apart from a real failure
        RAISE EXCEPTION 'raw message % is processed already (or unknown)', raw_id USING ERRCODE = 'IB001';
      END IF;
    END
    $$;
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP FUNCTION claim_raw_message(bigint, text)');
}
