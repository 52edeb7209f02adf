import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { startTestKernel, assertError, type TestKit, type SignedInClient } from '../kit/index.ts';
import { defineAdapter } from '../../kernel/ports/adapter.ts';
import type { Egress } from '../../kernel/ports/egress.ts';
import { createUndiciEgress } from '../../adapters/egress/undiciClient.ts';
import payments from '../../plugins/payments/index.ts';
import { guarded } from '../helpers/guarded.ts';
import { startNock, type NockSession } from '../helpers/nockSession.ts';
import {
  STRIPE_KEY, STRIPE_PRICES, STRIPE_WEBHOOK_SECRET, checkoutSession, signedStripeDelivery, stripeEvent, subscription,
} from '../helpers/stripeFixtures.ts';
import { billingStub, type BillingStub } from './billingStub.ts';

const MICROS = 1_000_000;
const now = () => Math.floor(Date.now() / 1000);
let seq = 0;
const key = () => `key-${process.pid}-${++seq}`;

async function rows(k: TestKit, entity: string, where: Record<string, unknown> = {}) {
  return k.kernel.orm!.em.fork().find<Record<string, unknown>>(entity, where);
}

// ------------------------------------------------------------------------------------ fake gateway

const fake = guarded(suite('payments plugin: fake gateway (the embedded default)'));
let kit: TestKit;
let billing: BillingStub;
let alice: SignedInClient;

fake.before(async () => {
  const stub = billingStub();
  billing = stub.state;
  kit = await startTestKernel({ plugins: [stub.plugin, payments] });
  alice = await kit.asUser('buyer');
});
fake.after(async () => kit?.stop());

fake('a purchase completes at once and grants the credits to the ledger (kind purchase)', async () => {
  const res = await alice.post('/v1/billing/purchase', { amountCents: 500 }, { 'idempotency-key': key() });
  assert.is(res.status, 201, res.text);
  assert.is(res.body.status, 'completed');
  assert.is(res.body.amountCents, 500);
  assert.is(res.body.provider, 'fake');
  assert.is(res.body.checkoutUrl, null);
  const entry = billing.ledger.entries.find((e) => e.id === res.body.ledgerEntryId);
  assert.ok(entry, 'the ledger entry named in the answer exists');
  assert.equal([entry.userId, entry.kind, entry.amountMicros, entry.reference], [alice.id, 'purchase', 500 * MICROS,
    res.body.id]);
  await kit.settle();
  const [stored] = await rows(kit, 'PaymentPurchase', { id: res.body.id });
  assert.is(stored.status, 'completed');
});

fake('the same Idempotency-Key replays the purchase and grants once, also when sent concurrently', async () => {
  const k = key();
  const grantsBefore = billing.ledger.entries.length;
  const first = await alice.post('/v1/billing/purchase', { amountCents: 700 }, { 'idempotency-key': k });
  const again = await alice.post('/v1/billing/purchase', { amountCents: 700 }, { 'idempotency-key': k });
  assert.is(first.status, 201);
  assert.equal(again.body, first.body);
  assert.is(again.headers.get('idempotent-replayed'), 'true');

  const k2 = key();
  const racing = await Promise.all(Array.from({ length: 8 }, () =>
    alice.post('/v1/billing/purchase', { amountCents: 300 }, { 'idempotency-key': k2 })));
  const ok = racing.filter((r) => r.status === 201);
  assert.ok(ok.length >= 1);
  assert.ok(racing.every((r) => r.status === 201 || r.status === 409), racing.map((r) => r.status).join());
  assert.ok(ok.every((r) => r.body.id === ok[0].body.id));
  assert.is(billing.ledger.entries.length, grantsBefore + 2, 'one grant per key');

  const reused = await alice.post('/v1/billing/purchase', { amountCents: 999 }, { 'idempotency-key': k });
  assertError(reused, 422, 'IDEMPOTENCY_KEY_REUSED');
});

fake('bad input is a 400 (no Idempotency-Key, an amount out of range, a fraction); anonymous is a 401', async () => {
  assertError(await alice.post('/v1/billing/purchase', { amountCents: 500 }), 400, 'VALIDATION_ERROR');
  const small = await alice.post('/v1/billing/purchase', { amountCents: 5 }, { 'idempotency-key': key() });
  assertError(small, 400, 'VALIDATION_ERROR');
  assert.match(small.text, /amountCents/);
  assertError(await alice.post('/v1/billing/purchase', { amountCents: 500.5 }, { 'idempotency-key': key() }), 400);
  assertError(await kit.post('/v1/billing/purchase', { amountCents: 500 }, { 'idempotency-key': key() }), 401);
});

