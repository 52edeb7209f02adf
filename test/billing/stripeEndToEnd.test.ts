/**
 * Paid plans and credit purchases end to end: the real billing and payments plugins with the real
 * `stripe` adapter. Stripe's API is nock (recorded shapes, test/helpers/stripeFixtures.ts); webhooks
 * are signed with the SDK's `generateTestHeaderString` and delivered as Stripe Billing sends them.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { startTestKernel, assertError, type TestKit, type SignedInClient } from '../kit/index.ts';
import { defineAdapter } from '../../kernel/ports/adapter.ts';
import type { Egress } from '../../kernel/ports/egress.ts';
import { ManualClock } from '../../kernel/ports/clock.ts';
import { createUndiciEgress } from '../../adapters/egress/undiciClient.ts';
import { guarded } from '../helpers/guarded.ts';
import { startNock, type NockSession } from '../helpers/nockSession.ts';
import {
  STRIPE_KEY, STRIPE_WEBHOOK_SECRET, checkoutSession, renewalInvoice, signedStripeDelivery, stripeEvent, subscription,
} from '../helpers/stripeFixtures.ts';

const DAY = 86_400;
const PRICES = { premium: 'price_1QpremiumMonthly000000', enterprise: 'price_1QenterpriseMonthly0000' };
const clock = new ManualClock(Date.parse('2026-12-01T10:00:00Z'));
const sec = () => Math.floor(clock.now() / 1000);
const iso = (seconds: number) => new Date(seconds * 1000).toISOString();
type Body = Record<string, string>;

let session: NockSession | undefined;
const nock = ((...a: Parameters<NockSession['nock']>) => session!.nock(...a)) as NockSession['nock'];
const nockedEgress = defineAdapter<Egress>({
  port: 'egress', name: 'nocked', optionsSchema: { type: 'object' },
  create: (_o, ctx) => createUndiciEgress({}, ctx, { dispatcher: session!.dispatcher }),
});

const s = guarded(suite('billing + payments + stripe adapter: paid plans and purchases end to end'));
let k: TestKit;
let evt = 0;

s.before(async () => {
  session = await startNock();
  k = await startTestKernel({
    clock,
    adapters: { egress: { nocked: nockedEgress } },
    config: {
      adapters: {
        egress: { use: 'nocked' },
        payments: { use: 'stripe', secretKey: STRIPE_KEY, webhookSecret: STRIPE_WEBHOOK_SECRET, prices: PRICES,
          maxNetworkRetries: 0 },
      },
      plugins: { billing: { planCacheSeconds: 0 } },
    },
  });
});
s.after(async () => {
  await k?.stop();
  session?.stop();
});

/** POST the event as Stripe does (signed now); the receipt's outcome. */
async function deliver(event: unknown): Promise<string> {
  const d = signedStripeDelivery(event, { timestampSeconds: sec() });
  const res = await k.request('POST', '/v1/billing/webhooks/stripe', { raw: d.rawBody, headers: d.headers });
  assert.is(res.status, 200, res.text);
  return res.body.outcome;
}

const eventId = (name: string) => `evt_1Q${name}${String(++evt).padStart(6, '0')}`;

