import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { startTestKernel, assertError, type TestKit } from '../kit/index.ts';
import { ManualClock } from '../../kernel/ports/clock.ts';
import { billingOf, signInAgain } from './helpers.ts';

const clock = new ManualClock(Date.UTC(2026, 0, 10, 12));
let k: TestKit;
const s = suite('billing: subscriptions');
s.before(async () => {
  k = await startTestKernel({ clock });
});
s.after(async () => k?.stop());

const DAY = 86_400_000;

s(
  'no subscription: the free plan applies; subscribing to premium starts a month and tops up the free credits',
  async () => {
    const u = await k.asUser();
    const none = await u.get('/v1/subscription');
    assert.is(none.status, 200, none.text);
    assert.is(none.body.subscription, null);
    assert.is(none.body.plan.id, 'free');
    const res = await u.post('/v1/subscription', { planId: 'premium' });
    assert.is(res.status, 200, res.text);
    assert.is(res.body.change, 'subscribed');
    assert.is(res.body.plan.id, 'premium');
    assert.is(res.body.subscription.status, 'active');
    assert.is(res.body.subscription.currentPeriodEnd, '2026-02-10T12:00:00.000Z');
    assert.is(res.body.subscription.expiresAt, null, 'renews itself (renewal: auto)');
    assert.is((await u.get('/v1/billing/balance')).body.freeCreditsRemaining, 1000);
    assertError(await u.post('/v1/subscription', { planId: 'nope' }), 404);
    assertError(await u.post('/v1/subscription', {}), 400, 'VALIDATION_ERROR');
  },
);

s('a downgrade waits for the period end; an upgrade is at once', async () => {
  const u = await k.asUser();
  await u.post('/v1/subscription', { planId: 'premium' });
  const down = await u.post('/v1/subscription', { planId: 'free' });
  assert.is(down.body.change, 'downgrade_scheduled');
  assert.is(down.body.plan.id, 'premium', 'premium until the period ends');
  assert.is(down.body.subscription.scheduledPlanId, 'free');
  const up = await u.post('/v1/subscription', { planId: 'enterprise' });
  assert.is(up.body.change, 'upgraded');
  assert.is(up.body.subscription.planId, 'enterprise');
  assert.is(up.body.subscription.scheduledPlanId, null);
  const start = clock.now();
  try {
    await u.post('/v1/subscription', { planId: 'premium' });
    clock.advance(32 * DAY);
    const after = await u.get('/v1/subscription', await signInAgain(k, u.email));
    assert.is(after.body.subscription.planId, 'premium');
    assert.is(after.body.subscription.currentPeriodStart, '2026-02-10T12:00:00.000Z');
    assert.is(after.body.subscription.currentPeriodEnd, '2026-03-10T12:00:00.000Z');
  } finally {
    clock.set(start);
  }
});

s('cancel marks the period end, resume undoes it; past the end it is cancelled and the free plan applies', async () => {
  const u = await k.asUser();
  assertError(await u.post('/v1/subscription/cancel'), 409, 'NO_ACTIVE_SUBSCRIPTION');
  await u.post('/v1/subscription', { planId: 'premium' });
  const c = await u.post('/v1/subscription/cancel');
  assert.is(c.status, 200, c.text);
  assert.is(c.body.cancelAtPeriodEnd, true);
  assert.is(c.body.expiresAt, c.body.currentPeriodEnd);
  const r = await u.post('/v1/subscription/resume');
  assert.is(r.body.cancelAtPeriodEnd, false);
  assertError(await u.post('/v1/subscription/resume'), 409, 'NOT_CANCELLED');
  await u.post('/v1/subscription/cancel');
  const start = clock.now();
  try {
    clock.advance(31 * DAY + 1);
    const after = await u.get('/v1/subscription', await signInAgain(k, u.email));
    assert.is(after.body.subscription.status, 'cancelled');
    assert.is(after.body.plan.id, 'free');
  } finally {
    clock.set(start);
  }
});

s('a period end passed while no server ran is applied on read and stored by the next write', async () => {
  const u = await k.asUser();
  await u.post('/v1/subscription', { planId: 'premium' });
  const start = clock.now();
  try {
    clock.advance(95 * DAY); // three period ends with nobody looking
    const again = await signInAgain(k, u.email);
    const read = await u.get('/v1/subscription', again);
    assert.is(read.body.subscription.currentPeriodStart, '2026-04-10T12:00:00.000Z');
    assert.is(read.body.subscription.currentPeriodEnd, '2026-05-10T12:00:00.000Z');
    const em = k.kernel.orm!.em.fork();
    type Row = { userId: string; currentPeriodEnd: Date };
    const stored = () => em.fork().findOne<Row>('BillingSubscription', { userId: u.id });
    assert.is(
      new Date((await stored())!.currentPeriodEnd).toISOString(),
      '2026-02-10T12:00:00.000Z',
      'a read writes nothing',
    );
    assert.is((await u.post('/v1/subscription/cancel', undefined, again)).status, 200);
    assert.is(new Date((await stored())!.currentPeriodEnd).toISOString(), '2026-05-10T12:00:00.000Z');
  } finally {
    clock.set(start);
  }
});

