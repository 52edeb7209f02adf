/** A paid plan goes through the payment gateway first: `fake` completes at once; a pending checkout waits. */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import fake from '../../adapters/payments/fake.ts';
import type { PaymentGateway } from '../../kernel/ports/payments.ts';
import type { AdapterDefinition, AdapterLifecycle } from '../../kernel/ports/adapter.ts';
import { startTestKernel, type TestKit } from '../kit/index.ts';

const requests: Array<{ planId: string; idempotencyKey: string }> = [];
/** The fake gateway, except that subscriptions answer a checkout URL the way Stripe does. */
const checkoutFirst: AdapterDefinition = {
  ...(fake as AdapterDefinition),
  create: async (options: never, ctx: never) => {
    const gateway = (await fake.create(options, ctx)) as PaymentGateway;
    return <PaymentGateway & AdapterLifecycle>{
      ...gateway,
      createSubscription: async (r: { planId: string; idempotencyKey: string }) => {
        requests.push(r);
        return { status: 'pending' as const, checkoutUrl: `https://checkout.example/${r.planId}`,
          externalId: `sub_${requests.length}`, planId: r.planId };
      },
    };
  },
};

const s = suite('billing: paid plans and the payment gateway');
let k: TestKit;
let pending: TestKit;
s.before(async () => {
  k = await startTestKernel();
  pending = await startTestKernel({
    adapters: { payments: { checkoutFirst } },
    config: { adapters: { payments: { use: 'checkoutFirst' } } },
  });
});
s.after(async () => { await k?.stop(); await pending?.stop(); });

s('on the fake gateway a paid plan starts at once', async () => {
  const u = await k.asUser();
  const res = await u.post('/v1/subscription', { planId: 'premium' });
  assert.is(res.status, 200, res.text);
  assert.is(res.body.subscription.planId, 'premium');
});

s('with a checkout to complete: 202 with its URL, and the plan does not start until the payment arrives', async () => {
  const u = await pending.asUser();
  const res = await u.post('/v1/subscription', { planId: 'premium' });
  assert.is(res.status, 202, res.text);
  assert.equal(res.body, { status: 'pending', planId: 'premium', checkoutUrl: 'https://checkout.example/premium' });
  const again = await u.post('/v1/subscription', { planId: 'premium' });
  assert.is(again.status, 202);
  assert.is(requests.at(-1)!.idempotencyKey, requests.at(-2)!.idempotencyKey, 'a retried click: the same checkout');
  const now = await u.get('/v1/subscription');
  assert.is(now.body.plan.id, 'free', 'still on the default plan');
  const free = await u.post('/v1/subscription', { planId: 'free' });
  assert.is(free.status, 200, 'a free plan needs no payment');
});

s.run();
