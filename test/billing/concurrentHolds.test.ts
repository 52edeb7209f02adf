import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { startTestKernel } from '../kit/index.ts';
import { AppError } from '../../kernel/index.ts';
import { serviceUrl } from '../helpers/services.ts';
import { freshPostgres, type TestDatabase } from '../helpers/databases.ts';
import { billingOf, CENT } from './helpers.ts';

const HOLDS = 1000;
const AMOUNT = 400_000; // 0.4 cents
const COVERED = 400; // 100 free cents + 60 granted = 160 cents = 400 holds

const pgUrl = serviceUrl('DATABASE_URL', 'concurrent holds on postgresql');
const drivers: Array<[string, () => Promise<TestDatabase | undefined>]> = [['sqlite', async () => undefined]];
if (pgUrl) drivers.push(['postgresql', () => freshPostgres(pgUrl)]);

for (const [driver, makeDb] of drivers) {
  const s = suite(`billing: ${HOLDS} concurrent holds never overspend (${driver})`);
  s('exactly the covered number succeed, and the balance is exact after captures', async () => {
    const db = await makeDb();
    const k = await startTestKernel({
      config: db ? { database: { driver: 'postgresql', url: db.url, poolMax: 20 } } : {},
    });
    try {
      const { ledger } = billingOf(k);
      const u = (await k.asUser()).id;
      await ledger.grant(u, 60 * CENT, { idempotencyKey: 'top-up' });
      const results = await Promise.allSettled(
        Array.from({ length: HOLDS }, (_, i) => ledger.hold(u, AMOUNT, { idempotencyKey: `h${i}` })),
      );
      const held = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
      const refused = results.flatMap((r) => (r.status === 'rejected' ? [r.reason] : []));
      assert.is(held.length, COVERED);
      const odd1 = refused.filter((e) => !(e instanceof AppError && e.code === "INSUFFICIENT_CREDITS"));
      assert.is(odd1.length, 0, [...new Set(odd1.map(String))].join("; ").slice(0, 500));
      let b = await ledger.balance(u);
      assert.is(b.balanceMicros, 0);
      assert.is(b.heldMicros, COVERED * AMOUNT);

      // Settle all at once: half captured at an odd amount, the rest released.
      const odd = 123_457;
      await Promise.all(held.map((h, i) => (i % 2 ? ledger.capture(h.id, odd) : ledger.release(h.id))));
      b = await ledger.balance(u);
      const spent = (COVERED / 2) * odd;
      assert.is(b.heldMicros, 0);
      assert.is(b.lifetimeUsageMicros, spent);
      assert.is(b.balanceMicros, 160 * CENT - spent);
      assert.is(b.freeCreditsRemainingMicros + b.purchasedMicros, 160 * CENT - spent);
    } finally {
      await k.stop();
      await db?.drop();
    }
  });
  s.run();
}
