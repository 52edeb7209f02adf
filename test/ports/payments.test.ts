import pino from 'pino';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ManualClock } from '../../kernel/ports/clock.ts';
import type { AdapterContext } from '../../kernel/ports/adapter.ts';
import type { Egress, EgressRequest } from '../../kernel/ports/egress.ts';
import { isAppError } from '../../kernel/errors.ts';
import fakePayments, { FAKE_SIGNATURE_HEADER, signFakeWebhook } from '../../adapters/payments/fake.ts';
import stripePayments from '../../adapters/payments/stripe.ts';
import { createUndiciEgress } from '../../adapters/egress/undiciClient.ts';
import { guarded } from '../helpers/guarded.ts';
import { startNock, type NockSession } from '../helpers/nockSession.ts';
import {
  STRIPE_KEY, STRIPE_PRICES, STRIPE_WEBHOOK_SECRET, checkoutSession, signedStripeDelivery, stripeEventFor, subscription,
} from '../helpers/stripeFixtures.ts';
import { paymentsConformance, type ArmedCall, type PaymentsUnderTest } from './payments.suite.ts';

const START = Date.UTC(2026, 5, 1, 12);
const API = 'https://api.stripe.com';
/** The running nock session (stripe suites only; see test/helpers/nockSession.ts). */
let session: NockSession | undefined;
const nock = ((...args: Parameters<NockSession['nock']>) => session!.nock(...args)) as NockSession['nock'];
const nockDone = () => session!.nock.isDone();
const pending = () => session!.nock.pendingMocks();

function context(clock: ManualClock, ports: Record<string, unknown> = {}): AdapterContext {
  return {
    logger: pino({ level: 'silent' }), clock, serviceName: 'kernel-test',
    port: <T>(name: string) => {
      if (!(name in ports)) throw new Error(`no port ${name}`);
      return ports[name] as T;
    },
  };
}

// ------------------------------------------------------------------------------------------ fake

paymentsConformance('fake', async () => {
  const clock = new ManualClock(START);
  const secret = 'fake_whsec_conformance';
  const gateway = await fakePayments.create({ webhookSecret: secret }, context(clock));
  return {
    gateway, clock, otherType: 'fake.refund.created',
    expect: () => {},
    deliver(event, o = {}) {
      const body = JSON.stringify(event.type === 'other' ? { ...event, type: event.providerType } : event);
      const t = o.timestampSeconds ?? Math.floor(clock.now() / 1000);
      return { rawBody: body, headers: { [FAKE_SIGNATURE_HEADER]: signFakeWebhook(body, o.secret ?? secret, t) } };
    },
    verify: () => {},
    close: async () => {},
  } satisfies PaymentsUnderTest;
});

// ---------------------------------------------------------------------------------------- stripe

/** Egress as the kernel builds it, sending through nock's dispatcher; counts the calls it carries. */
async function recordingEgress(clock: ManualClock) {
  const inner = await createUndiciEgress({}, context(clock), { dispatcher: session!.dispatcher });
  const calls: EgressRequest[] = [];
  const egress: Egress & { calls: EgressRequest[]; close(): Promise<void> } = {
    calls,
    request: (r) => { calls.push(r); return inner.request(r); },
    close: () => inner.close!(),
  };
  return egress;
}

type FormBody = Record<string, string>;