/** Stripe's objects for one customer's subscription `subId` to `planId`, period ending at `end`. */
function stripeSub(user: SignedInClient, subId: string, planId: keyof typeof PRICES) {
  const sub = (status: string, end: number, o: { cancelAtPeriodEnd?: boolean; canceledAt?: number } = {}) =>
    subscription({ id: subId, status, userId: user.id, planId, createdSeconds: sec(), periodEndSeconds: end,
      priceId: PRICES[planId], cancelAtPeriodEnd: o.cancelAtPeriodEnd, canceledAtSeconds: o.canceledAt ?? null });
  const invoice = (reason: 'subscription_create' | 'subscription_cycle', end: number) => ({
    ...renewalInvoice({ subscriptionId: subId, userId: user.id, planId, createdSeconds: sec(), periodEndSeconds: end }),
    billing_reason: reason,
  });
  return {
    created: (status: string, end: number) => stripeEvent(eventId('subcreated'), 'customer.subscription.created',
      sec(), sub(status, end)),
    updated: (status: string, end: number, o: { cancelAtPeriodEnd?: boolean; was?: Record<string, unknown> } = {}) =>
      stripeEvent(eventId('subupdated'), 'customer.subscription.updated', sec(), sub(status, end, o), o.was),
    deleted: (end: number) => stripeEvent(eventId('subdeleted'), 'customer.subscription.deleted', sec(),
      sub('canceled', end, { canceledAt: sec() })),
    paid: (reason: 'subscription_create' | 'subscription_cycle', end: number) =>
      stripeEvent(eventId('invpaid'), 'invoice.paid', sec(), invoice(reason, end)),
    failed: (end: number) => stripeEvent(eventId('invfailed'), 'invoice.payment_failed', sec(),
      { ...invoice('subscription_cycle', end), status: 'open', amount_paid: 0, amount_remaining: 1999 }),
    checkoutDone: () => stripeEvent(eventId('csdone'), 'checkout.session.completed', sec(), checkoutSession({
      seed: subId, mode: 'subscription', createdSeconds: sec() - 60, userId: user.id, status: 'complete',
      paymentStatus: 'paid', subscription: subId, metadata: { userId: user.id, planId },
      successUrl: 'http://localhost:3000/billing/subscribed', cancelUrl: 'http://localhost:3000/billing/cancelled',
    })),
  };
}

/** Stripe answers the subscription-mode Checkout Session for `planId`'s price. */
function armSubscriptionCheckout(user: SignedInClient, planId: keyof typeof PRICES) {
  return nock('https://api.stripe.com')
    .post('/v1/checkout/sessions', (b: Body) => b.mode === 'subscription' && b['line_items[0][price]'] ===
      PRICES[planId] && b.client_reference_id === user.id && b['subscription_data[metadata][planId]'] === planId)
    .reply((req) => [200, checkoutSession({
      seed: String(req.headers.get('idempotency-key')), mode: 'subscription', createdSeconds: sec(), userId: user.id,
      metadata: { userId: user.id, planId }, successUrl: 'http://localhost:3000/billing/subscribed',
      cancelUrl: 'http://localhost:3000/billing/cancelled',
    })]);
}

/** The user through an API key: the test moves the clock months on, past any access token's life. */
async function keyed(user: SignedInClient): Promise<SignedInClient> {
  const res = await user.post('/v1/users/me/api-keys', { name: 'e2e' });
  assert.is(res.status, 201, res.text);
  const h = { 'x-api-key': res.body.key as string };
  return {
    ...user,
    get: (path) => k.request('GET', path, { headers: h }),
    post: (path, body, headers = {}) => k.request('POST', path, { body, headers: { ...h, ...headers } }),
  };
}

async function subscription_(user: SignedInClient) {
  const res = await user.get('/v1/subscription');
  assert.is(res.status, 200, res.text);
  return res.body as { subscription: Record<string, unknown> | null; plan: { id: string } };
}

/** Subscribes through Checkout and completes it with the webhooks Stripe sends; returns the period end. */
async function subscribePaid(user: SignedInClient, subId: string, planId: keyof typeof PRICES): Promise<number> {
  const scope = armSubscriptionCheckout(user, planId);
  const res = await user.post('/v1/subscription', { planId });
  assert.is(res.status, 202, res.text);
  assert.ok(scope.isDone());
  const end = sec() + 30 * DAY;
  const stripe = stripeSub(user, subId, planId);
  assert.is(await deliver(stripe.created('active', end)), 'applied');
  return end;
}

