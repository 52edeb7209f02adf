import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ManualClock } from '../../kernel/ports/clock.ts';
import { enforce, entitlementError, refuses, usageWarning, type MeteringExports } from '../../plugins/metering/api.ts';
import { startMetering, type MeteringKit } from './helpers.ts';
import { PASSWORD } from '../identity/helpers.ts';
import { MICROS_PER_CENT } from '../../plugins/billing/api.ts';

type Mail = { to: string | string[]; subject: string };

const test = suite('metering: limits and entitlements');
let k: MeteringKit;
const clock = new ManualClock(Date.now());

test.before(async () => { k = await startMetering({ clock, config: { cacheTtlMs: 60_000 } }); });
test.after(async () => { await k?.stop(); });

async function use(userId: string, tokens: number, costMicros = 0) {
  const em = k.kernel.orm!.em.fork();
  k.cradle.metering.record(em, { userId, kind: 'tool', subject: 't', tokensIn: tokens, tokensOut: 0, costMicros });
  await em.flush();
}
const limits = () => k.cradle.limits as MeteringExports['limits'];

test('free plan: ok, warn from 80%, deny at 100% with the reset time and the plans that lift it', async () => {
  const u = await k.asUser();
  await use(u.id, 7000);
  assert.equal(await limits().check(u.id, { tokens: 500 }), { outcome: 'ok' });
  const warn = await limits().check(u.id, { tokens: 1000 });
  assert.is(warn.outcome, 'warn');
  assert.match(usageWarning(warn)!, /80% of your tokensPerDay limit \(10000 tokens\)/);
  assert.equal(enforce(warn), { 'X-Usage-Warning': usageWarning(warn) });
  const tooBig = await limits().check(u.id, { tokens: 3001 });
  assert.is(tooBig.outcome, 'deny');
  assert.is(await k.kernel.orm!.em.fork().count('MeteringLimitNotice', { userId: u.id }), 0,
    'an ask that would pass the limit is refused, but the limit is not reached: no notice');
  await use(u.id, 3000);
  const deny = await limits().check(u.id, {});
  assert.is(deny.outcome, 'deny');
  if (deny.outcome !== 'deny') return;
  assert.is(deny.limit, 'tokensPerDay');
  const midnight = new Date(clock.now());
  midnight.setUTCHours(24, 0, 0, 0);
  assert.is(deny.resetAt, midnight.toISOString());
  assert.equal(deny.plans, ['premium', 'enterprise']);
  assert.not.ok(deny.grace);
  assert.ok(refuses(deny));
  try {
    enforce(deny);
    assert.unreachable('a refusing decision throws');
  } catch (e) {
    const err = e as { status: number; code: string; errorDetails: Record<string, unknown> };
    assert.is(err.status, 402);
    assert.is(err.code, 'USAGE_LIMIT_EXCEEDED');
    assert.equal(err.errorDetails.plans, ['premium', 'enterprise']);
    assert.is(err.errorDetails.limit, 'tokensPerDay');
    assert.is(err.errorDetails.resetAt, deny.resetAt);
  }
});

test('the monthly cost limit is counted in microcents', async () => {
  const u = await k.asUser();
  await use(u.id, 0, 100 * MICROS_PER_CENT - 1);
  assert.is((await limits().check(u.id, {})).outcome, 'warn');
  const over = await limits().check(u.id, { costMicros: 2 });
  assert.is(over.outcome, 'deny');
  if (over.outcome === 'deny') assert.is(over.limit, 'costCentsPerMonth');
});

test('reaching a limit notifies once: one event, one mail, however many checks', async () => {
  const u = await k.asUser('notified');
  await k.settle(); // identity.user.registered -> the contact
  await use(u.id, 10_000);
  await Promise.all(Array.from({ length: 10 }, () => limits().check(u.id, {})));
  await limits().check(u.id, { tokens: 5 });
  await k.settle();
  const notices = await k.kernel.orm!.em.fork().count('MeteringLimitNotice', { userId: u.id });
  assert.is(notices, 1);
  const mails = (await (k.kernel.root.cradle.mailer as unknown as { outbox(): Mail[] }).outbox())
    .filter((m) => [m.to].flat().includes(u.email) && /limit/.test(m.subject));
  assert.is(mails.length, 1);
});

test('a deleted user\'s address is forgotten', async () => {
  const u = await k.asUser('leaving');
  await k.settle();
  const contacts = () => k.kernel.orm!.em.fork().count('MeteringContact', { userId: u.id });
  assert.is(await contacts(), 1);
  const gone = await u.request('DELETE', '/v1/users/me', { body: { password: PASSWORD } });
  assert.is(gone.status, 204, gone.text);
  await k.settle();
  assert.is(await contacts(), 0);
});

test('premium: the grace period lets an exceeded limit through with a flag, for 24 h', async () => {
  const u = await k.asUser();
  await k.subs.activate(u.id, 'premium', {});
  await use(u.id, 0, 5000 * MICROS_PER_CENT);
  const first = await limits().check(u.id, {});
  assert.is(first.outcome, 'deny');
  if (first.outcome !== 'deny') return;
  assert.is(first.limit, 'costCentsPerMonth');
  assert.ok(first.grace);
  assert.not.ok(refuses(first));
  assert.match(enforce(first)['X-Usage-Warning'], /grace period until/);
  assert.equal(first.plans, ['enterprise']);
  clock.advance(24 * 3_600_000 + 1000);
  const later = await limits().check(u.id, {});
  if (new Date(clock.now()).getUTCMonth() === new Date(clock.now() - 86_400_000).getUTCMonth()) {
    assert.is(later.outcome, 'deny');
    assert.ok(refuses(later), 'past the grace period the request is refused');
  }
  clock.set(Date.now());
});

test('entitlements: a feature outside the plan names the plans that include it; cached per user', async () => {
  const u = await k.asUser();
  const calls = k.subs.calls;
  const no = await k.cradle.entitlements.check(u.id, 'tools');
  assert.equal(no, { ok: false, code: 'SUBSCRIPTION_REQUIRED', plans: ['premium', 'enterprise'] });
  assert.equal(await k.cradle.entitlements.check(u.id, 'chat'), { ok: true });
  for (let i = 0; i < 50; i++) await k.cradle.entitlements.check(u.id, 'tools');
  assert.is(k.subs.calls - calls, 1, 'billing is asked once within the TTL');
  const err = entitlementError('tools', ['premium']);
  assert.is(err.status, 402);
  assert.is(err.code, 'SUBSCRIPTION_REQUIRED');
  await k.subs.activate(u.id, 'premium', {});
  k.cradle.planCache.invalidateUser(u.id);
  assert.equal(await k.cradle.entitlements.check(u.id, 'tools'), { ok: true });
});

test('a burst of checks on a cold cache asks billing once', async () => {
  const calls = k.subs.calls;
  const answers = await Promise.all(Array.from({ length: 25 }, () => k.cradle.limits.check('u-burst', { tokens: 1 })));
  assert.ok(answers.every((a) => a.outcome === 'ok'));
  assert.is(k.subs.calls - calls, 1);
});

test('a subscription past its period end is not served from the cache', async () => {
  const u = await k.asUser();
  await k.subs.activate(u.id, 'premium', { periodEnd: new Date(clock.now() + 60_000) });
  assert.equal(await k.cradle.entitlements.check(u.id, 'tools'), { ok: true });
  k.subs.subs.get(u.id)!.status = 'expired';
  clock.advance(60_001);
  assert.is((await k.cradle.entitlements.check(u.id, 'tools')).ok, false);
  clock.set(Date.now());
});

test.run();
