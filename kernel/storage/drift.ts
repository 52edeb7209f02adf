import { MikroORM, type Options } from '@mikro-orm/core';
import { SchemaComparator, type SchemaDifference, type Knex } from '@mikro-orm/knex';
import type { EntitySpec } from './entity.ts';
import { Migrator, type Migration } from './migrations.ts';
import { toEntitySchema } from './schema.ts';

/** A scratch, in-memory SQLite database with `entities` known and `migrations` applied. */
export async function scratchSchema(
  plugin: string, entities: EntitySpec[], migrations: Migration[],
): Promise<MikroORM> {
  const { LibSqlDriver } = await import('@mikro-orm/libsql');
  const orm = await MikroORM.init({
    driver: LibSqlDriver,
    dbName: ':memory:',
    entities: entities.map((e) => toEntitySchema(e, 'sqlite')),
    discovery: { warnWhenNoEntities: false },
    allowGlobalContext: true,
    debug: false,
    pool: { min: 1, max: 1 },
  } as Options);
  const knex = (orm.em as unknown as { getConnection(): { getKnex(): Knex } }).getConnection().getKnex();
  await new Migrator(knex, [{ name: plugin, migrations }]).up();
  return orm;
}

/**
 * The SQL (SQLite dialect) that would bring the schema `migrations` produce to what `entities`
 * declare: empty when the two agree. Tables no entity declares (migration history, other
 * plugins') are left alone.
 */
export async function schemaDrift(plugin: string, entities: EntitySpec[], migrations: Migration[]): Promise<string> {
  const orm = await scratchSchema(plugin, entities, migrations);
  try {
    const { diff, generator } = await compareSchema(orm);
    return (await generator.diffToSQL(diff, { wrap: false, safe: false, dropTables: false })).trim();
  } finally {
    await orm.close(true);
  }
}

interface Generator {
  prepareSchemaForComparison(options: object): Promise<{ fromSchema: SchemaLike; toSchema: SchemaLike }>;
  diffToSQL(diff: SchemaDifference, options: object): Promise<string>;
}
interface ColumnLike { primary: boolean; nullable: boolean; default?: string | null }
interface SchemaLike { getTables(): Array<{ getColumns(): ColumnLike[] }> }

/**
 * What differs between the database's schema and the entities' (MikroORM's SchemaComparator).
 * SQLite lets a non-integer primary key hold null unless told otherwise, which knex does not
 * say: a primary key is compared as not null, as it is on PostgreSQL; quoted numeric defaults
 * are compared unquoted.
 */
export async function compareSchema(orm: MikroORM): Promise<{ diff: SchemaDifference; generator: Generator }> {
  const generator = orm.getSchemaGenerator() as unknown as Generator;
  const { fromSchema, toSchema } = await generator.prepareSchemaForComparison({ dropTables: false, safe: false });
  for (const table of fromSchema.getTables()) {
    for (const column of table.getColumns()) {
      if (column.primary) column.nullable = false;
      // knex writes SQLite numeric defaults quoted (`'0'`); MikroORM compares them unquoted.
      const d = column.default;
      if (typeof d === 'string' && /^'-?\d+(\.\d+)?'$/.test(d)) column.default = d.slice(1, -1);
    }
  }
  // A boolean is an integer column on SQLite, so MikroORM compares its default `false` as text.
  for (const table of toSchema.getTables()) {
    for (const column of table.getColumns()) {
      if (column.default === 'false' || column.default === 'true') {
        column.default = column.default === 'true' ? '1' : '0';
      }
    }
  }
  const diff = new SchemaComparator(orm.em.getPlatform() as never).compare(fromSchema as never, toSchema as never);
  return { diff, generator };
}