/** Arms nock with Stripe's recorded answer for one call; the session id follows the idempotency key, as Stripe's. */
function armStripe(call: ArmedCall, clock: ManualClock): void {
  const created = Math.floor(clock.now() / 1000);
  const scope = nock(API).matchHeader('authorization', `Bearer ${STRIPE_KEY}`);
  if (call.kind === 'checkout') {
    const r = call.request;
    scope.post('/v1/checkout/sessions', (body: FormBody) =>
      body.mode === 'payment' && body['line_items[0][price_data][unit_amount]'] === String(r.amountCents) &&
      body['metadata[reference]'] === r.reference && body.client_reference_id === r.userId &&
      body.success_url === r.successUrl)
      .matchHeader('idempotency-key', /^checkout_[0-9a-f]{64}$/)
      .reply((req) => {
        const key = String(req.headers.get('idempotency-key'));
        return [200, checkoutSession({
          seed: key, mode: 'payment', createdSeconds: created, amountCents: r.amountCents, userId: r.userId,
          metadata: { userId: r.userId, reference: r.reference }, successUrl: r.successUrl, cancelUrl: r.cancelUrl,
        }), { 'request-id': 'req_kernel1', 'idempotency-key': key, 'stripe-version': '2026-10-28.endive' }];
      });
  } else if (call.kind === 'subscription') {
    const r = call.request;
    scope.post('/v1/checkout/sessions', (body: FormBody) =>
      body.mode === 'subscription' && body['line_items[0][price]'] === STRIPE_PRICES.pro &&
      body['subscription_data[metadata][planId]'] === r.planId &&
      body['subscription_data[metadata][userId]'] === r.userId)
      .reply(200, () => checkoutSession({
        seed: r.idempotencyKey, mode: 'subscription', createdSeconds: created, userId: r.userId,
        metadata: { userId: r.userId, planId: r.planId }, successUrl: r.successUrl, cancelUrl: r.cancelUrl,
      }));
  } else if (call.immediately) {
    scope.delete(`/v1/subscriptions/${call.externalId}`).reply(200, subscription({
      id: call.externalId, status: 'canceled', userId: 'user-3', planId: 'pro', createdSeconds: created - 86_400,
      periodEndSeconds: created + 86_400 * 29, canceledAtSeconds: created,
    }));
  } else {
    scope.post(`/v1/subscriptions/${call.externalId}`, (body: FormBody) => body.cancel_at_period_end === 'true')
      .reply(200, subscription({
        id: call.externalId, status: 'active', userId: 'user-3', planId: 'pro', createdSeconds: created - 86_400,
        periodEndSeconds: created + 86_400 * 29, cancelAtPeriodEnd: true,
      }));
  }
}

async function stripeUnderTest(clock = new ManualClock(START)) {
  session = await startNock();
  const egress = await recordingEgress(clock);
  const options = { secretKey: STRIPE_KEY, webhookSecret: STRIPE_WEBHOOK_SECRET, prices: STRIPE_PRICES,
    maxNetworkRetries: 0 };
  const gateway = await stripePayments.create(options, context(clock, { egress }));
  return { gateway, clock, egress };
}

function stopNock() {
  session?.stop();
  session = undefined;
}

paymentsConformance('stripe (nock, recorded shapes)', async () => {
  const { gateway, clock, egress } = await stripeUnderTest();
  return {
    gateway, clock, otherType: 'charge.refund.updated',
    expect: (call) => armStripe(call, clock),
    deliver: (event, o = {}) => signedStripeDelivery(stripeEventFor(event), {
      timestampSeconds: o.timestampSeconds ?? Math.floor(clock.now() / 1000), secret: o.secret,
    }),
    verify() {
      assert.ok(nockDone(), `Stripe calls not made: ${pending().join(', ')}`);
      assert.ok(egress.calls.length > 0 && egress.calls.every((c) => String(c.url).startsWith(`${API}/v1/`)));
    },
    async close() {
      stopNock();
      await egress.close();
    },
  } satisfies PaymentsUnderTest;
});

// ------------------------------------------------------------------- stripe beyond the port's suite

const more = guarded(suite('payments: stripe adapter specifics'));
let made: Awaited<ReturnType<typeof stripeUnderTest>> | undefined;
const get = async () => (made ??= await stripeUnderTest());

async function rejection(run: () => Promise<unknown>) {
  try { await run(); } catch (err) { return err; }
  return assert.unreachable('expected a rejection');
}

more('every Stripe call goes through the egress port, with the SDK\'s idempotency key', async () => {
  const { gateway, egress } = await get();
  const before = egress.calls.length;
  const request = { amountCents: 900, userId: 'u-eg', idempotencyKey: 'eg-1', reference: 'pur-eg',
    successUrl: 'https://a.example/ok', cancelUrl: 'https://a.example/no' };
  armStripe({ kind: 'checkout', request }, made!.clock);
  const result = await gateway.createCheckout(request);
  assert.is(result.status, 'pending');
  const sent = egress.calls.slice(before);
  assert.is(sent.length, 1);
  assert.is(sent[0].method, 'POST');
  assert.match(String(sent[0].headers?.['idempotency-key']), /^checkout_[0-9a-f]{64}$/);
  assert.is(sent[0].retries, 0, 'retries stay with the SDK');
});

