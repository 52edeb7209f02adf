import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import pino from 'pino';
import type { MikroORM } from '@mikro-orm/core';
import { testDatabases } from '../helpers/databases.ts';
import { openOrm } from '../../kernel/storage/orm.ts';
import { toEntitySchema } from '../../kernel/storage/schema.ts';
import { CapturedInserts } from '../../kernel/storage/insertBatch.ts';
import { buildInsert, type InsertDriver } from '../../kernel/storage/insertSql.ts';
import { OutboxEntity } from '../../kernel/events/outbox.ts';
import { defineEntity, p } from '../../kernel/index.ts';

/** The kernel's cached INSERT text and values are exactly what MikroORM's nativeInsertMany builds for the row. */
const Item = defineEntity('SqlItem', {
  table: 'test_sql_items',
  properties: {
    id: p.id(),
    title: p.string({ length: 100 }),
    done: p.boolean({ default: false }),
    tags: p.array(p.string()),
    meta: p.json({ nullable: true }),
    dueAt: p.datetime({ nullable: true }),
    createdAt: p.createdAt(),
  },
});

for (const make of await testDatabases('storage: insert SQL')) {
  const db = await make();
  if (db.driver === 'mongodb') continue; // no SQL
  const s = suite(`storage: the insert path's SQL on ${db.driver}`);
  let orm: MikroORM;
  s.before(async () => {
    const config = { driver: db.driver, url: db.url, migrate: 'off', debug: false, poolMax: 2 } as const;
    orm = await openOrm(config, [toEntitySchema(Item, db.driver), toEntitySchema(OutboxEntity, db.driver)],
      pino({ level: 'silent' }));
  });
  s.after(async () => { await orm?.close(true); await db.drop(); });

  const mikro = async (entity: string, row: Record<string, unknown>, convert: boolean) => {
    const captured = new CapturedInserts();
    await orm.em.getDriver().nativeInsertMany(entity, [{ ...row }], { ctx: captured, convertCustomTypes: convert });
    return captured.statements[0];
  };
  const ours = (entity: string, row: Record<string, unknown>, convert: boolean) =>
    buildInsert(orm.em.getDriver() as unknown as InsertDriver, orm.getMetadata().get(entity), { ...row }, convert);

  s('rows as the insert path gives them: the same text and values, with or without type conversion', async () => {
    const at = new Date('2030-01-02T03:04:05.006Z');
    const rows: Array<[string, Record<string, unknown>]> = [
      ['SqlItem', { id: crypto.randomUUID(), title: 'a', done: true, tags: ['x', 'y'], meta: { n: 1 }, dueAt: at,
        createdAt: at }],
      ['SqlItem', { id: crypto.randomUUID(), title: 'nulls', done: false, tags: [], meta: null, dueAt: null,
        createdAt: at }],
      ['SqlItem', { createdAt: at, title: 'other order', id: crypto.randomUUID(), done: false, tags: ['z'] }],
      ['KernelOutbox', { id: crypto.randomUUID(), type: 't.x.created', eventKey: null, data: { a: [1, 'b'] },
        occurredAt: at, publishedAt: null, attempts: 0, claimedUntil: null, lastError: null }],
    ];
    for (const convert of [true, false]) {
      for (const [entity, row] of rows) {
        const theirs = await mikro(entity, row, convert);
        const built = ours(entity, row, convert);
        assert.ok(built, `${entity} built (${JSON.stringify(row)})`);
        assert.is(built!.sql, theirs.sql);
        assert.equal(built!.params, theirs.params, `${entity} convert=${convert}`);
      }
    }
    // The cached text is reused for a second row of the same columns (and a different order is its own text).
    const a = ours('SqlItem', rows[0][1], true)!;
    const b = ours('SqlItem', { ...rows[0][1], id: crypto.randomUUID(), title: 'b' }, true)!;
    assert.is(a.sql, b.sql);
    assert.is.not(ours('SqlItem', rows[2][1], true)!.sql, a.sql);
  });

  s('a value MikroORM would write as DEFAULT or null is left to MikroORM', () => {
    assert.is(ours('SqlItem', { id: crypto.randomUUID(), title: undefined, done: false, tags: [],
      createdAt: new Date() }, true), undefined);
  });

  s.run();
}