s('payment renewal: a paid plan lapses into past_due for its grace period, then expires', async () => {
  const { subscriptions } = billingOf(k);
  const u = await k.asUser();
  await subscriptions.activate(u.id, 'premium', {
    periodEnd: new Date(clock.now() + DAY),
    source: 'payment',
    externalId: 'sub_1',
  });
  await subscriptions.markPastDue(u.id, 'sub_1');
  let cur = await subscriptions.current(u.id);
  assert.is(cur.subscription!.status, 'past_due');
  assert.is(cur.plan.id, 'premium', 'still premium during the 24 h grace');
  const start = clock.now();
  try {
    clock.advance(24 * 3_600_000);
    cur = await subscriptions.current(u.id);
    assert.is(cur.subscription!.status, 'expired');
    assert.is(cur.plan.id, 'free');
  } finally {
    clock.set(start);
  }
});

s('admins list subscriptions with email, name and role, and change a plan (audited)', async () => {
  const admin = await k.asAdmin();
  const u = await k.asUser('listed');
  const set = await admin.put(`/v1/admin/users/${u.id}/subscription`, { planId: 'enterprise', reason: 'deal' });
  assert.is(set.status, 200, set.text);
  assert.is(set.body.planId, 'enterprise');
  assert.is(set.body.source, 'admin');
  const list = await admin.get('/v1/admin/subscriptions?planId=enterprise&limit=100');
  assert.is(list.status, 200, list.text);
  const item = list.body.data.find((i: { user: { id: string } }) => i.user?.id === u.id);
  assert.ok(item, 'listed');
  assert.is(item.user.email, u.email);
  assert.is(item.user.name, 'listed');
  assert.is(item.user.role, 'user');
  const audit = await k.kernel.orm!.em.fork().find('BillingAudit', { targetUserId: u.id });
  assert.is(audit.length, 1);
  assertError(await u.get('/v1/admin/subscriptions'), 403);
  assertError(await admin.put(`/v1/admin/users/${u.id}/subscription`, { planId: 'nope' }), 404);
});

s('admin plan CRUD: create, change, delete an unused plan; a plan in use is retired, never deleted', async () => {
  const admin = await k.asAdmin();
  const body = { id: 'team', name: 'Team', priceCents: 4900, interval: 'month', monthlyFreeCreditsCents: 2000,
    features: ['tools'], limits: { tokensPerDay: 500_000, rateLimitTier: 'premium' } };
  const created = await admin.post('/v1/admin/plans', body);
  assert.is(created.status, 201, created.text);
  assertError(await admin.post('/v1/admin/plans', body), 409, 'PLAN_EXISTS');
  const patched = await admin.patch('/v1/admin/plans/team', { priceCents: 3900 });
  assert.is(patched.body.priceCents, 3900);
  assert.ok((await k.get('/v1/plans')).body.data.some((p: { id: string }) => p.id === 'team'));
  const u = await k.asUser();
  assert.is((await u.post('/v1/subscription', { planId: 'team' })).status, 200);
  const del = await admin.delete('/v1/admin/plans/team');
  assert.is(del.status, 200, del.text);
  assert.is(del.body.deleted, false);
  assert.is(del.body.plan.status, 'retired');
  assert.not.ok((await k.get('/v1/plans')).body.data.some((p: { id: string }) => p.id === 'team'));
  assertError(await (await k.asUser()).post('/v1/subscription', { planId: 'team' }), 409, 'PLAN_RETIRED');
  assert.is((await u.get('/v1/subscription')).body.plan.id, 'team', 'its subscribers keep it');
  await admin.post('/v1/admin/plans', { ...body, id: 'unused' });
  assert.is((await admin.delete('/v1/admin/plans/unused')).body.deleted, true);
  assert.is((await k.get('/v1/plans/unused')).status, 404);
  assertError(await admin.delete('/v1/admin/plans/free'), 409, 'DEFAULT_PLAN');
});

s.run();

const t = suite('billing: the principal\'s tier comes from the plan');
t('the rate-limit tier follows the plan; an expired subscription drops it on the very next request', async () => {
  const tclock = new ManualClock(Date.now());
  const k = await startTestKernel({
    clock: tclock,
    config: { rateLimit: { enabled: true, tiers: { free: 50, premium: 500, enterprise: 5000 } } },
  });
  const u = await k.asUser();
  const limit = async () => (await u.get('/v1/billing/balance')).headers.get('x-ratelimit-limit');
  assert.is(await limit(), '50');
  await u.post('/v1/subscription', { planId: 'premium' });
  assert.is(await limit(), '500', 'the same token, the new plan');
  // Payments set a short period; cancelled, it ends in a minute, well within the token's life.
  await billingOf(k).subscriptions.activate(u.id, 'premium', {
    periodEnd: new Date(tclock.now() + 60_000),
    source: 'payment',
  });
  await u.post('/v1/subscription/cancel');
  assert.is(await limit(), '500');
  try {
    tclock.advance(60_000);
    assert.is(await limit(), '50', 'expired: refused the premium tier at once');
    assert.is((await u.get('/v1/subscription')).body.subscription.status, 'cancelled');
  } finally {
    await k.stop();
  }
});

t.run();
