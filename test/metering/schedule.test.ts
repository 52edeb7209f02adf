import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startMetering } from './helpers.ts';

/** Polls `check` until it holds (the timers run on their own; nothing here calls them). */
async function eventually(what: string, check: () => Promise<boolean>) {
  const until = Date.now() + 10_000;
  while (Date.now() < until) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`not within 10 s: ${what}`);
}

test('rollups and request flushes run on their own timers, without an operator', async () => {
  const k = await startMetering({ config: { maintenanceIntervalMs: 25, requestFlushIntervalMs: 25 } });
  try {
    const u = await k.asUser();
    const em = k.kernel.orm!.em.fork();
    const usage = { userId: u.id, kind: 'chat', subject: 'm', tokensIn: 3, tokensOut: 4, costMicros: 9 };
    k.cradle.metering.record(em, usage);
    await em.flush();
    assert.is((await u.get('/v1/usage/summary')).status, 200);
    const count = (entity: string, where: object) => k.kernel.orm!.em.fork().count(entity, where);
    await eventually('a rollup row', async () => (await count('MeteringDaily', { userId: u.id })) === 1);
    await eventually('a request stats row',
      async () => (await count('MeteringRequestStat', { principalId: u.id })) === 1);
  } finally {
    await k.stop();
  }
});

test.run();
