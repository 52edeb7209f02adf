import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { startTestKernel, assertError, type TestKit } from '../kit/index.ts';
import { billingOf, CENT } from './helpers.ts';

let k: TestKit;
const s = suite('billing over HTTP: plans, balance, transactions, admin credits');
s.before(async () => {
  k = await startTestKernel();
});
s.after(async () => k?.stop());

s('GET /plans lists the seeded public plans with 003\'s numbers; /plans/{id} one', async () => {
  const res = await k.get('/v1/plans');
  assert.is(res.status, 200, res.text);
  assert.equal(res.body.data.map((p: { id: string }) => p.id), ['free', 'premium', 'enterprise']);
  const premium = (await k.get('/v1/plans/premium')).body;
  assert.is(premium.monthlyFreeCreditsCents, 1000);
  assert.is(premium.limits.tokensPerDay, 100_000);
  assert.is((await k.get('/v1/plans/nope')).status, 404);
  assert.is((await k.get('/v1/plans/Bad%20Id')).status, 400);
});

s('GET /billing/balance: the free credits of a new user; anonymous is 401', async () => {
  const alice = await k.asUser();
  const res = await alice.get('/v1/billing/balance');
  assert.is(res.status, 200, res.text);
  assert.is(res.body.balanceCents, 100);
  assert.is(res.body.freeCreditsRemaining, 100);
  assert.is(res.body.lifetimeUsageCents, 0);
  assert.ok(res.body.freeCreditsResetAt.endsWith('-01T00:00:00.000Z'));
  assert.is((await k.get('/v1/billing/balance')).status, 401);
});

s(
  'admin credits: reason required, audited, idempotent by Idempotency-Key; users see them as transactions',
  async () => {
    const admin = await k.asAdmin();
    const bob = await k.asUser();
    const path = `/v1/admin/users/${bob.id}/credits`;
    const key = { 'idempotency-key': 'grant-1' };
    assertError(await admin.post(path, { amountCents: 250 }, key), 400, 'VALIDATION_ERROR');
    const first = await admin.post(path, { amountCents: 250, reason: 'support' }, key);
    assert.is(first.status, 201, first.text);
    assert.is(first.body.amountMicros, 250 * CENT);
    const again = await admin.post(path, { amountCents: 250, reason: 'support' }, key);
    assert.is(again.body.id, first.body.id);
    assert.is((await bob.get('/v1/billing/balance')).body.balanceCents, 350);
    assertError(await bob.post(path, { amountCents: 1, reason: 'me' }, { 'idempotency-key': 'x' }), 403);
    const audit = await k.kernel.orm!.em.fork().find('BillingAudit', { targetUserId: bob.id });
    assert.is(audit.length, 1, 'one audit row: the replay moved nothing');

    const list = await bob.get('/v1/billing/transactions?limit=1');
    assert.is(list.status, 200, list.text);
    assert.is(list.body.data.length, 1);
    assert.is(list.body.data[0].kind, 'grant', 'newest first');
    const next = await bob.get(`/v1/billing/transactions?limit=1&cursor=${list.body.pagination.nextCursor}`);
    assert.is(next.body.data[0].kind, 'free_credit');
    const grants = await bob.get('/v1/billing/transactions?kind=grant');
    assert.is(grants.body.data.length, 1);
    const one = await bob.get(`/v1/billing/transactions/${first.body.id}`);
    assert.is(one.body.reason, 'support');
    const carol = await k.asUser();
    assert.is((await carol.get(`/v1/billing/transactions/${first.body.id}`)).status, 404, "not another user's");
  },
);

s('usage per day: charges less refunds, exact micros, cents rounded once per bucket', async () => {
  const dave = await k.asUser();
  const { ledger } = billingOf(k);
  for (let i = 0; i < 3; i++) {
    const h = await ledger.hold(dave.id, CENT, { idempotencyKey: `u${i}` });
    await ledger.capture(h.id, 143_000);
  }
  const res = await dave.get('/v1/billing/usage?period=day');
  assert.is(res.status, 200, res.text);
  assert.is(res.body.totalCostMicros, 429_000);
  assert.is(res.body.totalCostCents, 0);
  assert.is(res.body.charges, 3);
  assert.is(res.body.buckets.length, 1);
  assert.is((await dave.get('/v1/billing/balance')).body.balanceMicros, 100 * CENT - 429_000);
  assertError(await dave.get('/v1/billing/usage?period=year'), 400, 'VALIDATION_ERROR');
});

s('a paid operation at zero balance is 402 INSUFFICIENT_CREDITS (through the exported ledger)', async () => {
  const erin = await k.asUser();
  const { ledger } = billingOf(k);
  const h = await ledger.hold(erin.id, 100 * CENT, { idempotencyKey: 'all' });
  await ledger.capture(h.id, 100 * CENT);
  const e = await ledger.hold(erin.id, 1, { idempotencyKey: 'more' }).catch((err) => err);
  assert.is(e.status, 402);
  assert.ok((e.errorDetails.upgrade.message as string).includes('premium'));
});

s.run();
