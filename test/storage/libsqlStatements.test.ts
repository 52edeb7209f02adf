import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import type { EntityManager, MikroORM } from '@mikro-orm/core';
import { defineEntity } from '../../kernel/storage/entity.ts';
import { openOrm } from '../../kernel/storage/orm.ts';
import { toEntitySchema } from '../../kernel/storage/schema.ts';
import { Migrator } from '../../kernel/storage/migrations.ts';

/** MikroORM on libsql through the kernel's direct path (kernel/storage/libsqlStatements.ts): same results as before. */
const s = suite('storage: MikroORM on libsql with bound, prepared statements and its own transactions');

interface CounterRow { id: string; name: string; value: number; seenAt: Date | null }
const Counter = defineEntity({
  name: 'TestCounter',
  table: 'test_counters',
  properties: {
    name: { type: 'string', length: 50 },
    value: { type: 'integer' },
    seenAt: { type: 'datetime', nullable: true },
  },
  indexes: [{ properties: ['name'], unique: true, name: 'test_counters_name_unique' }],
});

const file = join(tmpdir(), `libsql-statements-${process.pid}-${Date.now()}.db`);
let orm: MikroORM;
const em = () => orm.em.fork() as EntityManager;
const sql = (q: string, params: unknown[] = []) =>
  (orm.em.getConnection() as unknown as { execute(q: string, p: unknown[]): Promise<any> }).execute(q, params);

s.before(async () => {
  const config = { driver: 'sqlite', url: `file:${file}`, debug: false, poolMax: 1, migrate: 'off' } as never;
  orm = await openOrm(config, [toEntitySchema(Counter, 'sqlite')], pino({ level: 'silent' }));
  await new Migrator((orm.em as any).getConnection().getKnex(), [{ name: 'test', migrations: [{
    name: '0001_counters',
    async up(knex) {
      await knex.schema.createTable('test_counters', (t) => {
        t.string('id', 36).primary();
        t.string('name', 50).notNullable().unique({ indexName: 'test_counters_name_unique' });
        t.integer('value').notNullable();
        t.datetime('seen_at').nullable();
      });
    },
    async down(knex) { await knex.schema.dropTable('test_counters'); },
  }] }]).up();
});
s.after(async () => {
  await orm?.close(true);
  for (const f of [file, `${file}-wal`, `${file}-shm`]) rmSync(f, { force: true });
});

s('every connection runs with synchronous = NORMAL and foreign keys on', async () => {
  assert.equal(await sql('pragma synchronous'), [{ synchronous: 1 }]);
  assert.equal(await sql('pragma foreign_keys'), [{ foreign_keys: 1 }]);
});

s('values keep their meaning when bound: dates, booleans, null, and arrays (inlined) in raw SQL', async () => {
  const at = new Date('2026-01-02T03:04:05.678Z');
  const e = em();
  e.create<CounterRow>('TestCounter', { name: 'dates', value: 1, seenAt: at } as CounterRow);
  e.create<CounterRow>('TestCounter', { name: 'none', value: 2, seenAt: null } as CounterRow);
  await e.flush();
  const found = await em().findOneOrFail<CounterRow>('TestCounter', { seenAt: at });
  assert.is(found.name, 'dates');
  assert.is(new Date(found.seenAt!).getTime(), at.getTime());
  const unseen = await sql('select value from test_counters where seen_at is ? and value > ?', [null, 1]);
  assert.equal(unseen, [{ value: 2 }]);
  assert.equal(await sql('select ? as t, ? as f', [true, false]), [{ t: 1, f: 0 }]);
  const inList = await sql('select name from test_counters where name in (?) order by name', [['dates', 'none']]);
  assert.equal(inList, [{ name: 'dates' }, { name: 'none' }]);
  const where = { name: { $in: ['dates', 'none'] } };
  const listed = await em().find<CounterRow>('TestCounter', where, { orderBy: { name: 'asc' } });
  assert.equal(listed.map((r) => r.value), [1, 2]);
});

s('a failed flush rolls everything back, maps the unique violation, and leaves the connection usable', async () => {
  const e = em();
  e.create<CounterRow>('TestCounter', { name: 'fresh', value: 1 } as CounterRow);
  e.create<CounterRow>('TestCounter', { name: 'dates', value: 9 } as CounterRow); // taken
  const err = await e.flush().then(() => undefined, (x: Error) => x);
  assert.is(err?.name, 'UniqueConstraintViolationException');
  assert.is(await em().count('TestCounter', { name: 'fresh' }), 0, 'the first insert was rolled back');
  assert.is(await em().count('TestCounter', {}), 2, 'the connection answers again');
});

s('nested transactions are savepoints: an inner rollback keeps the outer writes', async () => {
  await em().transactional(async (outer) => {
    outer.create<CounterRow>('TestCounter', { name: 'outer', value: 1 } as CounterRow);
    await outer.flush();
    const inner = await outer.transactional(async (e) => {
      e.create<CounterRow>('TestCounter', { name: 'inner', value: 1 } as CounterRow);
      await e.flush();
      throw new Error('inner fails');
    }).then(() => 'committed', (x: Error) => x.message);
    assert.is(inner, 'inner fails');
  });
  assert.is(await em().count('TestCounter', { name: 'outer' }), 1);
  assert.is(await em().count('TestCounter', { name: 'inner' }), 0);
});

s('concurrent transactions do not interleave: 30 read-modify-write increments give 30', async () => {
  const e = em();
  e.create<CounterRow>('TestCounter', { name: 'hits', value: 0 } as CounterRow);
  await e.flush();
  await Promise.all(Array.from({ length: 30 }, () => em().transactional(async (t) => {
    const row = await t.findOneOrFail<CounterRow>('TestCounter', { name: 'hits' });
    await new Promise((r) => setImmediate(r)); // give the others a chance to cut in
    row.value += 1;
  })));
  assert.is((await em().findOneOrFail<CounterRow>('TestCounter', { name: 'hits' })).value, 30);
});

s.run();
