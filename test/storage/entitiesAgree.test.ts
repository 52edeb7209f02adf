import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { catalogs } from '../../scripts/catalog.ts';
import { schemaDrift } from '../../kernel/storage/drift.ts';
import { defineEntity, p } from '../../kernel/index.ts';
import type { Migration, PluginDefinition } from '../../kernel/index.ts';

/** Each plugin's migrations, run on a scratch SQLite, build exactly the schema its entities declare. */
const s = suite('storage: entities and migrations agree');

for (const [name, plugin] of Object.entries(catalogs.plugins) as Array<[string, PluginDefinition]>) {
  if (!plugin.entities?.length && !plugin.migrations?.length) continue;
  s(`${name}: its migrations produce the schema its entities declare`, async () => {
    const drift = await schemaDrift(name, plugin.entities ?? [], plugin.migrations ?? []);
    assert.is(drift, '', `${name}'s entities and migrations disagree; \`npm run cli -- migrate create --plugin ${name}\` ` +
      `writes the migration that closes the gap:\n${drift}`);
  });
}

const Thing = defineEntity('Thing', {
  table: 'test_things',
  properties: { id: p.id(), name: p.string({ length: 50 }), size: p.integer({ nullable: true }) },
  indexes: [{ properties: ['name'] }],
});
const createThings: Migration = {
  name: '0001_things',
  async up(knex) {
    await knex.schema.createTable('test_things', (t) => {
      t.string('id', 36).primary();
      t.string('name', 50).notNullable().index();
    });
  },
  async down(knex) { await knex.schema.dropTable('test_things'); },
};

s('a property no migration adds is reported, with its column', async () => {
  const drift = await schemaDrift('test', [Thing], [createThings]);
  assert.match(drift, /`size`/);
});

s('an index the entity declares and no migration creates is reported', async () => {
  const unindexed: Migration = { ...createThings, async up(knex) {
    await knex.schema.createTable('test_things', (t) => {
      t.string('id', 36).primary();
      t.string('name', 50).notNullable();
      t.integer('size').nullable();
    });
  } };
  assert.match(await schemaDrift('test', [Thing], [unindexed]), /create index `test_things_name_index`/);
});

s.run();
