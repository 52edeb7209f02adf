import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { startTestKernel, type TestKit } from '../kit/index.ts';
import { ManualClock } from '../../kernel/ports/clock.ts';
import { AppError } from '../../kernel/index.ts';
import { billingOf, CENT } from './helpers.ts';

const clock = new ManualClock(Date.UTC(2026, 0, 10, 12));
let k: TestKit;
const s = suite('billing: the credit ledger');
s.before(async () => {
  k = await startTestKernel({ clock });
});
s.after(async () => k?.stop());

async function refusal(p: Promise<unknown>): Promise<AppError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof AppError) return e;
    throw e;
  }
  throw new Error('expected a refusal');
}

s('a new user has the free plan\'s 100 cents; holds, captures (free credits first) and releases', async () => {
  const { ledger } = billingOf(k);
  const u = (await k.asUser()).id;
  let b = await ledger.balance(u);
  assert.is(b.balanceCents, 100);
  assert.is(b.freeCreditsRemaining, 100);
  assert.is(b.freeCreditsResetAt, '2026-02-01T00:00:00.000Z');
  await ledger.grant(u, 50 * CENT, { idempotencyKey: 'g1', kind: 'purchase' });
  const hold = await ledger.hold(u, 120 * CENT, { idempotencyKey: 'h1', reference: 'chat:1' });
  assert.is(hold.status, 'held');
  b = await ledger.balance(u);
  assert.is(b.balanceMicros, 30 * CENT);
  assert.is(b.heldMicros, 120 * CENT);
  // 0.0143 cents is charged as 14,300 µ¢, not rounded to a cent.
  const charge = await ledger.capture(hold.id, 110 * CENT + 14_300);
  assert.is(charge.amountMicros, -(110 * CENT + 14_300));
  assert.is(charge.freeMicros, -100 * CENT, 'the free credits go first');
  b = await ledger.balance(u);
  assert.is(b.freeCreditsRemainingMicros, 0);
  assert.is(b.purchasedMicros, 40 * CENT - 14_300);
  assert.is(b.heldMicros, 0);
  assert.is(b.balanceCents, 39, 'whole cents, rounded down');
  assert.is(b.lifetimeUsageCents, 110);
  assert.is(charge.balanceAfterMicros, 40 * CENT - 14_300);

  const h2 = await ledger.hold(u, 10 * CENT, { idempotencyKey: 'h2' });
  await ledger.release(h2.id);
  await ledger.release(h2.id); // twice: nothing moves
  assert.is((await ledger.balance(u)).balanceMicros, 40 * CENT - 14_300);
  assert.is((await refusal(ledger.capture(h2.id, 1))).code, 'HOLD_NOT_ACTIVE');
});

s('a capture from the free credits alone, from the purchased alone, and one that spends them exactly', async () => {
  const { ledger } = billingOf(k);
  const u = (await k.asUser()).id; // 100 cents free
  await ledger.grant(u, 50 * CENT, { idempotencyKey: 'buy', kind: 'purchase' });
  const capture = async (hold: number, actual: number, key: string) =>
    ledger.capture((await ledger.hold(u, hold, { idempotencyKey: key })).id, actual);
  const free = await capture(40 * CENT, 30 * CENT, 'f'); // 100 free: all from them
  assert.equal([free.amountMicros, free.freeMicros, free.balanceAfterMicros], [-30 * CENT, -30 * CENT, 120 * CENT]);
  const exact = await capture(70 * CENT, 70 * CENT, 'x'); // 70 free left: spent exactly
  assert.equal([exact.freeMicros, exact.balanceAfterMicros], [-70 * CENT, 50 * CENT]);
  const bought = await capture(20 * CENT, 25 * CENT, 'p'); // none free: purchased only, capped at the hold
  assert.equal([bought.amountMicros, bought.freeMicros, bought.uncollectedMicros, bought.balanceAfterMicros],
    [-20 * CENT, -0, 5 * CENT, 30 * CENT]);
  const stored = await ledger.entry(u, bought.id);
  assert.equal([stored?.freeMicros, stored?.amountMicros, stored?.holdId], [0, -20 * CENT, bought.holdId]);
  const b = await ledger.balance(u);
  assert.equal([b.freeCreditsRemainingMicros, b.purchasedMicros, b.heldMicros, b.lifetimeUsageMicros],
    [0, 30 * CENT, 0, 120 * CENT]);
  assert.is((await ledger.capture(bought.holdId!, 1)).id, bought.id, 'a replay returns the first capture');
});

