import { defineEntity, p, type RowOf } from '../../kernel/index.ts';
import type { PlanLimits } from './api.ts';

/** A plan; its `id` is the slug clients see (`free`, `premium`). Retired, never deleted, once in use. */
export const BillingPlan = defineEntity('BillingPlan', {
  table: 'billing_plans',
  properties: {
    id: p.id(),
    name: p.string({ length: 100 }),
    description: p.text(),
    priceCents: p.integer(),
    interval: p.string({ length: 10 }),
    features: p.array(p.string()),
    limits: p.json<PlanLimits>(),
    monthlyFreeCreditsCents: p.integer(),
    gracePeriodHours: p.integer(),
    visibility: p.string({ length: 10 }),
    status: p.string({ length: 10 }),
    position: p.integer({ default: 0 }),
    createdAt: p.createdAt(),
    updatedAt: p.updatedAt(),
  },
});
export type PlanRow = RowOf<typeof BillingPlan>;

/**
 * A user's subscription: one row per user (unique), so "at most one active" holds by construction.
 * The row stores the last state written; `advance()` (subscriptionState.ts) computes the state now.
 */
export const BillingSubscription = defineEntity('BillingSubscription', {
  table: 'billing_subscriptions',
  properties: {
    id: p.id(),
    userId: p.string({ length: 36 }),
    planId: p.string({ length: 36 }),
    status: p.string({ length: 10 }),
    currentPeriodStart: p.datetime(),
    currentPeriodEnd: p.datetime(),
    cancelAtPeriodEnd: p.boolean({ default: false }),
    /** A downgrade, applied at the period end. */
    scheduledPlanId: p.string({ length: 36, nullable: true }),
    /** When it stopped (cancelled, expired), or when past_due began. */
    endedAt: p.datetime({ nullable: true }),
    pastDueAt: p.datetime({ nullable: true }),
    source: p.string({ length: 10 }),
    externalId: p.string({ length: 200, nullable: true }),
    version: p.integer({ default: 0 }),
    createdAt: p.createdAt(),
    updatedAt: p.updatedAt(),
  },
  indexes: [{ properties: ['userId'], unique: true }, { properties: ['planId'] }, { properties: ['externalId'] }],
});
export type SubscriptionRow = RowOf<typeof BillingSubscription>;

/**
 * A user's money, in microcents: this month's free credits, purchased credits (never expire) and the
 * sum of open holds. Every ledger operation locks this row first, so one user's operations take turns.
 */
export const BillingAccount = defineEntity('BillingAccount', {
  table: 'billing_accounts',
  properties: {
    id: p.id(),
    userId: p.string({ length: 36 }),
    freeMicros: p.bigint(),
    /** The month (`2026-01`) the free credits belong to; another month means they were reset. */
    freePeriod: p.string({ length: 7 }),
    purchasedMicros: p.bigint(),
    heldMicros: p.bigint(),
    lifetimeUsageMicros: p.bigint(),
    createdAt: p.createdAt(),
    updatedAt: p.updatedAt(),
  },
  indexes: [{ properties: ['userId'], unique: true }],
});
export type AccountRow = RowOf<typeof BillingAccount>;

export const BillingHold = defineEntity('BillingHold', {
  table: 'billing_holds',
  properties: {
    id: p.id(),
    userId: p.string({ length: 36 }),
    amountMicros: p.bigint(),
    status: p.string({ length: 10 }),
    expiresAt: p.datetime(),
    reference: p.string({ length: 200, nullable: true }),
    idempotencyKey: p.string({ length: 200 }),
    entryId: p.string({ length: 36, nullable: true }),
    settledAt: p.datetime({ nullable: true }),
    createdAt: p.createdAt(),
  },
  indexes: [
    { properties: ['userId', 'idempotencyKey'], unique: true },
    { properties: ['userId', 'status', 'expiresAt'] },
  ],
});
export type HoldRow = RowOf<typeof BillingHold>;

export const BillingEntry = defineEntity('BillingEntry', {
  table: 'billing_entries',
  properties: {
    id: p.id(),
    userId: p.string({ length: 36 }),
    kind: p.string({ length: 20 }),
    amountMicros: p.bigint(),
    freeMicros: p.bigint(),
    balanceAfterMicros: p.bigint(),
    freePeriod: p.string({ length: 7 }),
    reference: p.string({ length: 200, nullable: true }),
    reason: p.string({ length: 500, nullable: true }),
    idempotencyKey: p.string({ length: 200 }),
    holdId: p.string({ length: 36, nullable: true }),
    refundOf: p.string({ length: 36, nullable: true }),
    refundedMicros: p.bigint(),
    uncollectedMicros: p.bigint(),
    actorId: p.string({ length: 36, nullable: true }),
    createdAt: p.createdAt(),
  },
  indexes: [
    { properties: ['userId', 'idempotencyKey'], unique: true },
    { properties: ['userId', 'createdAt'] },
  ],
});
export type EntryRow = RowOf<typeof BillingEntry>;

/** Admin actions on billing (plan changes, credit grants): who, what, to whom, when. */
export const BillingAudit = defineEntity('BillingAudit', {
  table: 'billing_audit',
  properties: {
    id: p.id(),
    actorId: p.string({ length: 36, nullable: true }),
    action: p.string({ length: 100 }),
    targetUserId: p.string({ length: 36, nullable: true }),
    details: p.json<Record<string, unknown>>(),
    createdAt: p.createdAt(),
  },
  indexes: [{ properties: ['targetUserId'] }],
});
export type AuditRow = RowOf<typeof BillingAudit>;

export const entities = [BillingPlan, BillingSubscription, BillingAccount, BillingHold, BillingEntry, BillingAudit];