more('Stripe down (a 503 from its API) is a 503 with Retry-After; a refused request is a 502', async () => {
  const { gateway } = await get();
  const request = { amountCents: 900, userId: 'u-d', idempotencyKey: 'down', reference: 'r',
    successUrl: 'https://a.example/ok', cancelUrl: 'https://a.example/no' };
  nock(API).post('/v1/checkout/sessions').reply(503, {
    error: { message: 'An unknown error occurred', type: 'api_error' },
  });
  const down = await rejection(() => gateway.createCheckout(request));
  assert.ok(isAppError(down));
  assert.equal([down.status, down.code, down.headers?.['Retry-After']], [503, 'PAYMENT_PROVIDER_UNAVAILABLE', '5']);

  nock(API).post('/v1/checkout/sessions').reply(400, {
    error: { code: 'parameter_invalid_integer', message: 'Invalid integer: abc', param: 'line_items[0][price_data]' +
      '[unit_amount]', type: 'invalid_request_error', request_log_url: 'https://dashboard.stripe.com/test/logs/req_x' },
  });
  const refused = await rejection(() => gateway.createCheckout({ ...request, idempotencyKey: 'refused' }));
  assert.ok(isAppError(refused));
  assert.equal([refused.status, refused.code], [502, 'PAYMENT_PROVIDER_ERROR']);
  assert.match(refused.message, /InvalidRequestError \(parameter_invalid_integer\)/);
  assert.not.match(refused.message, /Invalid integer/, 'Stripe\'s own message stays in the log');
  assert.ok(nockDone());
});

more('a plan without a configured Stripe price is a 400 before any call', async () => {
  const { gateway, egress } = await get();
  const before = egress.calls.length;
  const err = await rejection(() => gateway.createSubscription({ userId: 'u', planId: 'gold', idempotencyKey: 'g',
    successUrl: 'https://a.example/ok', cancelUrl: 'https://a.example/no' }));
  assert.ok(isAppError(err));
  assert.equal([err.status, err.code], [400, 'PLAN_NOT_PURCHASABLE']);
  assert.is(egress.calls.length, before);
});

more('a subscription event without planId metadata finds the plan by its price; incomplete ones are `other`',
  async () => {
    const { gateway, clock } = await get();
    const now = Math.floor(clock.now() / 1000);
    const sub = subscription({ id: 'sub_byprice', status: 'active', userId: 'u-p', planId: null, createdSeconds: now,
      periodEndSeconds: now + 86_400, priceId: STRIPE_PRICES.enterprise });
    const { stripeEvent } = await import('../helpers/stripeFixtures.ts');
    const read = await gateway.parseWebhook(signedStripeDelivery(
      stripeEvent('evt_byprice', 'customer.subscription.updated', now, sub), { timestampSeconds: now }));
    assert.is(read.type, 'subscription.activated');
    assert.is(read.type !== 'other' && read.type !== 'payment.succeeded' && read.subscription.planId, 'enterprise');
    const incomplete = await gateway.parseWebhook(signedStripeDelivery(stripeEvent('evt_inc',
      'customer.subscription.created', now, { ...sub, status: 'incomplete' }), { timestampSeconds: now }));
    assert.equal(incomplete, { id: 'evt_inc', createdAt: new Date(now * 1000).toISOString(), type: 'other',
      providerType: 'customer.subscription.created' });
  });

more('options: the schema needs keys of the right kind', async () => {
  const { Ajv2020 } = await import('ajv/dist/2020.js');
  const validate = new Ajv2020({ strict: false, useDefaults: true }).compile(stripePayments.optionsSchema);
  assert.not.ok(validate({ secretKey: 'pk_test_x', webhookSecret: 'whsec_x' }), 'a publishable key is refused');
  const ok: Record<string, unknown> = { secretKey: STRIPE_KEY, webhookSecret: STRIPE_WEBHOOK_SECRET };
  assert.ok(validate(ok));
  assert.is(ok.currency, 'usd');
});

more.after(async () => {
  stopNock();
  await made?.egress.close();
});
more.run();
