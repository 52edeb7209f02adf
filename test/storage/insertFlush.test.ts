import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import pino from 'pino';
import type { EntityManager, EventSubscriber, FlushEventArgs, MikroORM } from '@mikro-orm/core';
import { testDatabases } from '../helpers/databases.ts';
import { openOrm } from '../../kernel/storage/orm.ts';
import { toEntitySchema } from '../../kernel/storage/schema.ts';
import { flushInserts } from '../../kernel/storage/insertFlush.ts';
import { pgInsertGroupsOf, toPgBindings } from '../../kernel/storage/pgStatements.ts';
import { libsqlGroupCommitOf } from '../../kernel/storage/libsqlStatements.ts';
import { scopeToPrincipal } from '../../kernel/storage/ownership.ts';
import { OutboxEntity, stageEvent } from '../../kernel/events/outbox.ts';
import { countFlushes } from '../../kernel/events/unitOfWork.ts';
import { AppError, defineEntity, p, unscoped, type RowOf } from '../../kernel/index.ts';

/** `flushInserts(em)`: new rows written without MikroORM's flush, with its meaning; anything else is a flush. */
const Item = defineEntity('InsItem', {
  table: 'test_ins_items',
  properties: {
    id: p.id(),
    ownerId: p.string({ length: 36 }),
    title: p.string({ length: 100 }),
    done: p.boolean({ default: false }),
    tags: p.array(p.string()),
    dueAt: p.datetime({ nullable: true }),
    createdAt: p.createdAt(),
  },
  ownedBy: 'ownerId',
});
type ItemRow = RowOf<typeof Item>;
const alice = { type: 'user', id: '0190b000-0000-7000-8000-0000000000a1' };
const bob = { type: 'user', id: '0190b000-0000-7000-8000-0000000000b1' };

const bindings = suite('storage: PostgreSQL bound values, or inlined as MikroORM would');
bindings('? become $n with values meaning what the inlined text meant; anything else is left to MikroORM', () => {
  const at = new Date('2030-01-02T03:04:05.006Z');
  assert.equal(toPgBindings('insert into "t" ("a", "b", "c", "d") values (?, ?, ?, ?)', ['x', 2, true, at]), {
    text: 'insert into "t" ("a", "b", "c", "d") values ($1, $2, $3, $4)',
    values: ['x', 2, true, '2030-01-02T03:04:05.006Z'],
  });
  assert.equal(toPgBindings('insert into "t" ("a", "b") values (?, ?)', [undefined, null])?.values, [null, null]);
  assert.is(toPgBindings('select ? as x', [[1, 2]]), undefined, 'an array (MikroORM expands it)');
  assert.is(toPgBindings('select ? as x', [{ a: 1 }]), undefined, 'an object');
  assert.is(toPgBindings("select '?' as q, ? as x", [1]), undefined, 'a literal that could hold a ?');
  assert.is(toPgBindings('select ?? from t where a = ?', ['c', 1]), undefined, 'an identifier placeholder');
  assert.is(toPgBindings('select ? as x', [1, 2]), undefined, 'more values than placeholders');
});
bindings.run();

