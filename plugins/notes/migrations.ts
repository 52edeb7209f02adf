import type { Migration } from '../../kernel/index.ts';

/** SQL schema for the notes entities; knex's builder keeps it portable across SQLite and PostgreSQL. */
export const migrations: Migration[] = [
  {
    name: '0001_create_notes',
    async up(knex) {
      await knex.schema.createTable('notes_notes', (t) => {
        t.string('id', 36).primary();
        t.string('title', 200).notNullable();
        t.text('body').notNullable();
        t.boolean('pinned').notNullable().defaultTo(false);
        t.datetime('created_at').notNullable();
        t.datetime('updated_at').notNullable();
      });
    },
    async down(knex) {
      await knex.schema.dropTable('notes_notes');
    },
  },
  {
    name: '0002_create_activity',
    async up(knex) {
      await knex.schema.createTable('notes_activity', (t) => {
        t.string('id', 36).primary();
        t.string('note_id', 36).notNullable().index();
        t.string('event_id', 36).notNullable().unique();
        t.string('action', 50).notNullable();
        t.integer('deliveries').notNullable();
        t.datetime('occurred_at').notNullable();
      });
    },
    async down(knex) {
      await knex.schema.dropTable('notes_activity');
    },
  },
  {
    // Notes written before notes were owned keep a null owner: nobody sees them.
    name: '0003_note_owner',
    async up(knex) {
      await knex.schema.alterTable('notes_notes', (t) => {
        t.string('owner_id', 36).nullable().index();
      });
    },
    async down(knex) {
      await knex.schema.alterTable('notes_notes', (t) => {
        t.dropIndex(['owner_id']);
        t.dropColumn('owner_id');
      });
    },
  },
];