s('replays return the first result and move no money', async () => {
  const { ledger } = billingOf(k);
  const u = (await k.asUser()).id;
  const g1 = await ledger.grant(u, 5 * CENT, { idempotencyKey: 'same' });
  const g2 = await ledger.grant(u, 7 * CENT, { idempotencyKey: 'same' });
  assert.is(g2.id, g1.id);
  assert.is(g2.amountMicros, 5 * CENT);
  const h1 = await ledger.hold(u, 3 * CENT, { idempotencyKey: 'hold' });
  const h2 = await ledger.hold(u, 3 * CENT, { idempotencyKey: 'hold' });
  assert.is(h2.id, h1.id);
  assert.is((await ledger.balance(u)).heldMicros, 3 * CENT);
  const c1 = await ledger.capture(h1.id, 2 * CENT);
  const c2 = await ledger.capture(h1.id, 3 * CENT);
  assert.is(c2.id, c1.id);
  const r1 = await ledger.refund(c1.id, { idempotencyKey: 'r', amountMicros: CENT });
  const r2 = await ledger.refund(c1.id, { idempotencyKey: 'r', amountMicros: CENT });
  assert.is(r2.id, r1.id);
  const b = await ledger.balance(u);
  assert.is(b.balanceMicros, 105 * CENT - 2 * CENT + CENT);
  assert.is(b.lifetimeUsageMicros, CENT);
  assert.is((await refusal(ledger.refund(c1.id, { idempotencyKey: 'r2', amountMicros: 2 * CENT }))).code,
    'REFUND_EXCEEDS_CHARGE');
});

s('a capture above the hold is capped at the hold', async () => {
  const { ledger } = billingOf(k);
  const u = (await k.asUser()).id;
  const h = await ledger.hold(u, 10 * CENT, { idempotencyKey: 'cap' });
  const e = await ledger.capture(h.id, 25 * CENT);
  assert.is(e.amountMicros, -10 * CENT);
  assert.is(e.uncollectedMicros, 15 * CENT);
  assert.is((await ledger.balance(u)).balanceMicros, 90 * CENT);
});

s('an uncovered hold is 402 INSUFFICIENT_CREDITS with an upgrade prompt', async () => {
  const { ledger } = billingOf(k);
  const u = (await k.asUser()).id;
  const e = await refusal(ledger.hold(u, 100 * CENT + 1, { idempotencyKey: 'big' }));
  assert.is(e.status, 402);
  assert.is(e.code, 'INSUFFICIENT_CREDITS');
  const details = e.errorDetails as { upgrade: { plans: string[] }; availableMicros: number };
  assert.equal(details.upgrade.plans, ['premium', 'enterprise']);
  assert.is(details.availableMicros, 100 * CENT);
  await ledger.hold(u, 100 * CENT, { idempotencyKey: 'exact' });
  assert.is((await refusal(ledger.hold(u, 1, { idempotencyKey: 'one' }))).code, 'INSUFFICIENT_CREDITS');
});

s('a hold never settled expires and frees its amount; capturing it then is refused', async () => {
  const { ledger } = billingOf(k);
  const u = (await k.asUser()).id;
  const h = await ledger.hold(u, 60 * CENT, { idempotencyKey: 'crash', ttlSeconds: 60 });
  assert.is((await ledger.balance(u)).balanceMicros, 40 * CENT);
  clock.advance(61_000);
  assert.is((await ledger.balance(u)).balanceMicros, 100 * CENT, 'computed on read');
  await ledger.hold(u, 100 * CENT, { idempotencyKey: 'after' });
  assert.is((await refusal(ledger.capture(h.id, 60 * CENT))).code, 'HOLD_EXPIRED');
});

s('free credits reset each month without rolling over; purchased credits stay', async () => {
  const { ledger } = billingOf(k);
  const u = (await k.asUser()).id;
  await ledger.grant(u, 30 * CENT, { idempotencyKey: 'buy', kind: 'purchase' });
  const h = await ledger.hold(u, 40 * CENT, { idempotencyKey: 'm1' });
  await ledger.capture(h.id, 40 * CENT);
  assert.is((await ledger.balance(u)).freeCreditsRemaining, 60);
  const start = clock.now();
  clock.set(Date.UTC(2026, 1, 1, 0, 0, 1));
  try {
    let b = await ledger.balance(u);
    assert.is(b.freeCreditsRemaining, 100, 'not 160: no roll-over');
    assert.is(b.purchasedMicros, 30 * CENT);
    assert.is(b.freeCreditsResetAt, '2026-03-01T00:00:00.000Z');
    const h2 = await ledger.hold(u, 5 * CENT, { idempotencyKey: 'm2' });
    await ledger.capture(h2.id, 5 * CENT);
    b = await ledger.balance(u);
    assert.is(b.freeCreditsRemainingMicros, 95 * CENT);
    assert.is(b.purchasedMicros, 30 * CENT);
  } finally {
    clock.set(start);
  }
});