for (const make of await testDatabases('storage: flushInserts')) {
  const db = await make();
  if (db.driver === 'mongodb') continue; // MongoDB keeps MikroORM's flush (asserted by the records suite there)
  const s = suite(`storage: flushInserts on ${db.driver}`);
  let orm: MikroORM;
  /** Statements MikroORM ran (each through its connection), to tell the insert path from a flush. */
  const queries: string[] = [];
  const em = () => scopeToPrincipal(orm.em.fork(), alice);
  const item = (e: EntityManager, title: string, extra: Partial<ItemRow> = {}) =>
    e.create<ItemRow>('InsItem',
      { id: crypto.randomUUID(), ownerId: alice.id, title, tags: ['a'], ...extra } as ItemRow);
  const event = (id = crypto.randomUUID()) =>
    ({ id, type: 'test.item.created', data: { n: 1 }, occurredAt: new Date().toISOString() });
  const outboxRows = async (id: string) => orm.em.fork().count('KernelOutbox', { id });
  /** Rows inserted by the statements run (on PostgreSQL the insert path's rows are one statement of CTEs). */
  const inserted = () => queries.reduce((n, q) => n + (q.match(/\binsert into\b/gi)?.length ?? 0), 0);

  s.before(async () => {
    const config = { driver: db.driver, url: db.url, migrate: 'off', debug: false, poolMax: 2 } as const;
    orm = await openOrm(config, [toEntitySchema(Item, db.driver), toEntitySchema(OutboxEntity, db.driver)],
      pino({ level: 'silent' }), (e) => queries.push(e.query));
    await orm.getSchemaGenerator().createSchema();
  });
  s.after(async () => { await orm?.close(true); await db.drop(); });

  s('new rows: one transaction with both, values as MikroORM stores them, then managed by em', async () => {
    const e = em();
    const made = item(e, 'first', { dueAt: new Date('2030-01-02T03:04:05.000Z') });
    const ev = event();
    stageEvent(e, ev);
    queries.length = 0;
    await flushInserts(e);
    assert.is(inserted(), 2, queries.join('\n'));
    // PostgreSQL: one statement (a statement is its own transaction there); libsql: BEGIN, the inserts, COMMIT.
    if (db.driver === 'postgresql') assert.is(queries.length, 1, queries.join('\n'));
    else {
      const verbs = queries.map((q) => q.trim().split(' ')[0].toLowerCase());
      assert.equal(verbs, ['begin', 'insert', 'insert', 'commit']);
    }
    const read = await unscoped(orm.em).findOneOrFail<ItemRow>('InsItem', { id: made.id });
    assert.equal(read.tags, ['a']);
    assert.is(read.done, false);
    assert.is(read.dueAt!.toISOString(), '2030-01-02T03:04:05.000Z');
    assert.ok(read.createdAt instanceof Date, 'onCreate ran');
    assert.is(await outboxRows(ev.id), 1);
    // Managed now: a change is an update, a second flush inserts nothing again.
    made.title = 'renamed';
    queries.length = 0;
    await e.flush();
    assert.ok(queries.some((q) => /^update/i.test(q.trim())), queries.join('\n'));
    assert.not.ok(queries.some((q) => /^insert/i.test(q.trim())), queries.join('\n'));
    assert.is((await unscoped(orm.em).findOneOrFail<ItemRow>('InsItem', { id: made.id })).title, 'renamed');
  });

  s('concurrent units share one commit (one statement on pg); a failing unit fails alone with its own error',
    async () => {
    // SQLite: one transaction, a savepoint per unit. PostgreSQL: one statement, each unit alone again if refused.
    const group = () => {
      const g = db.driver === 'sqlite' ? libsqlGroupCommitOf(orm) : pgInsertGroupsOf(orm);
      const { units, ...rest } = g!.stats;
      return { stats: { units, transactions: 'transactions' in rest ? rest.transactions : rest.statements } };
    };
    await flushInserts(em(), [{ entity: 'InsItem', data: { id: crypto.randomUUID(), ownerId: alice.id, title: 'w',
      tags: [] } }]);
    const before = { ...group().stats };
    const taken = crypto.randomUUID();
    await flushInserts(em(), [{ entity: 'InsItem', data: { id: taken, ownerId: alice.id, title: 'taken', tags: [] } }]);
    const units = Array.from({ length: 40 }, (_, i) => {
      const ev = event();
      const e = em();
      countFlushes(e);
      stageEvent(e, ev);
      // Unit 7 reuses a stored id: its item and its event must both stay out; the others commit.
      const id = i === 7 ? taken : crypto.randomUUID();
      const row = { entity: 'InsItem', data: { id, ownerId: alice.id, title: `c${i}`, tags: [] } };
      return { id, ev, write: flushInserts(e, [row]).then(() => 'ok', (err: Error) => err) };
    });
    const outcomes = await Promise.all(units.map((u) => u.write));
    const after = group().stats;
    assert.is(after.units - before.units - 1, 40);
    assert.ok(after.transactions - before.transactions - 1 < 40 / 2, `grouped: ${JSON.stringify({ before, after })}`);
    const failed = outcomes.filter((o) => o !== 'ok') as Error[];
    assert.is(failed.length, 1);
    assert.is(outcomes.indexOf(failed[0]), 7);
    assert.is(failed[0].name, 'UniqueConstraintViolationException', failed[0].message);
    for (const [i, u] of units.entries()) {
      assert.is(await outboxRows(u.ev.id), i === 7 ? 0 : 1, `event ${i}`);
      const titles = await unscoped(orm.em.fork()).find<ItemRow>('InsItem', { id: u.id });
      assert.equal(titles.map((t) => t.title), i === 7 ? ['taken'] : [`c${i}`]);
    }
  });


  s('a failing row rolls the other back (same transaction)', async () => {
    const taken = event();
    const first = em();
    stageEvent(first, taken);
    await flushInserts(first);
    const e = em();
    const lost = item(e, 'lost');
    stageEvent(e, taken); // the same outbox id: a unique violation
    try {
      await flushInserts(e);
      assert.unreachable('the duplicate should have failed');
    } catch (err) {
      assert.match(String((err as Error).name), /UniqueConstraintViolation/);
    }
    assert.is(await unscoped(orm.em.fork()).count('InsItem', { id: lost.id }), 0);
  });

  s("the owner guard still holds: another owner's row is a 403, nothing written", async () => {
    const e = em();
    const other = item(e, 'not mine', { ownerId: bob.id });
    try {
      await flushInserts(e);
      assert.unreachable('should have been refused');
    } catch (err) {
      assert.instance(err, AppError);
      assert.is((err as AppError).code, 'OWNER_MISMATCH');
    }
    assert.is(await unscoped(orm.em.fork()).count('InsItem', { id: other.id }), 0);
  });

  s('a loaded, changed entity: the full flush, which writes the change too', async () => {
    const e = em();
    const kept = item(e, 'kept');
    await flushInserts(e);
    const e2 = em();
    const loaded = await e2.findOneOrFail<ItemRow>('InsItem', { id: kept.id });
    loaded.done = true;
    const added = item(e2, 'added');
    await flushInserts(e2);
    const fresh = unscoped(orm.em.fork());
    assert.is((await fresh.findOneOrFail<ItemRow>('InsItem', { id: kept.id })).done, true);
    assert.is(await fresh.count('InsItem', { id: added.id }), 1);
  });

  s('plain rows: written with the unit of work, not managed; with a loaded entity, em.create + flush', async () => {
    const e = em();
    const data: Record<string, unknown> = { ownerId: alice.id, title: 'plain', tags: ['p'], done: false };
    await flushInserts(e, [{ entity: 'InsItem', data }]);
    assert.type(data.id, 'string', 'the schema onCreate (id) is set on the data');
    assert.is(e.getUnitOfWork().getIdentityMap().values().length, 0);
    const fresh = unscoped(orm.em.fork());
    assert.equal((await fresh.findOneOrFail<ItemRow>('InsItem', { id: data.id as string })).tags, ['p']);
    const e2 = em();
    const loaded = await e2.findOneOrFail<ItemRow>('InsItem', { id: data.id as string });
    loaded.done = true;
    const second: Record<string, unknown> = { ownerId: alice.id, title: 'second', tags: [], done: false };
    await flushInserts(e2, [{ entity: 'InsItem', data: second }]);
    const again = unscoped(orm.em.fork());
    assert.is((await again.findOneOrFail<ItemRow>('InsItem', { id: data.id as string })).done, true);
    assert.is(await again.count('InsItem', { id: second.id as string }), 1);
  });

  s('a flush listener following another entity only does not stop the insert path', async () => {
    const seen: string[] = [];
    orm.em.getEventManager().registerSubscriber({
      getSubscribedEntities: () => ['KernelOutbox'],
      afterFlush: (args: FlushEventArgs) => { for (const cs of args.uow.getChangeSets()) seen.push(cs.name); },
    });
    const e = em();
    item(e, 'unwatched');
    queries.length = 0;
    await flushInserts(e);
    assert.equal(seen, []);
    assert.is(inserted(), 1);
  });

  // Last: from here on every flush of this ORM is MikroORM's.
  s('a flush listener following every entity sees the rows: the full flush runs (judged again on registration)',
    async () => {
      const seen: string[] = [];
      const listener: EventSubscriber = {
        afterFlush: (args: FlushEventArgs) => { for (const cs of args.uow.getChangeSets()) seen.push(cs.name); },
      };
      orm.em.getEventManager().registerSubscriber(listener);
      const e = em();
      item(e, 'watched');
      await flushInserts(e);
      assert.ok(seen.includes('InsItem'), seen.join(','));
    });

  s('a request\'s em stages events as data: the insert path writes them; a flush or a transaction makes entities',
    async () => {
      // The insert path: no entity for the event, one transaction with the plain row given.
      const e = em();
      countFlushes(e);
      const ev = event();
      stageEvent(e, ev);
      assert.is(e.getUnitOfWork().getPersistStack().size, 0, 'the event is data, not an entity');
      queries.length = 0;
      const id = crypto.randomUUID();
      await flushInserts(e, [{ entity: 'InsItem', data: { id, ownerId: alice.id, title: 'data', tags: [] } }]);
      assert.is(inserted(), 2, queries.join('\n'));
      assert.is(await outboxRows(ev.id), 1);
      const stored = await orm.em.fork().findOneOrFail<{ id: string; data: unknown }>('KernelOutbox', { id: ev.id });
      assert.equal(stored.data, { n: 1 }, 'the JSON data as stored by MikroORM');
      // A plain em.flush(): the staged event joins the handler's change in that flush.
      const f = em();
      countFlushes(f);
      const made = item(f, 'flushed');
      const second = event();
      stageEvent(f, second);
      await f.flush();
      assert.is(await outboxRows(second.id), 1);
      assert.is(await unscoped(orm.em.fork()).count('InsItem', { id: made.id }), 1);
      // em.transactional(): the staged event is written by the transaction, with the change made in it.
      const t = em();
      countFlushes(t);
      const third = event();
      stageEvent(t, third);
      queries.length = 0;
      const inside = await t.transactional(async (tx) => item(tx, 'in a transaction'));
      assert.is(await outboxRows(third.id), 1, 'stored by the transaction');
      assert.is(await unscoped(orm.em.fork()).count('InsItem', { id: inside.id }), 1);
      const commits = queries.filter((q) => /^commit/i.test(q.trim())).length;
      assert.ok(commits === 1 || db.driver === 'postgresql', `one transaction: ${queries.join('\n')}`);
    });

  s.run();
}