s('subscribe to a paid plan: 202 with the Checkout URL; the plan starts with the webhooks, with Stripe\'s period',
  async () => {
    const user = await keyed(await k.asUser('stripe-e2e'));
    const scope = armSubscriptionCheckout(user, 'premium');
    const res = await user.post('/v1/subscription', { planId: 'premium' });
    assert.is(res.status, 202, res.text);
    assert.is(res.body.status, 'pending');
    assert.match(res.body.checkoutUrl, /^https:\/\/checkout\.stripe\.com\/c\/pay\/cs_test_/);
    assert.ok(scope.isDone(), 'one Checkout Session in subscription mode, for the plan\'s price');
    assert.is((await subscription_(user)).plan.id, 'free', 'nothing starts before Stripe says it was paid');

    // What Stripe Billing sends when the Checkout completes, in the order it arrived here.
    const end = sec() + 30 * DAY;
    const stripe = stripeSub(user, 'sub_1QkernelE2E000001', 'premium');
    const created = stripe.created('incomplete', end);
    assert.is(await deliver(stripe.checkoutDone()), 'ignored', 'subscriptions follow their own events');
    assert.is(await deliver(stripe.paid('subscription_create', end)), 'applied', 'the first invoice activates it');
    let now = await subscription_(user);
    assert.equal([now.plan.id, now.subscription?.status, now.subscription?.currentPeriodEnd],
      ['premium', 'active', iso(end)]);
    assert.is(now.subscription?.currentPeriodStart, iso(end - 30 * DAY), 'Stripe\'s period start');
    assert.is(now.subscription?.externalId, 'sub_1QkernelE2E000001');
    assert.is(await deliver(created), 'ignored', 'incomplete: nothing to grant or take away');
    assert.is(await deliver(stripe.updated('active', end, { was: { status: 'incomplete' } })), 'applied');
    assert.is(await deliver(created), 'duplicate', 'a replay');
    now = await subscription_(user);
    assert.equal([now.plan.id, now.subscription?.status, now.subscription?.currentPeriodEnd],
      ['premium', 'active', iso(end)]);

    // The period ends; until the renewal invoice is paid the plan is past due (premium's 24 h grace).
    clock.advance((30 * DAY + 600) * 1000);
    now = await subscription_(user);
    assert.equal([now.plan.id, now.subscription?.status], ['premium', 'past_due']);
    const end2 = end + 30 * DAY;
    const renewal = stripe.paid('subscription_cycle', end2);
    assert.is(await deliver(stripe.updated('active', end2, { was: { current_period_end: end } })), 'applied',
      'the updated event first');
    assert.is(await deliver(renewal), 'applied');
    assert.is(await deliver(renewal), 'duplicate');
    now = await subscription_(user);
    assert.equal(
      [now.subscription?.status, now.subscription?.currentPeriodStart, now.subscription?.currentPeriodEnd],
      ['active', iso(end), iso(end2)], 'the period extended: it begins where the last one ended');

    // The next renewal fails: past_due, then Stripe gives up and deletes the subscription.
    clock.advance((30 * DAY) * 1000);
    const staleActive = stripe.updated('active', end2 + 30 * DAY);
    clock.advance(1000);
    assert.is(await deliver(stripe.failed(end2 + 30 * DAY)), 'ignored');
    assert.is(await deliver(stripe.updated('past_due', end2 + 30 * DAY, { was: { status: 'active' } })), 'applied');
    now = await subscription_(user);
    assert.equal([now.plan.id, now.subscription?.status], ['premium', 'past_due']);
    clock.advance(3600_000);
    const deleted = stripe.deleted(end2 + 30 * DAY);
    assert.is(await deliver(deleted), 'applied');
    now = await subscription_(user);
    assert.is(now.subscription?.status, 'cancelled', JSON.stringify(now.subscription));
    assert.is(now.plan.id, 'free', 'back on the default plan at once');
    assert.is(await deliver(staleActive), 'stale', 'an older event arriving late does not revive it');
    assert.is(await deliver(deleted), 'duplicate');
    assert.is((await subscription_(user)).subscription?.status, 'cancelled');
  });