fake('the webhook endpoint checks the configured gateway\'s signature: bad is a 400, nothing stored', async () => {
  const body = JSON.stringify({ id: 'evt_x', type: 'payment.succeeded', createdAt: new Date().toISOString() });
  const res = await kit.request('POST', '/v1/billing/webhooks/stripe', {
    raw: body, headers: { 'content-type': 'application/json', 'stripe-signature': 't=1,v1=00' },
  });
  assertError(res, 400, 'WEBHOOK_SIGNATURE_INVALID');
  assert.is((await rows(kit, 'PaymentEventReceipt')).length, 0);
});

fake.run();

// ---------------------------------------------------------------------------------- stripe gateway

const stripe = guarded(suite('payments plugin: stripe gateway (nock) and its webhooks'));
let sk: TestKit;
let sb: BillingStub;
let bob: SignedInClient;

/** The kernel's egress, sending through nock's dispatcher (the real one resolves and dials). */
const nockedEgress = defineAdapter<Egress>({
  port: 'egress', name: 'nocked', optionsSchema: { type: 'object' },
  create: (_o, ctx) => createUndiciEgress({}, ctx, { dispatcher: session!.dispatcher }),
});
let session: NockSession | undefined;
const nock = ((...args: Parameters<NockSession['nock']>) => session!.nock(...args)) as NockSession['nock'];

function deliver(event: unknown, o: { secret?: string } = {}) {
  const d = signedStripeDelivery(event, { timestampSeconds: now(), ...o });
  return sk.request('POST', '/v1/billing/webhooks/stripe', { raw: d.rawBody, headers: d.headers });
}

function armCheckout(userId: string, amountCents: number) {
  return nock('https://api.stripe.com')
    .post('/v1/checkout/sessions', (b: Record<string, string>) =>
      b['line_items[0][price_data][unit_amount]'] === String(amountCents) && b.client_reference_id === userId)
    .reply((req) => {
      const k = String(req.headers.get('idempotency-key'));
      return [200, checkoutSession({
        seed: k, mode: 'payment', createdSeconds: now(), amountCents, userId,
        metadata: { userId, reference: 'from-request' }, successUrl: 'https://a/ok', cancelUrl: 'https://a/no',
      })];
    });
}

function paidEvent(id: string, purchase: { id: string; amountCents: number; externalId: string }, userId: string) {
  const session = checkoutSession({
    seed: purchase.externalId, mode: 'payment', createdSeconds: now() - 30, amountCents: purchase.amountCents,
    userId, status: 'complete', paymentStatus: 'paid', metadata: { userId, reference: purchase.id },
    successUrl: 'https://a/ok', cancelUrl: 'https://a/no',
  });
  return stripeEvent(id, 'checkout.session.completed', now(), { ...session, id: purchase.externalId });
}

stripe.before(async () => {
  session = await startNock();
  const stub = billingStub();
  sb = stub.state;
  sk = await startTestKernel({
    plugins: [stub.plugin, payments],
    adapters: { egress: { nocked: nockedEgress } },
    config: {
      adapters: {
        egress: { use: 'nocked' },
        payments: { use: 'stripe', secretKey: STRIPE_KEY, webhookSecret: STRIPE_WEBHOOK_SECRET, prices: STRIPE_PRICES,
          maxNetworkRetries: 0 },
      },
    },
  });
  bob = await sk.asUser('stripe-buyer');
});
stripe.after(async () => {
  await sk?.stop();
  session?.stop();
});

