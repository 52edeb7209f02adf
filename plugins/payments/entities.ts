import { defineEntity, p, type RowOf } from '../../kernel/index.ts';

/**
 * One credit purchase: made by `POST /billing/purchase`, completed at once (fake) or by the
 * provider's `payment.succeeded` webhook. Not `ownedBy`: webhooks have no principal, so every
 * query names the user itself.
 */
export const PaymentPurchase = defineEntity('PaymentPurchase', {
  table: 'payments_purchases',
  properties: {
    id: p.id(),
    userId: p.string({ length: 36 }),
    idempotencyKey: p.string({ length: 255 }),
    provider: p.string({ length: 30 }),
    amountCents: p.integer(),
    currency: p.string({ length: 3, nullable: true }),
    /** pending, completed */
    status: p.string({ length: 20 }),
    externalId: p.string({ length: 255, nullable: true }),
    checkoutUrl: p.text({ nullable: true }),
    expiresAt: p.datetime({ nullable: true }),
    ledgerEntryId: p.string({ length: 36, nullable: true }),
    completedAt: p.datetime({ nullable: true }),
    createdAt: p.createdAt(),
    updatedAt: p.updatedAt(),
  },
  indexes: [{ properties: ['userId', 'idempotencyKey'], unique: true }, { properties: ['externalId'] }],
});
export type PaymentPurchaseRow = RowOf<typeof PaymentPurchase>;

/** Each provider event processed once: the row is written in the flush that applies the event. */
export const PaymentEventReceipt = defineEntity('PaymentEventReceipt', {
  table: 'payments_events',
  properties: {
    id: p.id(),
    provider: p.string({ length: 30 }),
    eventId: p.string({ length: 255 }),
    type: p.string({ length: 80 }),
    /** applied, stale, ignored, unmatched */
    outcome: p.string({ length: 20 }),
    providerCreatedAt: p.datetime(),
    receivedAt: p.datetime(),
  },
  indexes: [{ properties: ['provider', 'eventId'], unique: true }],
});
export type PaymentEventReceiptRow = RowOf<typeof PaymentEventReceipt>;

/** The provider's latest word on a subscription: events older than `lastEventAt` are stale. */
export const PaymentSubscription = defineEntity('PaymentSubscription', {
  table: 'payments_subscriptions',
  properties: {
    id: p.id(),
    provider: p.string({ length: 30 }),
    externalId: p.string({ length: 255 }),
    userId: p.string({ length: 36 }),
    planId: p.string({ length: 100, nullable: true }),
    /** active, past_due, cancelled */
    status: p.string({ length: 20 }),
    currentPeriodEnd: p.datetime({ nullable: true }),
    cancelAtPeriodEnd: p.boolean({ default: false }),
    lastEventId: p.string({ length: 255 }),
    lastEventAt: p.datetime(),
    createdAt: p.createdAt(),
    updatedAt: p.updatedAt(),
  },
  indexes: [{ properties: ['provider', 'externalId'], unique: true }, { properties: ['userId'] }],
});
export type PaymentSubscriptionRow = RowOf<typeof PaymentSubscription>;