s('POST /subscription/cancel and /resume are told to Stripe first; Stripe\'s own word on cancelling is kept',
  async () => {
    const user = await k.asUser('stripe-cancel');
    const subId = 'sub_1QkernelCancel0001';
    const end = await subscribePaid(user, subId, 'premium');
    const stripe = stripeSub(user, subId, 'premium');
    const cancel = nock('https://api.stripe.com')
      .post(`/v1/subscriptions/${subId}`, (b: Body) => b.cancel_at_period_end === 'true')
      .reply(200, subscription({ id: subId, status: 'active', userId: user.id, planId: 'premium',
        createdSeconds: sec(), periodEndSeconds: end, priceId: PRICES.premium, cancelAtPeriodEnd: true }));
    const res = await user.post('/v1/subscription/cancel', {});
    assert.is(res.status, 200, res.text);
    assert.is(res.body.cancelAtPeriodEnd, true);
    assert.ok(cancel.isDone(), 'Stripe was told');
    assert.is(await deliver(stripe.updated('active', end, { cancelAtPeriodEnd: true })), 'applied');
    assert.is((await subscription_(user)).subscription?.cancelAtPeriodEnd, true, 'the webhook keeps it');

    const resume = nock('https://api.stripe.com')
      .post(`/v1/subscriptions/${subId}`, (b: Body) => b.cancel_at_period_end === 'false')
      .reply(200, subscription({ id: subId, status: 'active', userId: user.id, planId: 'premium',
        createdSeconds: sec(), periodEndSeconds: end, priceId: PRICES.premium }));
    const back = await user.post('/v1/subscription/resume', {});
    assert.is(back.status, 200, back.text);
    assert.is(back.body.cancelAtPeriodEnd, false);
    assert.ok(resume.isDone());

    // Stripe down: the cancel is a 503 with Retry-After and nothing changes here.
    nock('https://api.stripe.com').post(`/v1/subscriptions/${subId}`)
      .reply(503, { error: { type: 'api_error', message: 'An unknown error occurred' } });
    const down = await user.post('/v1/subscription/cancel', {});
    assertError(down, 503, 'PAYMENT_PROVIDER_UNAVAILABLE');
    assert.ok(down.headers.get('retry-after'));
    assert.is((await subscription_(user)).subscription?.cancelAtPeriodEnd, false);
  });

s('an upgrade paid at a new Checkout replaces the old Stripe subscription (cancelled there), and its end '
  + 'event leaves the new plan alone', async () => {
  const user = await k.asUser('stripe-upgrade');
  await subscribePaid(user, 'sub_1QkernelUpOld00001', 'premium');
  const newEnd = await (async () => {
    const scope = armSubscriptionCheckout(user, 'enterprise');
    const res = await user.post('/v1/subscription', { planId: 'enterprise' });
    assert.is(res.status, 202, res.text);
    assert.ok(scope.isDone());
    return sec() + 30 * DAY;
  })();
  const cancelOld = nock('https://api.stripe.com').delete('/v1/subscriptions/sub_1QkernelUpOld00001')
    .reply(200, subscription({ id: 'sub_1QkernelUpOld00001', status: 'canceled', userId: user.id, planId: 'premium',
      createdSeconds: sec(), periodEndSeconds: newEnd, priceId: PRICES.premium, canceledAtSeconds: sec() }));
  const next = stripeSub(user, 'sub_1QkernelUpNew00001', 'enterprise');
  assert.is(await deliver(next.created('active', newEnd)), 'applied');
  assert.ok(cancelOld.isDone(), 'the user is not billed twice');
  clock.advance(1000);
  const old = stripeSub(user, 'sub_1QkernelUpOld00001', 'premium');
  assert.is(await deliver(old.deleted(newEnd)), 'applied');
  const now = await subscription_(user);
  assert.equal([now.plan.id, now.subscription?.status, now.subscription?.externalId],
    ['enterprise', 'active', 'sub_1QkernelUpNew00001']);
});

