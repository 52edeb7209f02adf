import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { guarded } from '../helpers/guarded.ts';
import { isAppError } from '../../kernel/errors.ts';
import type { ManualClock } from '../../kernel/ports/clock.ts';
import type {
  CheckoutRequest, PaymentEvent, PaymentGateway, SubscriptionRequest, WebhookInput,
} from '../../kernel/ports/payments.ts';

export type ArmedCall =
  | { kind: 'checkout'; request: CheckoutRequest }
  | { kind: 'subscription'; request: SubscriptionRequest }
  | { kind: 'cancel'; externalId: string; immediately: boolean };

export interface PaymentsUnderTest {
  gateway: PaymentGateway;
  /** The adapter's clock: signatures older than its tolerance are refused. */
  clock: ManualClock;
  /** Arms the provider's answer to the next such call (a recorded response for stripe; nothing for fake). */
  expect(call: ArmedCall): void;
  /** The provider's delivery of `event`, signed at `timestampSeconds` (default: now) with `secret` (default: right). */
  deliver(event: PaymentEvent, o?: { timestampSeconds?: number; secret?: string }): WebhookInput;
  /** A provider event type the port does not model. */
  otherType: string;
  /** Throws unless every armed call was made. */
  verify(): void;
  close(): Promise<void>;
}

async function rejection(run: () => Promise<unknown>): Promise<unknown> {
  try {
    await run();
  } catch (err) {
    return err;
  }
  return assert.unreachable('expected a rejection');
}

function assertCode(err: unknown, code: string, status: number) {
  assert.ok(isAppError(err), `expected an AppError, got ${String(err)}`);
  assert.is(err.code, code, err.message);
  assert.is(err.status, status);
}

