import type { Migration } from '../../kernel/index.ts';
import { generated } from './migrations/index.ts';

const handWritten: Migration[] = [
  {
    name: '0001_create_model_overrides',
    async up(knex) {
      await knex.schema.createTable('ai_model_overrides', (t) => {
        t.string('id', 36).primary();
        t.string('model_id', 100).notNullable().unique();
        t.jsonb('data').notNullable();
        t.string('updated_by', 36).nullable();
        t.datetime('updated_at').notNullable();
      });
    },
    async down(knex) {
      await knex.schema.dropTable('ai_model_overrides');
    },
  },
];

/** The first table was written by hand (before `migrate create`); the rest are generated. */
export const migrations: Migration[] = [...handWritten, ...generated];
