/**
 * PaymentGateway port: takes money for credits and plans, and turns the provider's signed
 * webhooks into typed events. Amounts are integer cents. Adapters: adapters/payments/fake.ts
 * (the embedded default: purchases complete at once) and adapters/payments/stripe.ts (Checkout
 * Sessions for credits, Stripe Billing for plans). Conformance: test/ports/payments.suite.ts.
 *
 * Errors (AppError codes):
 * - `WEBHOOK_SIGNATURE_INVALID` (400): the signature header is missing, wrong, or too old.
 * - `WEBHOOK_PAYLOAD_INVALID` (400): signed, but not an event the adapter can read.
 * - `PAYMENT_PROVIDER_UNAVAILABLE` (503, Retry-After): the provider is down, slow or rate limiting.
 * - `PAYMENT_PROVIDER_ERROR` (502): the provider refused the request (bad key, unknown price...).
 */

export interface CheckoutRequest {
  amountCents: number;
  userId: string;
  /** The same key returns the same checkout (the provider's idempotency key). */
  idempotencyKey: string;
  /** Ours, echoed in the webhook events of this purchase (e.g. the purchase row id). */
  reference: string;
  successUrl: string;
  cancelUrl: string;
  /** Shown on the provider's page. */
  description?: string;
  /** ISO 4217, lower case; default the adapter's. */
  currency?: string;
}

export interface CompletedPurchase {
  status: 'completed';
  /** The provider's id of the payment. */
  externalId: string;
  amountCents: number;
  currency: string;
}

export interface PendingCheckout {
  status: 'pending';
  /** Where the user pays; the purchase completes with a `payment.succeeded` webhook event. */
  checkoutUrl: string;
  externalId: string;
  amountCents: number;
  currency: string;
  expiresAt: string | null;
}

export type CheckoutResult = CompletedPurchase | PendingCheckout;

export interface SubscriptionRequest {
  userId: string;
  planId: string;
  idempotencyKey: string;
  successUrl: string;
  cancelUrl: string;
}

export interface ActiveSubscription {
  status: 'active';
  externalId: string;
  planId: string;
  currentPeriodEnd: string;
}

export interface PendingSubscription {
  status: 'pending';
  checkoutUrl: string;
  externalId: string;
  planId: string;
}

export type SubscriptionResult = ActiveSubscription | PendingSubscription;

export interface CancelResult {
  externalId: string;
  status: 'cancelled' | 'cancel_at_period_end';
  /** When access ends: now for an immediate cancel, the period end otherwise. */
  endsAt: string | null;
}

interface EventBase {
  /** The provider's event id: process each once. */
  id: string;
  /** When the provider created the event (ISO-8601): orders events about the same object. */
  createdAt: string;
}

export interface PaymentSucceededEvent extends EventBase {
  type: 'payment.succeeded';
  payment: {
    externalId: string;
    /** Our `CheckoutRequest.reference`, when the payment came from `createCheckout`. */
    reference: string | null;
    userId: string | null;
    amountCents: number;
    currency: string;
  };
}

export type SubscriptionEventType =
  'subscription.activated' | 'subscription.renewed' | 'subscription.past_due' | 'subscription.cancelled';

export interface SubscriptionEvent extends EventBase {
  type: SubscriptionEventType;
  subscription: {
    externalId: string;
    userId: string | null;
    planId: string | null;
    currentPeriodEnd: string | null;
    cancelAtPeriodEnd: boolean;
    /** When the provider's current period began (ISO-8601), where the event says. */
    currentPeriodStart?: string | null;
  };
}

/** An event the port does not model; acknowledge it and move on. */
export interface OtherEvent extends EventBase {
  type: 'other';
  providerType: string;
}

export type PaymentEvent = PaymentSucceededEvent | SubscriptionEvent | OtherEvent;

export interface WebhookInput {
  /** The body exactly as received: signatures cover the bytes, not the parsed JSON. */
  rawBody: string | Buffer;
  /** Request headers, lower-case names. */
  headers: Record<string, string | string[] | undefined>;
}

export interface PaymentGateway {
  /** `fake`, `stripe`...: which provider's webhooks this gateway reads. */
  readonly provider: string;
  createCheckout(request: CheckoutRequest): Promise<CheckoutResult>;
  createSubscription(request: SubscriptionRequest): Promise<SubscriptionResult>;
  /** At period end by default; `immediately` ends access now. */
  cancelSubscription(externalId: string, options?: { immediately?: boolean }): Promise<CancelResult>;
  /** Undoes a cancellation at period end (the subscription renews again). */
  resumeSubscription?(externalId: string): Promise<void>;
  /** Verifies the signature and reads the event; throws WEBHOOK_SIGNATURE_INVALID (400) when it does not hold. */
  parseWebhook(input: WebhookInput): Promise<PaymentEvent>;
}
