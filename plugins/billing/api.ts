/**
 * What billing exports to plugins that list it in `requires`:
 * `defineServices<{ requires: BillingExports }>()`, then `ledger` and `subscriptions` in the cradle.
 * The shapes above the line are the cross-plugin interface agreed with payments and metering; what
 * follows it is additive.
 */
export const MICROS_PER_CENT = 1_000_000;
export interface Hold {
  id: string;
  userId: string;
  amountMicros: number;
  status: 'held' | 'captured' | 'released' | 'expired';
  expiresAt: string;
  reference: string | null;
}
export interface LedgerEntry { id: string; userId: string; kind: 'grant'|'purchase'|'free_credit'|'charge'|'refund'|
  'adjustment'; amountMicros: number; balanceAfterMicros: number; reference: string | null; createdAt: string }
export interface Balance { balanceCents: number; balanceMicros: number; freeCreditsRemaining: number;
  freeCreditsResetAt: string | null; lifetimeUsageCents: number }
export interface Ledger {   // exported service name: `ledger`
  hold(userId: string, amountMicros: number, o: { idempotencyKey: string; reference?: string; ttlSeconds?: number }):
    Promise<Hold>;                       // throws 402 INSUFFICIENT_CREDITS (details.upgrade) when not covered
  capture(holdId: string, actualMicros: number, o?: CaptureOptions): Promise<LedgerEntry>; // actual > hold: capped
  release(holdId: string): Promise<void>;
  grant(userId: string, amountMicros: number, o: { idempotencyKey: string; kind?: 'grant'|'purchase'|'adjustment';
    reason?: string; reference?: string }): Promise<LedgerEntry>;
  refund(entryId: string, o: { idempotencyKey: string; amountMicros?: number; reason?: string }): Promise<LedgerEntry>;
  balance(userId: string): Promise<Balance>;
}
export interface PlanLimits { tokensPerPeriod?: number; tokensPerDay?: number; costCentsPerMonth?: number;
  storageBytes?: number; files?: number; rateLimitTier?: string }
export interface Plan { id: string; name: string; description: string; priceCents: number; interval: 'month'|'year';
  features: string[]; limits: PlanLimits; monthlyFreeCreditsCents: number; gracePeriodHours: number;
  visibility: 'public'|'hidden'; status: 'active'|'retired' }
export interface SubscriptionView { id: string; userId: string; planId: string; status: 'active'|'cancelled'|
  'expired'|'past_due'; currentPeriodStart: string; currentPeriodEnd: string; cancelAtPeriodEnd: boolean;
  expiresAt: string | null }
export interface Subscriptions {   // exported service name: `subscriptions`
  current(userId: string): Promise<{ subscription: SubscriptionView | null; plan: Plan }>; // free plan when none
  activate(userId: string, planId: string, o: ActivateOptions): Promise<SubscriptionView>; // additive options below
  markPastDue(userId: string, externalId?: string): Promise<void>;
  plans(): Promise<Plan[]>;
  plan(id: string): Promise<Plan | null>;
  /** Additive: called on this instance after a user's subscription changed (drop cached plans at once). */
  onChange?(listener: (userId: string) => void): void;
  /**
   * Additive: the provider ended subscription `externalId` (e.g. Stripe's customer.subscription.deleted):
   * it is cancelled now. A no-op when the user's subscription is another one (replaced by an upgrade).
   */
  end?(userId: string, o: { externalId: string }): Promise<void>;
  /** Additive: subscriptions that grant their plan now (active or past due), counted per plan. */
  activeByPlan?(): Promise<Array<{ planId: string; count: number }>>;
}

/** Additive options of `Subscriptions.activate` (payments passes what the provider says of the period). */
export interface ActivateOptions {
  periodEnd?: Date; externalId?: string; source: 'payment' | 'admin' | 'user';
  /** The provider's period start (a renewal's period begins where the last one ended). */
  periodStart?: Date;
  /** The provider's word on a cancellation at the period end (set in its portal, say). */
  cancelAtPeriodEnd?: boolean;
}
export interface BillingExports { ledger: Ledger; subscriptions: Subscriptions }

// ---- additive ---------------------------------------------------------------------------------------------

/** Additive options of `Ledger.capture`. */
export interface CaptureOptions {
  /** The hold's user (the caller knows it): saves a lookup before the lock; a wrong one is 404. */
  userId?: string;
  /**
   * Runs inside the capture's transaction, after the charge, on a first capture only (not a replay): what it
   * writes through `em` commits or rolls back with the charge (e.g. the usage row); if it throws, nothing is charged.
   */
  within?: (em: import('@mikro-orm/core').EntityManager, entry: LedgerEntryDetail) => Promise<void>;
  /**
   * Like `within`, given only the transaction's connection, for plain statements (`metering.insert`): no
   * EntityManager is made for it, and the capture is a direct transaction on PostgreSQL too.
   */
  sql?: (db: SqlTarget, entry: LedgerEntryDetail) => Promise<void>;
}

/** Where a statement runs: an EntityManager, or a transaction's connection (`execute(sql, params, method, ctx)`). */
export type SqlTarget = Pick<import('@mikro-orm/core').EntityManager, 'getConnection' | 'getTransactionContext'>;

/** Fields a LedgerEntry carries beyond the agreed interface (the HTTP view shows them). */
export interface LedgerEntryDetail extends LedgerEntry {
  /** The part of `amountMicros` drawn from (or returned to) this month's free credits. */
  freeMicros: number;
  holdId: string | null;
  reason: string | null;
  /** For a charge: how much of it has been refunded so far. */
  refundedMicros: number;
  /** For a refund: the charge it refunds. */
  refundOf: string | null;
  /** For a capped capture: what the caller asked for beyond the hold (never charged). */
  uncollectedMicros: number;
}

/** Balance with the exact parts behind the display values. */
export interface BalanceDetail extends Balance {
  /** Spendable now = free + purchased - held (micros); `balanceMicros` is the same number. */
  freeCreditsRemainingMicros: number;
  purchasedMicros: number;
  heldMicros: number;
  lifetimeUsageMicros: number;
  overdraftMicros: number;
}

/** The subscription view with the downgrade scheduled for the period end, if any. */
export interface SubscriptionDetail extends SubscriptionView {
  scheduledPlanId: string | null;
  source: 'payment' | 'admin' | 'user';
  externalId: string | null;
}