export function paymentsConformance(name: string, make: () => Promise<PaymentsUnderTest>): void {
  const test = guarded(suite(`payments conformance: ${name}`));
  let made: Promise<PaymentsUnderTest> | undefined;
  const get = () => (made ??= make());
  const urls = { successUrl: 'https://app.example.com/billing/done', cancelUrl: 'https://app.example.com/billing' };
  const at = (t: PaymentsUnderTest, secondsAgo = 0) => {
    const seconds = Math.floor(t.clock.now() / 1000) - secondsAgo;
    return { seconds, iso: new Date(seconds * 1000).toISOString() };
  };

  test('a checkout completes, or gives an https checkout URL, for the amount asked', async () => {
    const t = await get();
    const request = { amountCents: 1250, userId: 'user-1', idempotencyKey: 'k-1', reference: 'pur-1', ...urls };
    t.expect({ kind: 'checkout', request });
    const result = await t.gateway.createCheckout(request);
    assert.is(result.amountCents, 1250);
    assert.match(result.currency, /^[a-z]{3}$/);
    assert.ok(result.externalId.length > 0);
    if (result.status === 'pending') assert.match(result.checkoutUrl, /^https:\/\//);
    else assert.is(result.status, 'completed');
    t.verify();
  });

  test('the same idempotency key gives the same payment; another key, another one', async () => {
    const t = await get();
    const request = { amountCents: 500, userId: 'user-2', idempotencyKey: 'same', reference: 'pur-2', ...urls };
    t.expect({ kind: 'checkout', request });
    t.expect({ kind: 'checkout', request });
    t.expect({ kind: 'checkout', request: { ...request, idempotencyKey: 'other', reference: 'pur-3' } });
    const [a, b] = [await t.gateway.createCheckout(request), await t.gateway.createCheckout(request)];
    const c = await t.gateway.createCheckout({ ...request, idempotencyKey: 'other', reference: 'pur-3' });
    assert.is(a.externalId, b.externalId);
    assert.is.not(a.externalId, c.externalId);
    t.verify();
  });

  test('a plan subscription is active with a future period end, or waits at a checkout URL', async () => {
    const t = await get();
    const request = { userId: 'user-3', planId: 'pro', idempotencyKey: 'sub-1', ...urls };
    t.expect({ kind: 'subscription', request });
    const result = await t.gateway.createSubscription(request);
    assert.is(result.planId, 'pro');
    if (result.status === 'active') assert.ok(Date.parse(result.currentPeriodEnd) > t.clock.now());
    else assert.match(result.checkoutUrl, /^https:\/\//);
    t.verify();
  });

  test('a subscription is cancelled at period end, or at once', async () => {
    const t = await get();
    t.expect({ kind: 'cancel', externalId: 'sub_conf_1', immediately: false });
    t.expect({ kind: 'cancel', externalId: 'sub_conf_2', immediately: true });
    const later = await t.gateway.cancelSubscription('sub_conf_1');
    const now = await t.gateway.cancelSubscription('sub_conf_2', { immediately: true });
    assert.equal([later.externalId, later.status], ['sub_conf_1', 'cancel_at_period_end']);
    assert.equal([now.externalId, now.status], ['sub_conf_2', 'cancelled']);
    assert.ok(now.endsAt !== null && Date.parse(now.endsAt) <= t.clock.now() + 1000);
    t.verify();
  });

  test('webhooks: every modelled event reads back typed, with its id and creation time', async () => {
    const t = await get();
    const { iso } = at(t, 30);
    const periodEnd = new Date(Math.floor(t.clock.now() / 1000) * 1000 + 30 * 86_400_000).toISOString();
    const sub = (cancelAtPeriodEnd: boolean) => ({
      externalId: 'sub_conf_9', userId: 'user-9', planId: 'pro', currentPeriodEnd: periodEnd, cancelAtPeriodEnd,
      currentPeriodStart: new Date(Date.parse(periodEnd) - 30 * 86_400_000).toISOString(),
    });
    const events: PaymentEvent[] = [
      {
        id: 'evt_conf_paid', createdAt: iso, type: 'payment.succeeded',
        payment: { externalId: 'cs_conf_1', reference: 'pur-9', userId: 'user-9', amountCents: 2000, currency: 'usd' },
      },
      { id: 'evt_conf_act', createdAt: iso, type: 'subscription.activated', subscription: sub(false) },
      { id: 'evt_conf_ren', createdAt: iso, type: 'subscription.renewed', subscription: sub(false) },
      { id: 'evt_conf_due', createdAt: iso, type: 'subscription.past_due', subscription: sub(false) },
      { id: 'evt_conf_end', createdAt: iso, type: 'subscription.cancelled', subscription: sub(true) },
    ];
    for (const event of events) assert.equal(await t.gateway.parseWebhook(t.deliver(event)), event, event.type);
  });

  test('webhooks: an event type the port does not model is read as `other`', async () => {
    const t = await get();
    const { iso } = at(t);
    const event: PaymentEvent = { id: 'evt_conf_other', createdAt: iso, type: 'other', providerType: t.otherType };
    assert.equal(await t.gateway.parseWebhook(t.deliver(event)), event);
  });

  test('webhooks: a wrong secret, a changed body, no header or an old signature is a 400', async () => {
    const t = await get();
    const { iso, seconds } = at(t);
    const event: PaymentEvent = {
      id: 'evt_conf_bad', createdAt: iso, type: 'payment.succeeded',
      payment: { externalId: 'cs_conf_2', reference: 'pur-x', userId: 'user-x', amountCents: 100, currency: 'usd' },
    };
    const forged = t.deliver(event, { secret: 'whsec_not_the_right_one' });
    assertCode(await rejection(() => t.gateway.parseWebhook(forged)), 'WEBHOOK_SIGNATURE_INVALID', 400);

    const good = t.deliver(event);
    const raw = String(good.rawBody).replace('{', '{ ');
    assert.is.not(raw, String(good.rawBody));
    const tampered = { ...good, rawBody: raw };
    assertCode(await rejection(() => t.gateway.parseWebhook(tampered)), 'WEBHOOK_SIGNATURE_INVALID', 400);

    const bare = { rawBody: good.rawBody, headers: { 'content-type': 'application/json' } };
    assertCode(await rejection(() => t.gateway.parseWebhook(bare)), 'WEBHOOK_SIGNATURE_INVALID', 400);

    const old = t.deliver(event, { timestampSeconds: seconds - 3600 });
    assertCode(await rejection(() => t.gateway.parseWebhook(old)), 'WEBHOOK_SIGNATURE_INVALID', 400);
    // The good one still reads: only the bad deliveries were refused.
    assert.is((await t.gateway.parseWebhook(good)).id, 'evt_conf_bad');
  });

  test.after(async () => {
    if (made) await (await made).close();
  });
  test.run();
}
