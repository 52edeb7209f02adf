/**
 * Stripe API objects as the API (version 2026-10-28) returns them, recorded from test mode and
 * parameterised: Checkout Sessions, Subscriptions, and the webhook events that carry them. Used
 * with nock (requests) and `stripe.webhooks.generateTestHeaderString` (webhook signatures).
 */
import { createHash } from 'node:crypto';
import Stripe from 'stripe';
import type { PaymentEvent } from '../../kernel/ports/payments.ts';

export const STRIPE_KEY = 'sk_test_51PzKernelTestKey000000000000000000000000000000000000';
export const STRIPE_WEBHOOK_SECRET = 'whsec_kernel_test_0123456789abcdef0123456789abcdef';
export const STRIPE_PRICES = { pro: 'price_1QproMonthly0000000000', enterprise: 'price_1Qent000000000000000' };

const suffix = (seed: string, n = 24) => createHash('sha256').update(seed).digest('base64url').slice(0, n);
const sec = (iso: string) => Math.floor(Date.parse(iso) / 1000);

/** `POST /v1/checkout/sessions` answer for mode=payment (fields Stripe sends, values from the request). */
export function checkoutSession(o: {
  seed: string; mode: 'payment' | 'subscription'; createdSeconds: number; amountCents?: number; currency?: string;
  userId: string; metadata: Record<string, string>; successUrl: string; cancelUrl: string;
  status?: 'open' | 'complete'; paymentStatus?: 'unpaid' | 'paid'; subscription?: string | null;
}) {
  const id = `cs_test_a1${suffix(o.seed, 54)}`;
  const amount = o.amountCents ?? null;
  return {
    id, object: 'checkout.session',
    adaptive_pricing: { enabled: true }, after_expiration: null, allow_promotion_codes: null,
    amount_subtotal: amount, amount_total: amount,
    automatic_tax: { enabled: false, liability: null, provider: null, status: null },
    billing_address_collection: null, cancel_url: o.cancelUrl, client_reference_id: o.userId, client_secret: null,
    collected_information: null, consent: null, consent_collection: null, created: o.createdSeconds,
    currency: o.currency ?? 'usd', currency_conversion: null, custom_fields: [],
    custom_text: { after_submit: null, shipping_address: null, submit: null, terms_of_service_acceptance: null },
    customer: null, customer_creation: o.mode === 'payment' ? 'if_required' : 'always', customer_details: null,
    customer_email: null, discounts: [], expires_at: o.createdSeconds + 86_400, invoice: null,
    invoice_creation: o.mode === 'payment'
      ? { enabled: false, invoice_data: { account_tax_ids: null, custom_fields: null, description: null,
        footer: null, issuer: null, metadata: {}, rendering_options: null } }
      : null,
    livemode: false, locale: null, metadata: o.metadata, mode: o.mode, origin_context: null,
    payment_intent: o.paymentStatus === 'paid' && o.mode === 'payment' ? `pi_3Q${suffix(o.seed + 'pi')}` : null,
    payment_link: null, payment_method_collection: o.mode === 'payment' ? 'if_required' : 'always',
    payment_method_configuration_details: { id: 'pmc_1PzKernelConfig00000000', parent: null },
    payment_method_options: { card: { request_three_d_secure: 'automatic' } }, payment_method_types: ['card', 'link'],
    payment_status: o.paymentStatus ?? 'unpaid', permissions: null,
    phone_number_collection: { enabled: false }, recovered_from: null, saved_payment_method_options: null,
    setup_intent: null, shipping_address_collection: null, shipping_cost: null, shipping_options: [],
    status: o.status ?? 'open', submit_type: null, subscription: o.subscription ?? null, success_url: o.successUrl,
    total_details: { amount_discount: 0, amount_shipping: 0, amount_tax: 0 }, ui_mode: 'hosted',
    url: o.status === 'complete' ? null : `https://checkout.stripe.com/c/pay/${id}#fidkdWxOYHwnPyd1blpxYHZxWjA0`,
    wallet_options: null,
  };
}

