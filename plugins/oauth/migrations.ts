import type { Migration } from '../../kernel/index.ts';

/** SQL schema of the OAuth entities (knex's builder: one migration for SQLite and PostgreSQL). */
export const migrations: Migration[] = [
  {
    name: '0001_oauth',
    async up(knex) {
      await knex.schema.createTable('oauth_clients', (t) => {
        t.string('id', 36).primary();
        t.string('owner_id', 36).notNullable().index();
        t.string('name', 100).notNullable();
        t.string('type', 20).notNullable();
        t.string('secret_hash', 64).nullable();
        t.json('redirect_uris').notNullable();
        t.json('scopes').notNullable();
        t.datetime('created_at').notNullable();
        t.datetime('updated_at').notNullable();
      });
      await knex.schema.createTable('oauth_grants', (t) => {
        t.string('id', 36).primary();
        t.string('client_id', 36).notNullable().index();
        t.string('user_id', 36).notNullable().index();
        t.text('scope').notNullable();
        t.string('redirect_uri', 2000).notNullable();
        t.string('code_hash', 64).notNullable().unique();
        t.string('code_challenge', 64).notNullable();
        t.datetime('code_expires_at').notNullable();
        t.datetime('code_used_at').nullable();
        t.datetime('revoked_at').nullable();
        t.datetime('created_at').notNullable();
      });
      await knex.schema.createTable('oauth_refresh_tokens', (t) => {
        t.string('id', 36).primary();
        t.string('grant_id', 36).notNullable().index();
        t.string('client_id', 36).notNullable().index();
        t.string('user_id', 36).notNullable();
        t.string('hash', 64).notNullable().unique();
        t.datetime('used_at').nullable();
        t.datetime('expires_at').notNullable();
        t.datetime('created_at').notNullable();
      });
      await knex.schema.createTable('oauth_access_tokens', (t) => {
        t.string('id', 36).primary();
        t.string('jti', 64).notNullable().unique();
        t.string('client_id', 36).notNullable().index();
        t.string('user_id', 36).nullable();
        t.string('grant_id', 36).nullable().index();
        t.datetime('expires_at').notNullable();
        t.datetime('created_at').notNullable();
      });
    },
    async down(knex) {
      for (const table of ['oauth_access_tokens', 'oauth_refresh_tokens', 'oauth_grants', 'oauth_clients'])
        await knex.schema.dropTable(table);
    },
  },
];
