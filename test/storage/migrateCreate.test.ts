import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import pino from 'pino';
import type { Knex } from '@mikro-orm/knex';
import { testDatabases } from '../helpers/databases.ts';
import { writeMigration } from '../../kernel/storage/migrationWriter.ts';
import { schemaDrift } from '../../kernel/storage/drift.ts';
import { openOrm } from '../../kernel/storage/orm.ts';
import { toEntitySchema } from '../../kernel/storage/schema.ts';
import { Migrator } from '../../kernel/storage/migrations.ts';
import { defineEntity, p, type Migration } from '../../kernel/index.ts';

/** Version 1 of a plugin's entities, built by a hand-written migration. */
const BookmarkV1 = defineEntity('Bookmark', {
  table: 'mc_bookmarks',
  properties: { id: p.id(), url: p.string({ length: 500 }) },
});
const first: Migration = {
  name: '0001_bookmarks',
  async up(knex) {
    await knex.schema.createTable('mc_bookmarks', (t) => {
      t.string('id', 36).primary();
      t.string('url', 500).notNullable();
    });
  },
  async down(knex) {
    await knex.schema.dropTable('mc_bookmarks');
  },
};
/** Version 2: a new column with a default, an array, an index, and a new owned table. */
const Bookmark = defineEntity('Bookmark', {
  table: 'mc_bookmarks',
  properties: {
    id: p.id(), url: p.string({ length: 500 }), ownerId: p.string({ length: 36, nullable: true }),
    visits: p.integer({ default: 0 }), starred: p.boolean({ default: false }), tags: p.array(p.string()),
  },
  indexes: [{ properties: ['ownerId'] }, { properties: ['url', 'ownerId'], unique: true }],
  ownedBy: 'ownerId',
});
const Folder = defineEntity('Folder', {
  table: 'mc_folders',
  properties: {
    id: p.id(),
    name: p.string({ length: 80 }),
    note: p.text({ nullable: true }),
    createdAt: p.createdAt(),
  },
  indexes: [{ properties: ['name'] }],
});

let generated: Migration;
const s = suite('storage: migrate create');

s('writes nothing when the entities and migrations agree', async () => {
  assert.is(await writeMigration('mc', [BookmarkV1], [first], 'none', 'x'), null);
});

s('writes a knex migration numbered after the last, which closes the gap on SQLite', async () => {
  const kernelIndex = pathToFileURL(resolve('kernel/index.ts')).href;
  const written = await writeMigration('mc', [Bookmark, Folder], [first], 'Bookmarks v2!', kernelIndex);
  assert.ok(written);
  assert.is(written!.name, '0002_bookmarks_v2_');
  assert.equal(written!.todos, []);
  assert.match(written!.source, "t.jsonb('tags').notNullable().defaultTo('[]')");
  assert.match(written!.source, "t.boolean('starred').notNullable().defaultTo(false)");
  assert.match(written!.source, "knex.schema.createTable('mc_folders'");
  const file = join(mkdtempSync(join(tmpdir(), 'mc-')), `${written!.name}.ts`);
  writeFileSync(file, written!.source);
  generated = (await import(pathToFileURL(file).href)).migration;
  assert.is(generated.name, written!.name);
  assert.is(await schemaDrift('mc', [Bookmark, Folder], [first, generated]), '', 'no drift left');
});

s('a not-null column without a default is flagged TODO, and the file refuses to run until edited', async () => {
  const Strict = defineEntity('Bookmark', {
    table: 'mc_bookmarks',
    properties: { id: p.id(), url: p.string({ length: 500 }), rank: p.integer() },
  });
  const written = await writeMigration('mc', [Strict], [first], 'rank', 'x');
  assert.is(written!.todos.length, 1);
  assert.match(written!.source, /TODO: column rank: not null without a default/);
  assert.match(written!.source, /throw new Error\('migration 0002_rank is not finished/);
});

s.run();

/** The same generated file on every SQL driver: up, no drift against the entities there, then down. */
for (const make of await testDatabases('storage: migrate create')) {
  const db = await make();
  if (db.driver === 'mongodb') { await db.drop(); continue; }
  const d = suite(`storage: a generated migration runs on ${db.driver}`);
  d.after(async () => { await db.drop(); });
  d('up builds what the entities declare; down undoes it', async () => {
    const config = { driver: db.driver, url: db.url, migrate: 'off', debug: false, poolMax: 2 } as const;
    const orm = await openOrm(
      config,
      [Bookmark, Folder].map((e) => toEntitySchema(e, db.driver)),
      pino({ level: 'silent' }),
    );
    try {
      const knex = (orm.em as unknown as { getConnection(): { getKnex(): Knex } }).getConnection().getKnex();
      const migrator = new Migrator(knex, [{ name: 'mc', migrations: [first, generated] }]);
      assert.is((await migrator.up()).length, 2);
      const drift = await orm.getSchemaGenerator().getUpdateSchemaSQL({ wrap: false, dropTables: false } as never);
      const own = drift.split('\n').filter((l) => /mc_/.test(l));
      if (db.driver === 'postgresql') assert.equal(own, [], drift);
      assert.is((await migrator.down('mc'))?.name, generated.name);
      assert.not.ok(await knex.schema.hasTable('mc_folders'));
      assert.not.ok(await knex.schema.hasColumn('mc_bookmarks', 'tags'));
    } finally {
      await orm.close(true);
    }
  });
  d.run();
}