s('a downgrade to free stops Stripe\'s renewal and starts free at the period end; to a cheaper paid plan it is 409',
  async () => {
    const user = await keyed(await k.asUser('stripe-downgrade'));
    const subId = 'sub_1QkernelDown000001';
    const end = await subscribePaid(user, subId, 'premium');
    const stop = nock('https://api.stripe.com')
      .post(`/v1/subscriptions/${subId}`, (b: Body) => b.cancel_at_period_end === 'true')
      .reply(200, subscription({ id: subId, status: 'active', userId: user.id, planId: 'premium',
        createdSeconds: sec(), periodEndSeconds: end, priceId: PRICES.premium, cancelAtPeriodEnd: true }));
    const down = await user.post('/v1/subscription', { planId: 'free' });
    assert.is(down.status, 200, down.text);
    assert.equal([down.body.change, down.body.subscription.scheduledPlanId], ['downgrade_scheduled', 'free']);
    assert.ok(stop.isDone(), 'Stripe stops billing premium at the period end');
    const stripe = stripeSub(user, subId, 'premium');
    assert.is(await deliver(stripe.updated('active', end, { cancelAtPeriodEnd: true })), 'applied');
    let now = await subscription_(user);
    assert.equal([now.plan.id, now.subscription?.scheduledPlanId], ['premium', 'free'], 'the downgrade stays');
    clock.set(end * 1000 + 60_000);
    assert.is(await deliver(stripe.deleted(end)), 'applied');
    now = await subscription_(user);
    assert.equal([now.plan.id, now.subscription?.status], ['free', 'active'], 'free from the period end');

    const rich = await keyed(await k.asUser('stripe-rich'));
    await subscribePaid(rich, 'sub_1QkernelRich000001', 'enterprise');
    const paidDown = await rich.post('/v1/subscription', { planId: 'premium' });
    assertError(paidDown, 409, 'DOWNGRADE_NEEDS_CHECKOUT');
    assert.is((await subscription_(rich)).plan.id, 'enterprise');
  });

s('a credit purchase through a Checkout Session: the balance grows once, however often the webhook comes',
  async () => {
    const user = await k.asUser('stripe-credits');
    const balance = async () => (await user.get('/v1/billing/balance')).body.balanceMicros as number;
    const before = await balance();
    const scope = nock('https://api.stripe.com')
      .post('/v1/checkout/sessions', (b: Body) => b.mode === 'payment' &&
        b['line_items[0][price_data][unit_amount]'] === '2500' && b.client_reference_id === user.id)
      .reply((req) => [200, checkoutSession({
        seed: String(req.headers.get('idempotency-key')), mode: 'payment', createdSeconds: sec(), amountCents: 2500,
        userId: user.id, metadata: { userId: user.id, reference: 'ignored' }, successUrl: 'https://a/ok',
        cancelUrl: 'https://a/no',
      })]);
    const res = await user.post('/v1/billing/purchase', { amountCents: 2500 }, { 'idempotency-key': 'credits-1' });
    assert.is(res.status, 201, res.text);
    assert.is(res.body.status, 'pending');
    assert.ok(scope.isDone());
    assert.is(await balance(), before, 'nothing before the payment');
    type Row = { id: string; externalId: string };
    const [row] = await k.kernel.orm!.em.fork().find<Row>('PaymentPurchase', { id: res.body.id });
    const session_ = checkoutSession({
      seed: 'credits-1', mode: 'payment', createdSeconds: sec() - 30, amountCents: 2500, userId: user.id,
      status: 'complete', paymentStatus: 'paid', metadata: { userId: user.id, reference: res.body.id },
      successUrl: 'https://a/ok', cancelUrl: 'https://a/no',
    });
    const paid = stripeEvent(eventId('cspaid'), 'checkout.session.completed', sec(),
      { ...session_, id: row.externalId });
    const outcomes = await Promise.all([deliver(paid), deliver(paid), deliver(paid)]);
    assert.ok(outcomes.includes('applied') || outcomes.every((o) => o === 'duplicate'), outcomes.join());
    assert.is(await deliver(paid), 'duplicate');
    assert.is(await balance(), before + 2500 * 1_000_000, 'granted once');
    const tx = await user.get('/v1/billing/transactions');
    assert.is(tx.body.data.filter((t: { kind: string }) => t.kind === 'purchase').length, 1, tx.text);
  });

s.run();
