/** What other plugins may use of payments: the purchase view and the events it publishes. */
export interface PurchaseView {
  id: string;
  status: 'pending' | 'completed';
  amountCents: number;
  currency: string | null;
  provider: string;
  checkoutUrl: string | null;
  expiresAt: string | null;
  ledgerEntryId: string | null;
  createdAt: string;
  completedAt: string | null;
}

/** `payments.purchase.completed`: credits were granted for a purchase. */
export interface PurchaseCompleted {
  purchaseId: string; userId: string; amountCents: number; ledgerEntryId: string; provider: string;
}

/**
 * `payments.subscription.changed`: the provider's latest state of a plan subscription, after it was
 * applied through `subscriptions.activate|markPastDue`. `cancelled` has no Subscriptions call in
 * billing's API: billing (or anyone) ends the subscription on this event.
 */
export interface SubscriptionChanged {
  userId: string; planId: string | null; externalId: string; provider: string;
  status: 'active' | 'past_due' | 'cancelled'; currentPeriodEnd: string | null; cancelAtPeriodEnd: boolean;
  eventType: string;
}

export interface PaymentsConfig {
  successUrl: string;
  cancelUrl: string;
  minPurchaseCents: number;
  maxPurchaseCents: number;
}
