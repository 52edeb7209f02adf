import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ManualClock } from '../../kernel/ports/clock.ts';
import { freshPostgres, type TestDatabase } from '../helpers/databases.ts';
import { serviceUrl } from '../helpers/services.ts';
import { tempSqliteUrl } from '../helpers/kernel.ts';
import { startMetering, type MeteringKit } from './helpers.ts';
import { DAY_MS, startOfDay } from '../../plugins/metering/time.ts';

const pgUrl = serviceUrl('DATABASE_URL', 'metering retention on postgresql');
const drivers: Array<() => Promise<TestDatabase>> = [
  async () => ({ driver: 'sqlite', url: tempSqliteUrl(), drop: async () => {} }),
  ...(pgUrl ? [() => freshPostgres(pgUrl)] : []),
];

for (const [i, make] of drivers.entries()) {
  const name = `metering: rollups and retention (${i ? 'postgresql' : 'sqlite'})`;
  const test = suite<{ k: MeteringKit; db: TestDatabase; clock: ManualClock }>(name);
  test.before(async (ctx) => {
    ctx.db = await make();
    ctx.clock = new ManualClock(Date.UTC(2026, 5, 15, 12));
    ctx.k = await startMetering({ clock: ctx.clock, database: { driver: ctx.db.driver, url: ctx.db.url } });
  });
  test.after(async (ctx) => {
    await ctx.k?.stop();
    await ctx.db?.drop();
  });

  test('detail past 90 days becomes rollups only, and the summary is unchanged', async ({ k, clock }) => {
    const em = k.kernel.orm!.em.fork();
    const now = clock.now();
    const at = (daysAgo: number) => new Date(now - daysAgo * DAY_MS);
    for (const daysAgo of [120, 95, 95, 30, 1, 0]) {
      k.cradle.metering.record(em, {
        userId: 'u-retained', kind: 'tool', subject: daysAgo > 90 ? 'old' : 'new', tokensIn: 100, tokensOut: 1,
        costMicros: 1_000, occurredAt: at(daysAgo), status: daysAgo === 95 ? 'failed' : 'ok',
      });
    }
    await em.flush();
    const range = { from: at(200).toISOString().slice(0, 10), to: at(0).toISOString().slice(0, 10) };
    const windows = { dayStart: startOfDay(now), monthStart: now - 40 * DAY_MS, periodStart: now - 200 * DAY_MS };
    const { tokensToday, costMonthMicros, tokensPeriod } = await k.cradle.usageTotals.get('u-retained', windows);
    assert.equal({ tokensToday, costMonthMicros, tokensPeriod },
      { tokensToday: 101, costMonthMicros: 3_000, tokensPeriod: 606 }, 'the sums limit checks use');
    const before = await k.cradle.usageReports.summary(k.kernel.orm!.em.fork(), 'u-retained', range);
    // Two instances running the task at once roll the same days; neither double counts.
    await Promise.all([k.cradle.usageMaintenance.run(), k.cradle.usageMaintenance.run()].map((p) => p.catch(() => {})));
    const result = await k.cradle.usageMaintenance.run();
    assert.ok(result.rolledDays >= 1);
    const left = await k.kernel.orm!.em.fork().find<{ userId: string }>('MeteringUsage', { userId: 'u-retained' });
    assert.is(left.length, 3, 'the 120- and 95-day-old rows are pruned');
    const daily = await k.kernel.orm!.em.fork().count('MeteringDaily', { userId: 'u-retained' });
    assert.is(daily, 5, 'one rollup per day with usage');
    const after = await k.cradle.usageReports.summary(k.kernel.orm!.em.fork(), 'u-retained', range);
    assert.equal(after.totals, before.totals);
    assert.equal(after.totals.invocations, 6);
    assert.equal(after.totals.failures, 2);
    assert.equal(after.byDay, before.byDay);
  });

  test('rollups older than 2 years are pruned, without an operator', async ({ k, clock }) => {
    clock.advance(731 * DAY_MS);
    await k.cradle.usageMaintenance.run();
    const daily = await k.kernel.orm!.em.fork().count('MeteringDaily', { userId: 'u-retained' });
    assert.is(daily, 0);
    assert.is(await k.kernel.orm!.em.fork().count('MeteringUsage', { userId: 'u-retained' }), 0);
  });

  test.run();
}
