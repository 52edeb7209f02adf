import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import metering from '../../plugins/metering/index.ts';
import { invalidationSubscribers } from '../../plugins/metering/invalidation.ts';
import { startTestKernel, type TestKit } from '../kit/index.ts';
import { MemorySubscriptions, stubBilling } from './stubBilling.ts';

const test = suite('metering: billing\'s change events invalidate the plan cache at once');
const subs = new MemorySubscriptions();
let k: TestKit;

test.before(async () => {
  const listening = { ...metering, subscribers: [...(metering.subscribers ?? []), ...invalidationSubscribers()] };
  k = await startTestKernel({
    plugins: [stubBilling(subs), listening],
    config: { plugins: { metering: { requestFlushIntervalMs: 0, maintenanceIntervalMs: 0, cacheTtlMs: 300_000 } } },
  });
});
test.after(async () => { await k?.stop(); });

test('billing.subscription.changed and billing.plan.changed drop the cached answers', async () => {
  const cradle = k.kernel.runtimes.get('metering')!.container.cradle as any;
  const publish = k.kernel.runtimes.get('billing')!.publish;
  assert.is((await cradle.entitlements.check('u-1', 'tools')).ok, false);
  await subs.activate('u-1', 'premium', {});
  assert.is((await cradle.entitlements.check('u-1', 'tools')).ok, false, 'still cached');
  await publish('billing.subscription.changed', { userId: 'u-1' });
  await k.settle();
  assert.is((await cradle.entitlements.check('u-1', 'tools')).ok, true);
  subs.planList.find((p) => p.id === 'premium')!.features = [];
  await publish('billing.plan.changed', { planId: 'premium' });
  await k.settle();
  assert.is((await cradle.entitlements.check('u-1', 'tools')).ok, false);
});

test.run();
