import type { Knex } from 'knex';

// The admin template editor: one draft per template and locale, edited and previewed before it
// is published as a version; rollbacks that append a copy of an older version instead of moving
// the pointer back (the history only grows); and test mails of a template being edited.
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    -- a rollback is a new version copied from an older one: this names the one it copied
    ALTER TABLE template_versions ADD COLUMN rolled_back_from integer CHECK (rolled_back_from > 0);
    -- the version copied is one of the same template's. NO ACTION: versions are never deleted on
    -- their own; deleting the template cascades to all of them within one statement
    ALTER TABLE template_versions ADD CONSTRAINT template_versions_rolled_back_from_fkey
      FOREIGN KEY (template_id, rolled_back_from) REFERENCES template_versions (template_id, version) ON DELETE NO ACTION;

    -- Keyed by name and locale, not by a templates row: a draft of a template that has no stored
    -- version yet (or a locale that is not shipped) needs no templates row until it is published.
    CREATE TABLE template_drafts (
      id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      name            text NOT NULL,
      -- as templates.locale ({0,1}: knex.raw reads ? as a binding)
      locale          text NOT NULL CHECK (locale ~ '^[a-z]{2}(-[a-z]{2}){0,1}$'),
      subject         text NOT NULL,
      mjml            text NOT NULL,
      text            text NOT NULL,
      -- who saved it last. SET NULL: a draft outlives the agent who wrote it
      author_id       bigint REFERENCES agents (id) ON DELETE SET NULL,
      -- sha256 of the content as last previewed (src/templates/drafts.ts contentHash); publishing
      -- needs it to equal the hash of the content stored
      previewed_hash  bytea CHECK (length(previewed_hash) = 32),
      created_at      timestamptz NOT NULL DEFAULT now(),
      updated_at      timestamptz NOT NULL DEFAULT now()
    );
    -- one draft per template and locale; also the editor's lookup
    CREATE UNIQUE INDEX template_drafts_name_locale_key ON template_drafts (name, locale);

    -- A test mail of a template being edited: the source and the variables it is rendered with,
    -- beside its outbound_messages row (kind template_test). outbound_messages.message_ref names
    -- messages, so the test names its outbound row instead.
    CREATE TABLE template_test_mails (
      -- CASCADE: the test's content goes with its outbound record
      outbound_id  bigint PRIMARY KEY REFERENCES outbound_messages (id) ON DELETE CASCADE,
      name         text NOT NULL,
      locale       text NOT NULL,
      subject      text NOT NULL,
      mjml         text NOT NULL,
      text         text NOT NULL,
      vars         jsonb NOT NULL,
      -- the admin who asked for it. SET NULL: the record outlives the agent
      agent_id     bigint REFERENCES agents (id) ON DELETE SET NULL,
      created_at   timestamptz NOT NULL DEFAULT now()
    );
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    DROP TABLE template_test_mails;
    DROP TABLE template_drafts;
    ALTER TABLE template_versions DROP CONSTRAINT template_versions_rolled_back_from_fkey;
    ALTER TABLE template_versions DROP COLUMN rolled_back_from;
  `);
}