s('invalid amounts are 400s', async () => {
  const { ledger } = billingOf(k);
  const u = (await k.asUser()).id;
  for (const bad of [0, -1, 1.5, Number.MAX_SAFE_INTEGER + 2]) {
    assert.is((await refusal(ledger.hold(u, bad, { idempotencyKey: `b${bad}` }))).status, 400, String(bad));
  }
  assert.is((await refusal(ledger.grant(u, 1, { idempotencyKey: '' }))).status, 400);
});

s('entries chain: each balanceAfter is the previous one plus the amount', async () => {
  const { ledger } = billingOf(k);
  const u = (await k.asUser()).id;
  await ledger.grant(u, 3 * CENT, { idempotencyKey: 'c1' });
  const h = await ledger.hold(u, 50 * CENT, { idempotencyKey: 'c2' });
  const c = await ledger.capture(h.id, 7_777);
  await ledger.refund(c.id, { idempotencyKey: 'c3' });
  await ledger.grant(u, -2 * CENT, { idempotencyKey: 'c4', kind: 'adjustment', reason: 'correction' });
  const em = k.kernel.orm!.em.fork();
  type Row = { userId: string; amountMicros: number; balanceAfterMicros: number; kind: string };
  const rows = await em.find<Row>('BillingEntry', { userId: u }, { orderBy: { id: 'asc' } } as never);
  assert.equal(rows.map((r) => r.kind), ['free_credit', 'grant', 'charge', 'refund', 'adjustment']);
  let running = 0;
  for (const r of rows) {
    running += r.amountMicros;
    assert.is(r.balanceAfterMicros, running);
  }
  assert.is((await ledger.balance(u)).balanceMicros, running);
});

s('capture `sql` runs on the capture\'s connection, and `within`\'s ORM writes are flushed into it', async () => {
  const { ledger } = billingOf(k);
  const u = (await k.asUser()).id;
  const count = async (ref: string) => Number((await k.kernel.root.cradle.orm.em.fork().getConnection().execute(
    'select count(*) as n from metering_usage where reference = ?', [ref]) as Array<{ n: number }>)[0].n);
  const insert = (db: Pick<import('@mikro-orm/core').EntityManager, 'getConnection' | 'getTransactionContext'>,
    ref: string, charged: number) => db.getConnection().execute(`insert into metering_usage (id, user_id, kind,
      subject, tokens_in, tokens_out, tokens, cost_micros, reference, status, at_ms, day) values (?, ?, 'chat', 'm', 1,
      1, 2, ?, ?, 'ok', 0, '2026-01-10')`, [crypto.randomUUID(), u, charged, ref], 'run', db.getTransactionContext())
    .then(() => undefined);
  const h1 = await ledger.hold(u, 10 * CENT, { idempotencyKey: 'sql-fail' });
  const failed = await ledger.capture(h1.id, 4 * CENT, { userId: u, sql: async (db, entry) => {
    await insert(db, 'sql-fail', -entry.amountMicros);
    throw new Error('usage write failed');
  } }).then(() => undefined, (e: Error) => e);
  assert.is(failed?.message, 'usage write failed');
  assert.is(await count('sql-fail'), 0, 'the usage row rolled back with the charge');
  assert.is((await ledger.balance(u)).heldMicros, 10 * CENT, 'nothing charged');
  await ledger.capture(h1.id, 4 * CENT, { userId: u, sql: (db, e) => insert(db, 'sql-ok', -e.amountMicros) });
  assert.is(await count('sql-ok'), 1);
  // An ORM write through `within` (no flush of its own) commits with the charge, as in em.transactional.
  const h2 = await ledger.hold(u, CENT, { idempotencyKey: 'within-orm' });
  await ledger.capture(h2.id, CENT, { userId: u, within: async (em) => {
    em.create('MeteringUsage', { userId: u, kind: 'chat', subject: 'm', tokensIn: 1, tokensOut: 1, tokens: 2,
      costMicros: CENT, reference: 'within-orm', status: 'ok', atMs: 0, day: '2026-01-10' } as never);
  } });
  assert.is(await count('within-orm'), 1, 'flushed into the capture\'s transaction');
  assert.is((await ledger.balance(u)).lifetimeUsageMicros, 5 * CENT);
});