/** A Subscription object (periods live on its items since API 2025-03-31). */
export function subscription(o: {
  id: string; status: string; userId: string | null; planId: string | null; createdSeconds: number;
  periodEndSeconds: number; cancelAtPeriodEnd?: boolean; canceledAtSeconds?: number | null; priceId?: string;
}) {
  const start = o.periodEndSeconds - 30 * 86_400;
  const priceId = o.priceId ?? (o.planId ? STRIPE_PRICES[o.planId as keyof typeof STRIPE_PRICES] : undefined) ??
    STRIPE_PRICES.pro;
  const metadata: Record<string, string> = {};
  if (o.userId) metadata.userId = o.userId;
  if (o.planId) metadata.planId = o.planId;
  const price = {
    id: priceId, object: 'price', active: true, billing_scheme: 'per_unit', created: 1_730_000_000,
    currency: 'usd', custom_unit_amount: null, livemode: false, lookup_key: null, metadata: {}, nickname: null,
    product: 'prod_RkernelPro0000', recurring: { interval: 'month', interval_count: 1, meter: null,
      usage_type: 'licensed' }, tax_behavior: 'unspecified', tiers_mode: null, transform_quantity: null,
    type: 'recurring', unit_amount: 1999, unit_amount_decimal: '1999',
  };
  return {
    id: o.id, object: 'subscription', application: null, application_fee_percent: null,
    automatic_tax: { disabled_reason: null, enabled: false, liability: null }, billing_cycle_anchor: start,
    billing_cycle_anchor_config: null, billing_mode: { flexible: null, type: 'classic' }, billing_thresholds: null,
    cancel_at: o.cancelAtPeriodEnd ? o.periodEndSeconds : null, cancel_at_period_end: o.cancelAtPeriodEnd ?? false,
    canceled_at: o.canceledAtSeconds ?? null,
    cancellation_details: {
      comment: null, feedback: null, reason: o.canceledAtSeconds ? 'cancellation_requested' : null,
    },
    collection_method: 'charge_automatically', created: o.createdSeconds, currency: 'usd',
    customer: 'cus_RkernelCustomer01', days_until_due: null, default_payment_method: 'pm_1QkernelCard000000',
    default_source: null, default_tax_rates: [], description: null, discounts: [],
    ended_at: o.status === 'canceled' ? o.canceledAtSeconds ?? null : null,
    invoice_settings: { account_tax_ids: null, issuer: { type: 'self' } },
    items: {
      object: 'list',
      data: [{
        id: `si_${suffix(o.id, 14)}`, object: 'subscription_item', billing_thresholds: null, created: o.createdSeconds,
        current_period_end: o.periodEndSeconds, current_period_start: start, discounts: [], metadata: {},
        plan: { id: priceId, object: 'plan', active: true, amount: 1999, interval: 'month', interval_count: 1 },
        price, quantity: 1, subscription: o.id, tax_rates: [],
      }],
      has_more: false, total_count: 1, url: `/v1/subscription_items?subscription=${o.id}`,
    },
    latest_invoice: `in_1Q${suffix(o.id + 'in')}`, livemode: false, metadata,
    next_pending_invoice_item_invoice: null, on_behalf_of: null, pause_collection: null,
    payment_settings: { payment_method_options: null, payment_method_types: null, save_default_payment_method: 'off' },
    pending_invoice_item_interval: null, pending_setup_intent: null, pending_update: null, schedule: null,
    start_date: o.createdSeconds, status: o.status, test_clock: null, transfer_data: null, trial_end: null,
    trial_settings: { end_behavior: { missing_payment_method: 'create_invoice' } }, trial_start: null,
  };
}

