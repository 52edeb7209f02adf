import type { Migration } from '../../kernel/index.ts';

export const migrations: Migration[] = [
  {
    name: '0001_identity',
    async up(knex) {
      await knex.schema.createTable('identity_users', (t) => {
        t.string('id', 36).primary();
        t.string('email', 320).notNullable().unique();
        t.string('name', 200).notNullable();
        t.string('password_hash', 200).notNullable();
        t.string('role', 50).notNullable().index();
        t.string('status', 20).notNullable().index();
        t.boolean('email_verified').notNullable();
        t.boolean('mfa_enabled').notNullable();
        t.string('mfa_secret', 200).nullable();
        t.bigInteger('mfa_last_step').nullable();
        t.string('tier', 50).notNullable();
        t.json('settings').notNullable();
        t.datetime('created_at').notNullable();
        t.datetime('updated_at').notNullable();
      });
      await knex.schema.createTable('identity_sessions', (t) => {
        t.string('id', 36).primary();
        t.string('user_id', 36).notNullable().index();
        t.string('user_agent', 500).nullable();
        t.string('ip', 64).nullable();
        t.datetime('created_at').notNullable();
        t.datetime('last_used_at').notNullable();
        t.datetime('expires_at').notNullable();
        t.datetime('revoked_at').nullable();
        t.string('impersonator_id', 36).nullable();
      });
      await knex.schema.createTable('identity_refresh_tokens', (t) => {
        t.string('id', 36).primary();
        t.string('session_id', 36).notNullable().index();
        t.string('hash', 64).notNullable().unique();
        t.datetime('used_at').nullable();
        t.datetime('expires_at').notNullable();
        t.datetime('created_at').notNullable();
      });
      await knex.schema.createTable('identity_api_keys', (t) => {
        t.string('id', 36).primary();
        t.string('user_id', 36).notNullable().index();
        t.string('name', 100).notNullable();
        t.string('start', 40).notNullable();
        t.string('hash', 64).notNullable().unique();
        t.json('scopes').notNullable();
        t.string('mode', 10).notNullable();
        t.datetime('expires_at').nullable();
        t.datetime('last_used_at').nullable();
        t.datetime('revoked_at').nullable();
        t.json('rate_limit').nullable();
        t.datetime('created_at').notNullable();
      });
      await knex.schema.createTable('identity_signing_keys', (t) => {
        t.string('id', 36).primary();
        t.string('kid', 64).notNullable().unique();
        t.json('private_jwk').notNullable();
        t.json('public_jwk').notNullable();
        t.datetime('created_at').notNullable();
        t.datetime('retired_at').nullable();
      });
      await knex.schema.createTable('identity_audit_log', (t) => {
        t.string('id', 36).primary();
        t.string('actor_id', 36).nullable().index();
        t.string('action', 100).notNullable().index();
        t.string('target_type', 50).nullable();
        t.string('target_id', 100).nullable().index();
        t.string('ip', 64).nullable();
        t.string('user_agent', 500).nullable();
        t.json('old_values').nullable();
        t.json('new_values').nullable();
        t.datetime('created_at').notNullable().index();
      });
      await knex.schema.createTable('identity_one_time_tokens', (t) => {
        t.string('id', 36).primary();
        t.string('user_id', 36).notNullable().index();
        t.string('purpose', 30).notNullable();
        t.string('hash', 64).notNullable().unique();
        t.json('data').nullable();
        t.datetime('expires_at').notNullable();
        t.datetime('used_at').nullable();
        t.datetime('created_at').notNullable();
      });
      await knex.schema.createTable('identity_roles', (t) => {
        t.string('id', 36).primary();
        t.string('name', 50).notNullable().unique();
        t.integer('level').notNullable();
        t.json('permissions').notNullable();
        t.string('description', 500).notNullable();
        t.datetime('created_at').notNullable();
      });
    },
    async down(knex) {
      for (const table of [
        'identity_roles',
        'identity_one_time_tokens',
        'identity_audit_log',
        'identity_signing_keys',
        'identity_api_keys',
        'identity_refresh_tokens',
        'identity_sessions',
        'identity_users',
      ]) {
        await knex.schema.dropTable(table);
      }
    },
  },
  {
    name: '0002_session_mfa_at',
    async up(knex) {
      await knex.schema.alterTable('identity_sessions', (t) => {
        t.datetime('mfa_at').nullable();
      });
    },
    async down(knex) {
      await knex.schema.alterTable('identity_sessions', (t) => {
        t.dropColumn('mfa_at');
      });
    },
  },
  {
    // Sealed TOTP seeds (envelope encryption) are longer than 200 characters with long KEK ids.
    // SQLite does not enforce varchar lengths; PostgreSQL gets a text column.
    name: '0003_mfa_secret_sealed',
    async up(knex) {
      if (!isPostgres(knex)) return;
      await knex.schema.alterTable('identity_users', (t) => { t.text('mfa_secret').nullable().alter(); });
    },
    async down(knex) {
      if (!isPostgres(knex)) return;
      await knex.schema.alterTable('identity_users', (t) => { t.string('mfa_secret', 200).nullable().alter(); });
    },
  },
  {
    name: '0004_user_standing_pending_email',
    async up(knex) {
      await knex.schema.alterTable('identity_users', (t) => {
        t.integer('standing_version').notNullable().defaultTo(0);
        t.datetime('standing_changed_at').nullable().index();
        t.string('pending_email', 320).nullable();
      });
    },
    async down(knex) {
      await knex.schema.alterTable('identity_users', (t) => {
        t.dropColumn('pending_email');
        t.dropIndex(['standing_changed_at']);
        t.dropColumn('standing_changed_at');
        t.dropColumn('standing_version');
      });
    },
  },
  {
    name: '0005_audit_impersonator',
    async up(knex) {
      await knex.schema.alterTable('identity_audit_log', (t) => {
        t.string('impersonator_id', 36).nullable();
      });
    },
    async down(knex) {
      await knex.schema.alterTable('identity_audit_log', (t) => {
        t.dropColumn('impersonator_id');
      });
    },
  },
];

function isPostgres(knex: { client: { config?: { client?: unknown } } }): boolean {
  return /pg|postgres/i.test(String(knex.client.config?.client ?? ''));
}