stripe('checkout, then the signed webhook grants once; a replayed webhook is acknowledged and ignored', async () => {
  const scope = armCheckout(bob.id, 2500);
  const k = key();
  const res = await bob.post('/v1/billing/purchase', { amountCents: 2500 }, { 'idempotency-key': k });
  assert.is(res.status, 201, res.text);
  assert.is(res.body.status, 'pending');
  assert.match(res.body.checkoutUrl, /^https:\/\/checkout\.stripe\.com\/c\/pay\/cs_test_/);
  assert.is(res.body.ledgerEntryId, null);
  assert.ok(scope.isDone());
  assert.is(sb.ledger.entries.length, 0, 'nothing granted before the payment');

  const [row] = await rows(sk, 'PaymentPurchase', { id: res.body.id });
  const event = paidEvent('evt_1QpaidKernel0001', { id: res.body.id, amountCents: 2500,
    externalId: String(row.externalId) }, bob.id);
  const applied = await deliver(event);
  assert.is(applied.status, 200, applied.text);
  assert.equal(applied.body, { received: true, eventId: 'evt_1QpaidKernel0001', outcome: 'applied' });
  assert.is(sb.ledger.entries.length, 1);
  assert.equal([sb.ledger.entries[0].userId, sb.ledger.entries[0].amountMicros, sb.ledger.entries[0].kind],
    [bob.id, 2500 * MICROS, 'purchase']);

  const replayed = await deliver(event);
  assert.equal(replayed.body, { received: true, eventId: 'evt_1QpaidKernel0001', outcome: 'duplicate' });
  // The same event delivered five times at once: still one grant, and one receipt.
  const racing = await Promise.all(Array.from({ length: 5 }, () => deliver(event)));
  assert.ok(racing.every((r) => r.status === 200 && r.body.outcome === 'duplicate'));
  assert.is(sb.ledger.entries.length, 1);
  assert.is((await rows(sk, 'PaymentEventReceipt', { eventId: 'evt_1QpaidKernel0001' })).length, 1);

  const [done] = await rows(sk, 'PaymentPurchase', { id: res.body.id });
  assert.is(done.status, 'completed');
  assert.is(done.ledgerEntryId, sb.ledger.entries[0].id);
});

stripe('a fresh event raced by concurrent deliveries grants once', async () => {
  const scope = armCheckout(bob.id, 1500);
  const res = await bob.post('/v1/billing/purchase', { amountCents: 1500 }, { 'idempotency-key': key() });
  assert.ok(scope.isDone());
  const [row] = await rows(sk, 'PaymentPurchase', { id: res.body.id });
  const before = sb.ledger.entries.length;
  const event = paidEvent('evt_1QraceKernel0002', { id: res.body.id, amountCents: 1500,
    externalId: String(row.externalId) }, bob.id);
  const all = await Promise.all(Array.from({ length: 6 }, () => deliver(event)));
  assert.ok(all.every((r) => r.status === 200), all.map((r) => r.text).join('\n'));
  assert.is(all.filter((r) => r.body.outcome === 'applied').length >= 1, true);
  assert.is(sb.ledger.entries.length, before + 1);
});

stripe('a delivery that loses the race (the receipt committed meanwhile) answers duplicate, not 500', async () => {
  const scope = armCheckout(bob.id, 1100);
  const res = await bob.post('/v1/billing/purchase', { amountCents: 1100 }, { 'idempotency-key': key() });
  assert.ok(scope.isDone());
  const [row] = await rows(sk, 'PaymentPurchase', { id: res.body.id });
  const eventId = 'evt_1QlostRace0003';
  // While this delivery is between its receipt check and its flush, "another" one commits the receipt.
  sb.ledger.beforeGrant = async () => {
    sb.ledger.beforeGrant = undefined;
    const em = sk.kernel.orm!.em.fork();
    em.create('PaymentEventReceipt', { provider: 'stripe', eventId, type: 'payment.succeeded', outcome: 'applied',
      providerCreatedAt: new Date(), receivedAt: new Date() });
    await em.flush();
  };
  const errorsBefore = sk.errors.length;
  const lost = await deliver(paidEvent(eventId, { id: res.body.id, amountCents: 1100,
    externalId: String(row.externalId) }, bob.id));
  assert.equal([lost.status, lost.body?.outcome], [200, 'duplicate'], lost.text);
  assert.is(sk.errors.length, errorsBefore, sk.errors.slice(errorsBefore).join('\n'));
  await sk.settle();
  assert.is((await rows(sk, 'PaymentEventReceipt', { eventId })).length, 1);
});

stripe('the same Idempotency-Key gives the same checkout, with one call to Stripe', async () => {
  const scope = armCheckout(bob.id, 1200);
  const k = key();
  const a = await bob.post('/v1/billing/purchase', { amountCents: 1200 }, { 'idempotency-key': k });
  const b = await bob.post('/v1/billing/purchase', { amountCents: 1200 }, { 'idempotency-key': k });
  assert.is(a.status, 201);
  assert.equal(b.body, a.body);
  assert.ok(scope.isDone());
  assert.is(session!.nock.pendingMocks().length, 0);
});

