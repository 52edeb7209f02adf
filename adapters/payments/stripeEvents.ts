/** Reads Stripe webhook events (API 2025-03-31 and later: periods on subscription items) into port events. */
import type { PaymentEvent, SubscriptionEvent, SubscriptionEventType } from '../../kernel/ports/payments.ts';

type Metadata = Record<string, string> | null | undefined;

interface StripeEventJson {
  id: string;
  type: string;
  created: number;
  data: { object: Record<string, unknown> };
}

interface SessionJson {
  id: string; mode: string; payment_status: string; amount_total: number | null; currency: string | null;
  client_reference_id: string | null; metadata: Metadata; payment_intent: string | { id: string } | null;
}

interface SubscriptionJson {
  id: string; status: string; cancel_at_period_end: boolean; metadata: Metadata;
  items?: { data: Array<{ current_period_start?: number; current_period_end?: number; price?: { id: string } }> };
}

interface InvoiceJson {
  id: string; billing_reason: string | null;
  parent?: { subscription_details?: { subscription: string | { id: string }; metadata: Metadata } | null } | null;
  lines?: { data: Array<{ period?: { start?: number; end: number } }> };
}

const iso = (seconds: number) => new Date(seconds * 1000).toISOString();
const idOf = (v: string | { id: string } | null | undefined) => (typeof v === 'string' ? v : v?.id ?? null);

export function readStripeEvent(event: StripeEventJson, planOfPrice: (priceId: string) => string | null): PaymentEvent {
  const base = { id: event.id, createdAt: iso(event.created) };
  const object = event.data.object;
  const other = (): PaymentEvent => ({ ...base, type: 'other', providerType: event.type });

  switch (event.type) {
    case 'checkout.session.completed':
    case 'checkout.session.async_payment_succeeded': {
      const s = object as unknown as SessionJson;
      // Subscriptions are followed through their own events; an unpaid session waits for async_payment_succeeded.
      if (s.mode !== 'payment' || s.payment_status !== 'paid') return other();
      return {
        ...base, type: 'payment.succeeded',
        payment: {
          externalId: s.id,
          reference: s.metadata?.reference ?? null,
          userId: s.client_reference_id ?? s.metadata?.userId ?? null,
          amountCents: s.amount_total ?? 0,
          currency: s.currency ?? 'usd',
        },
      };
    }
    case 'customer.subscription.created':
    case 'customer.subscription.updated':
    case 'customer.subscription.deleted': {
      const sub = object as unknown as SubscriptionJson;
      const type = subscriptionType(event.type, sub.status);
      if (!type) return other();
      const item = sub.items?.data[0];
      return subscriptionEvent(base, type, {
        externalId: sub.id,
        metadata: sub.metadata,
        planId: sub.metadata?.planId ?? (item?.price ? planOfPrice(item.price.id) : null),
        periodStart: item?.current_period_start,
        periodEnd: item?.current_period_end,
        cancelAtPeriodEnd: sub.cancel_at_period_end,
      });
    }
    case 'invoice.paid': {
      const inv = object as unknown as InvoiceJson;
      const details = inv.parent?.subscription_details;
      // The first invoice of a subscription activates it (as customer.subscription.updated to active
      // does); a cycle invoice renews it. Both carry the period they paid for.
      const type = ({ subscription_cycle: 'subscription.renewed', subscription_create: 'subscription.activated' } as
        const)[inv.billing_reason ?? ''];
      if (!type || !details) return other();
      const period = inv.lines?.data[0]?.period;
      return subscriptionEvent(base, type, {
        externalId: idOf(details.subscription)!,
        metadata: details.metadata,
        planId: details.metadata?.planId ?? null,
        periodStart: period?.start,
        periodEnd: period?.end,
        cancelAtPeriodEnd: false,
      });
    }
    default:
      return other();
  }
}

function subscriptionType(eventType: string, status: string): SubscriptionEventType | null {
  if (eventType === 'customer.subscription.deleted' || status === 'canceled') return 'subscription.cancelled';
  if (status === 'active' || status === 'trialing') return 'subscription.activated';
  if (status === 'past_due' || status === 'unpaid') return 'subscription.past_due';
  return null; // incomplete, incomplete_expired, paused: nothing to grant or take away yet
}

function subscriptionEvent(
  base: { id: string; createdAt: string },
  type: SubscriptionEventType,
  s: {
    externalId: string; metadata: Metadata; planId: string | null; periodStart?: number; periodEnd?: number;
    cancelAtPeriodEnd: boolean;
  },
): SubscriptionEvent {
  return {
    ...base, type,
    subscription: {
      externalId: s.externalId,
      userId: s.metadata?.userId ?? null,
      planId: s.planId,
      currentPeriodEnd: s.periodEnd === undefined ? null : iso(s.periodEnd),
      cancelAtPeriodEnd: s.cancelAtPeriodEnd,
      ...(s.periodStart === undefined ? {} : { currentPeriodStart: iso(s.periodStart) }),
    },
  };
}

export function isStripeEvent(v: unknown): v is StripeEventJson {
  const e = v as StripeEventJson | null;
  return typeof e?.id === 'string' && typeof e.type === 'string' && Number.isSafeInteger(e.created) &&
    typeof e.data?.object === 'object' && e.data.object !== null;
}
