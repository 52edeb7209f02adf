import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import pino from 'pino';
import type { MikroORM } from '@mikro-orm/core';
import { OutboxEntity, OutboxRelay, outboxMigrations, stageEvent } from '../../kernel/events/outbox.ts';
import { openOrm } from '../../kernel/storage/orm.ts';
import { toEntitySchema } from '../../kernel/storage/schema.ts';
import { Migrator } from '../../kernel/storage/migrations.ts';
import { ManualClock } from '../../kernel/ports/clock.ts';
import type { DomainEvent, EventBus } from '../../kernel/ports/eventBus.ts';
import { testDatabases, type TestDatabase } from '../helpers/databases.ts';

const KEYS = ['a', 'b', 'c'];
const PER_KEY = 6;

/** A bus whose every publish takes 5 s of the shared fake clock, and whose first publish of `failOn` fails. */
function slowBus(clock: ManualClock, failOn: string) {
  const delivered: DomainEvent[] = [];
  let failed = false;
  const bus: EventBus = {
    async publish(event) {
      await new Promise((r) => setImmediate(r)); // let the other relay run meanwhile
      clock.advance(5_000);
      if (event.id === failOn && !failed) { failed = true; throw new Error('broker timeout'); }
      delivered.push(event);
    },
    async subscribe() { return { unsubscribe: async () => {} }; },
  };
  return { bus, delivered };
}

async function open(db: TestDatabase): Promise<MikroORM> {
  const config = { driver: db.driver, url: db.url, debug: false, poolMax: 4, migrate: 'off' } as never;
  return openOrm(config, [toEntitySchema(OutboxEntity, db.driver)], pino({ level: 'silent' }));
}

const eventId = (i: number) => `00000000-0000-7000-8000-${String(i).padStart(12, '0')}`;

for (const make of await testDatabases('outbox race')) {
  const db = await make();
  const s = suite(`events: two outbox relays racing on ${db.driver} publish each row once, in key order`);

  s('a slow bus that fails once: every row published exactly once, per-key order kept', async () => {
    const clock = new ManualClock();
    const [ormA, ormB] = [await open(db), await open(db)];
    try {
      if (db.driver === 'mongodb') await ormA.getSchemaGenerator().ensureIndexes();
      else
        await new Migrator((ormA.em as any).getConnection().getKnex(), [
          { name: 'kernel', migrations: outboxMigrations },
        ]).up();
      const em = ormA.em.fork();
      const expected = new Map<string, string[]>(KEYS.map((k) => [k, []]));
      for (let i = 0; i < KEYS.length * PER_KEY; i++) {
        const key = KEYS[i % KEYS.length];
        stageEvent(em, {
          id: eventId(i),
          type: 'test.happened',
          occurredAt: clock.date().toISOString(),
          key,
          data: { i },
        });
        expected.get(key)!.push(eventId(i));
      }
      await em.flush();
      const { bus, delivered } = slowBus(clock, eventId(0)); // the first row of key `a` fails once
      const log = pino({ level: 'silent' });
      const relays = [new OutboxRelay(ormA, bus, clock, log), new OutboxRelay(ormB, bus, clock, log)];
      for (let round = 0; round < 20 && delivered.length < KEYS.length * PER_KEY; round++) {
        for (const r of relays) r.kick();
        await Promise.all(relays.map((r) => r.idle()));
        clock.advance(2_000); // past the retry backoff
      }
      await Promise.all(relays.map((r) => r.stop()));

      const ids = delivered.map((e) => e.id);
      assert.is(new Set(ids).size, ids.length, `published twice: ${ids.filter((id, i) => ids.indexOf(id) !== i)}`);
      assert.is(ids.length, KEYS.length * PER_KEY, 'every row published');
      for (const key of KEYS) {
        assert.equal(delivered.filter((e) => e.key === key).map((e) => e.id), expected.get(key), `order of key ${key}`);
      }
      assert.is(await ormA.em.fork().count('KernelOutbox', { publishedAt: null }), 0);
    } finally {
      await ormA.close(true);
      await ormB.close(true);
      await db.drop();
    }
  });

  s.run();
}
