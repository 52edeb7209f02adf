import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { catalogs } from '../../scripts/catalog.ts';
import { schemaDrift } from '../../kernel/storage/drift.ts';
import { defineEntity, p } from '../../kernel/index.ts';
import type { Migration, PluginDefinition } from '../../kernel/index.ts';
import pino from 'pino';
import type { Knex } from '@mikro-orm/knex';
import { testDatabases } from '../helpers/databases.ts';
import { openOrm } from '../../kernel/storage/orm.ts';
import { toEntitySchema } from '../../kernel/storage/schema.ts';
import { Migrator } from '../../kernel/storage/migrations.ts';

/** Each plugin's migrations, run on a scratch SQLite, build exactly the schema its entities declare. */
const s = suite('storage: entities and migrations agree');

for (const [name, plugin] of Object.entries(catalogs.plugins) as Array<[string, PluginDefinition]>) {
  if (!plugin.entities?.length && !plugin.migrations?.length) continue;
  s(`${name}: its migrations produce the schema its entities declare`, async () => {
    const drift = await schemaDrift(name, plugin.entities ?? [], plugin.migrations ?? []);
    assert.is(
      drift,
      '',
      `${name}'s entities and migrations disagree; \`npm run cli -- migrate create --plugin ${name}\` ` +
        `writes the migration that closes the gap:\n${drift}`,
    );
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

/** With DATABASE_URL: the same agreement on PostgreSQL (MikroORM's diff against the migrated database there). */
for (const make of (await testDatabases('storage: entities and migrations agree')).slice(1, 2)) {
  const pgSuite = suite('storage: entities and migrations agree on postgresql');
  for (const [name, plugin] of Object.entries(catalogs.plugins) as Array<[string, PluginDefinition]>) {
    if (!plugin.entities?.length && !plugin.migrations?.length) continue;
    pgSuite(`${name}: no difference on postgresql`, async () => {
      const db = await make();
      if (db.driver !== 'postgresql') return void (await db.drop());
      const config = { driver: db.driver, url: db.url, migrate: 'off', debug: false, poolMax: 2 } as const;
      const orm = await openOrm(
        config,
        (plugin.entities ?? []).map((e) => toEntitySchema(e, 'postgresql')),
        pino({ level: 'silent' }),
      );
      try {
        const knex = (orm.em as unknown as { getConnection(): { getKnex(): Knex } }).getConnection().getKnex();
        await new Migrator(knex, [{ name, migrations: plugin.migrations ?? [] }]).up();
        const drift = await orm.getSchemaGenerator().getUpdateSchemaSQL({ wrap: false, dropTables: false } as never);
        assert.is(drift.trim(), '', drift);
      } finally {
        await orm.close(true);
        await db.drop();
      }
    });
  }
  pgSuite.run();
}
