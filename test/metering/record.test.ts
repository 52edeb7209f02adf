import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { meteringDatabases, startMetering, type MeteringKit } from './helpers.ts';
import type { TestDatabase } from '../helpers/databases.ts';

type Row = { reference: string; userId: string };
const event = (userId: string, n = 1) => ({
  userId, kind: 'tool', subject: 'summarise', tokensIn: 10 * n, tokensOut: 5 * n, costMicros: 14_300 * n,
});

for (const { name, make } of meteringDatabases('metering record')) {
  const test = suite<{ k: MeteringKit; db: TestDatabase }>(`metering: record() in the caller's unit of work (${name})`);
  const usage = (k: MeteringKit, userId: string) => k.kernel.orm!.em.fork().find<Row>('MeteringUsage', { userId });

  test.before(async (ctx) => {
    ctx.db = await make();
    ctx.k = await startMetering({ database: { driver: ctx.db.driver, url: ctx.db.url } });
  });
  test.after(async (ctx) => {
    await ctx.k?.stop();
    await ctx.db?.drop();
  });

  test('a rolled-back caller leaves no row; a committed one has it', async ({ k }) => {
    const user = await k.asUser();
    await k.kernel.orm!.em.fork().transactional(async (tx) => {
      k.cradle.metering.record(tx, { ...event(user.id), reference: 'kept' });
    });
    await k.kernel.orm!.em.fork().transactional(async (tx) => {
      k.cradle.metering.record(tx, { ...event(user.id), reference: 'lost' });
      throw new Error('the caller fails after recording');
    }).catch(() => {});
    assert.equal((await usage(k, user.id)).map((r) => r.reference), ['kept']);
  });

  test('concurrent callers: every committed record is there, none of the rolled back', async ({ k }) => {
    const user = await k.asUser();
    const outcomes = await Promise.all(Array.from({ length: 60 }, (_, i) => k.kernel.orm!.em.fork()
      .transactional(async (tx) => {
        k.cradle.metering.record(tx, { ...event(user.id), reference: `r${i}` });
        if (i % 3 === 0) throw new Error('rolled back');
      }).then(() => true, () => false)));
    const committed = outcomes.map((ok, i) => (ok ? `r${i}` : null)).filter(Boolean).sort();
    assert.is(committed.length, 40);
    assert.equal((await usage(k, user.id)).map((r) => r.reference).sort(), committed);
  });

  test('a malformed event is refused before anything is staged', ({ k }) => {
    const em = k.kernel.orm!.em.fork();
    assert.throws(() => k.cradle.metering.record(em, { ...event('u1'), tokensIn: -1 }), /tokensIn/);
    assert.throws(() => k.cradle.metering.record(em, { ...event('u1'), costMicros: 1.5 }), /costMicros/);
    assert.is(em.getUnitOfWork().getPersistStack().size, 0);
  });

  test.run();
}
