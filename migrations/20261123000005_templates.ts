import type { Knex } from 'knex';

// Admin overrides of the mail templates. The defaults live in templates/mail and are not stored;
// a row here exists once an admin saved a version for a (name, locale). Versions are immutable:
// a cache keyed by (name, locale, version) never needs invalidating, and publishing an older
// version is a rollback.
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE templates (
      id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      name               text NOT NULL,
      -- 'en', 'de', 'de-at': lower-case language with an optional region ({0,1}: knex.raw reads ? as a binding)
      locale             text NOT NULL CHECK (locale ~ '^[a-z]{2}(-[a-z]{2}){0,1}$'),
      -- NULL: the default from templates/mail is in use
      published_version  integer,
      created_at         timestamptz NOT NULL DEFAULT now(),
      updated_at         timestamptz NOT NULL DEFAULT now()
    );
    -- one row per template and locale; also the renderer's lookup
    CREATE UNIQUE INDEX templates_name_locale_key ON templates (name, locale);

    CREATE TABLE template_versions (
      id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      -- CASCADE: a template's versions go with it
      template_id  bigint NOT NULL REFERENCES templates (id) ON DELETE CASCADE,
      version      integer NOT NULL CHECK (version > 0),
      subject      text NOT NULL,
      -- MJML with the template tags of src/templates/syntax.ts
      mjml         text NOT NULL,
      text         text NOT NULL,
      -- the agent who saved it. SET NULL: a version outlives the agent who wrote it
      author_id    bigint REFERENCES agents (id) ON DELETE SET NULL,
      created_at   timestamptz NOT NULL DEFAULT now()
    );
    -- versions count up per template; also serves "the versions of a template, newest first"
    CREATE UNIQUE INDEX template_versions_template_version_key ON template_versions (template_id, version);

    -- the published version must be one of the template's own versions. NO ACTION: a published
    -- version cannot be deleted on its own, but deleting the template (which cascades to its
    -- versions) passes, as the check runs at the end of the statement
    ALTER TABLE templates ADD CONSTRAINT templates_published_version_fkey
      FOREIGN KEY (id, published_version) REFERENCES template_versions (template_id, version) ON DELETE NO ACTION;
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    ALTER TABLE templates DROP CONSTRAINT templates_published_version_fkey;
    DROP TABLE template_versions;
    DROP TABLE templates;
  `);
}