s('capture `within` runs in the capture\'s transaction: it commits with the charge, or nothing does', async () => {
  const { ledger } = billingOf(k);
  const u = (await k.asUser()).id;
  const count = async (ref: string) => Number((await k.kernel.root.cradle.orm.em.fork().getConnection().execute(
    'select count(*) as n from metering_usage where reference = ?', [ref]) as Array<{ n: number }>)[0].n);
  const insert = (em: import('@mikro-orm/core').EntityManager, ref: string, charged: number) =>
    em.getConnection().execute(`insert into metering_usage (id, user_id, kind, subject, tokens_in, tokens_out, tokens,
      cost_micros, reference, status, at_ms, day) values (?, ?, 'chat', 'm', 1, 1, 2, ?, ?, 'ok', 0, '2026-01-10')`,
    [crypto.randomUUID(), u, charged, ref], 'run', em.getTransactionContext()).then(() => undefined);
  const h1 = await ledger.hold(u, 10 * CENT, { idempotencyKey: 'within-fail' });
  const failed = await ledger.capture(h1.id, 4 * CENT, { userId: u, within: async (em, entry) => {
    await insert(em, 'within-fail', -entry.amountMicros);
    throw new Error('usage write failed');
  } }).then(() => undefined, (e: Error) => e);
  assert.is(failed?.message, 'usage write failed');
  assert.is(await count('within-fail'), 0, 'the usage row rolled back');
  let b = await ledger.balance(u);
  assert.is(b.heldMicros, 10 * CENT, 'the hold is still held: nothing was charged');
  assert.is(b.lifetimeUsageMicros, 0);
  const entry = await ledger.capture(h1.id, 4 * CENT, { userId: u, within: (em, e) => insert(em, 'within-ok',
    -e.amountMicros) });
  assert.is(entry.amountMicros, -4 * CENT);
  assert.is(await count('within-ok'), 1, 'the usage row committed with the charge');
  const replay = await ledger.capture(h1.id, 4 * CENT, { userId: u, within: (em, e) => insert(em, 'within-ok',
    -e.amountMicros) });
  assert.is(replay.id, entry.id);
  assert.is(await count('within-ok'), 1, 'a replay writes nothing');
  b = await ledger.balance(u);
  assert.is(b.heldMicros, 0);
  assert.is(b.lifetimeUsageMicros, 4 * CENT);
  const other = (await k.asUser()).id;
  const h2 = await ledger.hold(other, CENT, { idempotencyKey: 'wrong-user' });
  assert.is((await refusal(ledger.capture(h2.id, CENT, { userId: u }))).status, 404, 'a wrong user hint is 404');
  assert.is((await ledger.capture(h2.id, CENT)).amountMicros, -CENT);
});

s('expired holds are swept lazily but always count: an expired hold cannot be captured, nor block a hold', async () => {
  const { ledger } = billingOf(k);
  const u = (await k.asUser()).id;
  const stale = await ledger.hold(u, 70 * CENT, { idempotencyKey: 'lazy-stale', ttlSeconds: 60 });
  const live = await ledger.hold(u, 10 * CENT, { idempotencyKey: 'lazy-live', ttlSeconds: 600 });
  clock.advance(61_000);
  assert.is((await refusal(ledger.capture(stale.id, CENT, { userId: u }))).code, 'HOLD_EXPIRED',
    'refused at once, with no other operation in between');
  const small = await ledger.hold(u, 5 * CENT, { idempotencyKey: 'lazy-small' });
  assert.is((await ledger.capture(live.id, 10 * CENT, { userId: u })).amountMicros, -10 * CENT);
  const big = await ledger.hold(u, 85 * CENT, { idempotencyKey: 'lazy-big' });
  assert.is(big.amountMicros, 85 * CENT, 'the expired 70 cents were free again');
  const b = await ledger.balance(u);
  assert.is(b.heldMicros, 90 * CENT);
  assert.is(b.balanceMicros, 0);
  await ledger.release(small.id);
  await ledger.release(big.id);
  assert.is((await ledger.balance(u)).balanceMicros, 90 * CENT);
});

s.run();