stripe('subscription events out of order: an older one than the stored state is ignored', async () => {
  const t = now();
  const sub = (status: string, periodEnd: number, cancelAtPeriodEnd = false) => subscription({
    id: 'sub_1QkernelOrder01', status, userId: bob.id, planId: 'pro', createdSeconds: t - 3600,
    periodEndSeconds: periodEnd, cancelAtPeriodEnd,
  });
  // Stripe sent created (t-20) then updated to past_due (t-10), but they arrive the other way round.
  const pastDue = await deliver(stripeEvent('evt_order_2', 'customer.subscription.updated', t - 10,
    sub('past_due', t + 86_400), { status: 'active' }));
  assert.is(pastDue.body.outcome, 'applied', pastDue.text);
  const created = await deliver(stripeEvent('evt_order_1', 'customer.subscription.created', t - 20,
    sub('active', t + 86_400)));
  assert.is(created.body.outcome, 'stale');
  assert.equal(sb.subscriptions.calls.map((c) => c.op), ['markPastDue']);

  // A later renewal applies: activate with the new period end.
  const renewed = await deliver(stripeEvent('evt_order_3', 'customer.subscription.updated', t,
    sub('active', t + 30 * 86_400)));
  assert.is(renewed.body.outcome, 'applied');
  const last = sb.subscriptions.calls.at(-1)!;
  assert.equal([last.op, last.userId, last.planId, last.externalId, last.periodEnd],
    ['activate', bob.id, 'pro', 'sub_1QkernelOrder01', new Date((t + 30 * 86_400) * 1000).toISOString()]);

  const cancelled = await deliver(stripeEvent('evt_order_4', 'customer.subscription.deleted', t + 1,
    subscription({ id: 'sub_1QkernelOrder01', status: 'canceled', userId: bob.id, planId: 'pro',
      createdSeconds: t - 3600, periodEndSeconds: t + 30 * 86_400, canceledAtSeconds: t + 1 })));
  assert.is(cancelled.body.outcome, 'applied');
  await sk.settle();
  const [state] = await rows(sk, 'PaymentSubscription', { externalId: 'sub_1QkernelOrder01' });
  assert.equal([state.status, state.lastEventId], ['cancelled', 'evt_order_4']);
  const outbox = await rows(sk, 'KernelOutbox', { type: 'payments.subscription.changed' });
  assert.is(outbox.length, 3, 'one event per applied change, none for the stale one');
});

stripe('a bad signature is a 400 and changes nothing; unhandled event types are acknowledged 200', async () => {
  const entries = sb.ledger.entries.length;
  const forged = await deliver(stripeEvent('evt_forged', 'checkout.session.completed', now(), {}), {
    secret: 'whsec_attacker' });
  assertError(forged, 400, 'WEBHOOK_SIGNATURE_INVALID');
  const unsigned = await sk.request('POST', '/v1/billing/webhooks/stripe', {
    raw: '{"id":"evt_nosig"}', headers: { 'content-type': 'application/json' } });
  assertError(unsigned, 400, 'WEBHOOK_SIGNATURE_INVALID');
  assert.is((await rows(sk, 'PaymentEventReceipt', { eventId: 'evt_forged' })).length, 0);
  assert.is(sb.ledger.entries.length, entries);

  const refund = { id: 're_1', object: 'refund' };
  const other = await deliver(stripeEvent('evt_1Qother', 'charge.refund.updated', now(), refund));
  assert.equal([other.status, other.body.outcome], [200, 'ignored']);
});

stripe('a payment naming no purchase of ours is acknowledged and grants nothing', async () => {
  const entries = sb.ledger.entries.length;
  const res = await deliver(paidEvent('evt_1Qstranger', { id: '01900000-0000-7000-8000-000000000000',
    amountCents: 999, externalId: 'cs_test_unknown' }, bob.id));
  assert.equal([res.status, res.body.outcome], [200, 'unmatched']);
  assert.is(sb.ledger.entries.length, entries);
});

stripe('Stripe down: the purchase is a 503 with Retry-After, and a retry with the same key succeeds', async () => {
  const k = key();
  nock('https://api.stripe.com').post('/v1/checkout/sessions').reply(503, {
    error: { message: 'An unknown error occurred', type: 'api_error' } });
  const down = await bob.post('/v1/billing/purchase', { amountCents: 800 }, { 'idempotency-key': k });
  assertError(down, 503, 'PAYMENT_PROVIDER_UNAVAILABLE');
  assert.ok(down.headers.get('retry-after'));
  const scope = armCheckout(bob.id, 800);
  const up = await bob.post('/v1/billing/purchase', { amountCents: 800 }, { 'idempotency-key': k });
  assert.is(up.status, 201, up.text);
  assert.is(up.body.status, 'pending');
  assert.ok(scope.isDone());
  assert.is((await rows(sk, 'PaymentPurchase', { userId: bob.id, idempotencyKey: k })).length, 1);
});

stripe.run();