/** A paid renewal invoice (billing_reason subscription_cycle). */
export function renewalInvoice(o: { subscriptionId: string; userId: string | null; planId: string | null;
  createdSeconds: number; periodEndSeconds: number }) {
  const metadata: Record<string, string> = {};
  if (o.userId) metadata.userId = o.userId;
  if (o.planId) metadata.planId = o.planId;
  return {
    id: `in_1Q${suffix(o.subscriptionId + o.periodEndSeconds)}`, object: 'invoice', account_country: 'US',
    amount_due: 1999, amount_paid: 1999, amount_remaining: 0, attempt_count: 1, attempted: true,
    billing_reason: 'subscription_cycle', collection_method: 'charge_automatically', created: o.createdSeconds,
    currency: 'usd', customer: 'cus_RkernelCustomer01', livemode: false, metadata: {},
    lines: {
      object: 'list', has_more: false, total_count: 1, url: '/v1/invoices/lines',
      data: [{
        id: 'il_1QkernelLine0000', object: 'line_item', amount: 1999, currency: 'usd', description: '1 × Pro',
        period: { start: o.periodEndSeconds - 30 * 86_400, end: o.periodEndSeconds }, quantity: 1,
        parent: { type: 'subscription_item_details', subscription_item_details: {
          subscription: o.subscriptionId, subscription_item: 'si_kernel', proration: false, invoice_item: null } },
      }],
    },
    parent: {
      type: 'subscription_details', quote_details: null,
      subscription_details: { metadata, subscription: o.subscriptionId },
    },
    period_end: o.periodEndSeconds - 30 * 86_400, period_start: o.periodEndSeconds - 60 * 86_400,
    status: 'paid', status_transitions: { finalized_at: o.createdSeconds, paid_at: o.createdSeconds },
    total: 1999,
  };
}

/** A webhook event envelope around `object`. */
export function stripeEvent(id: string, type: string, createdSeconds: number, object: unknown,
  previous?: Record<string, unknown>) {
  return {
    id, object: 'event', api_version: Stripe.API_VERSION, context: undefined, created: createdSeconds,
    data: { object, ...(previous ? { previous_attributes: previous } : {}) }, livemode: false, pending_webhooks: 1,
    request: { id: null, idempotency_key: null }, type,
  };
}

/** The Stripe event Stripe would send for a port event (the inverse of the adapter's reading). */
export function stripeEventFor(e: PaymentEvent) {
  const created = sec(e.createdAt);
  switch (e.type) {
    case 'payment.succeeded': {
      const p = e.payment;
      const session = checkoutSession({
        seed: p.externalId, mode: 'payment', createdSeconds: created - 60, amountCents: p.amountCents,
        currency: p.currency, userId: p.userId ?? '', status: 'complete', paymentStatus: 'paid',
        metadata: { userId: p.userId ?? '', reference: p.reference ?? '' },
        successUrl: 'https://app.example.com/billing/done', cancelUrl: 'https://app.example.com/billing',
      });
      return stripeEvent(e.id, 'checkout.session.completed', created, { ...session, id: p.externalId });
    }
    case 'subscription.renewed': {
      const s = e.subscription;
      return stripeEvent(e.id, 'invoice.paid', created, renewalInvoice({
        subscriptionId: s.externalId, userId: s.userId, planId: s.planId, createdSeconds: created,
        periodEndSeconds: sec(s.currentPeriodEnd!),
      }));
    }
    case 'other':
      return stripeEvent(e.id, e.providerType, created, { id: 'obj_other', object: 'unknown' });
    default: {
      const s = e.subscription;
      const status = { 'subscription.activated': 'active', 'subscription.past_due': 'past_due',
        'subscription.cancelled': 'canceled' }[e.type];
      const type = e.type === 'subscription.cancelled' ? 'customer.subscription.deleted'
        : e.type === 'subscription.activated' ? 'customer.subscription.created' : 'customer.subscription.updated';
      return stripeEvent(e.id, type, created, subscription({
        id: s.externalId, status, userId: s.userId, planId: s.planId, createdSeconds: created - 3600,
        periodEndSeconds: sec(s.currentPeriodEnd!), cancelAtPeriodEnd: s.cancelAtPeriodEnd,
        canceledAtSeconds: e.type === 'subscription.cancelled' ? created : null,
      }), e.type === 'subscription.past_due' ? { status: 'active' } : undefined);
    }
  }
}

/** A delivery as Stripe makes it: the JSON body and its `Stripe-Signature`. */
export function signedStripeDelivery(event: unknown, o: { timestampSeconds: number; secret?: string }) {
  const payload = JSON.stringify(event, null, 2);
  const signature = Stripe.webhooks.generateTestHeaderString({
    payload, secret: o.secret ?? STRIPE_WEBHOOK_SECRET, timestamp: o.timestampSeconds,
  });
  return { rawBody: payload, headers: { 'stripe-signature': signature, 'content-type': 'application/json' } };
}
