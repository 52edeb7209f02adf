import type { JsonSchema } from '../../kernel/ports/adapter.ts';
import type { Plan } from './api.ts';

/** `plugins.billing` as validated. */
export interface BillingConfig {
  /** Seeded at start when absent from the database; admins change them at runtime after that. */
  plans: PlanSeed[];
  /** The plan of a user with no active subscription. */
  defaultPlan: string;
  /** How far below zero a balance may go, in cents (0: never). */
  overdraftCents: number;
  /** A hold never captured nor released frees its amount after this long. */
  holdTtlSeconds: number;
  /**
   * `auto`: a period end renews the subscription (no payment provider in the loop: the embedded default).
   * `payment`: a paid plan lapses at its period end (plus its grace period) unless payments renew it.
   */
  renewal: 'auto' | 'payment';
  /**
   * What `expiresAt` shows for a subscription that renews itself: `null` (the default: nothing ends it), or
   * `periodEnd`, the end of the period paid for (seed 001's "expiration date").
   */
  expiresAt?: 'null' | 'periodEnd';
  /** How long one instance trusts its cached copy of a user's plan for the principal's tier (seconds). */
  planCacheSeconds: number;
  /** Where the payment provider's checkout for a paid plan returns to. */
  checkout: { successUrl: string; cancelUrl: string };
}

export type PlanSeed = Omit<Plan, 'status' | 'visibility' | 'gracePeriodHours' | 'features' | 'limits' | 'description'>
  & Partial<Pick<Plan, 'status' | 'visibility' | 'gracePeriodHours' | 'features' | 'limits' | 'description'>>;

const limits: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    tokensPerPeriod: { type: 'integer', minimum: 0 },
    tokensPerDay: { type: 'integer', minimum: 0 },
    costCentsPerMonth: { type: 'integer', minimum: 0 },
    storageBytes: { type: 'integer', minimum: 0 },
    files: { type: 'integer', minimum: 0 },
    rateLimitTier: { type: 'string', minLength: 1, maxLength: 50 },
  },
};

export const planSchema: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'name', 'priceCents', 'interval', 'monthlyFreeCreditsCents'],
  properties: {
    id: { type: 'string', pattern: '^[a-z0-9][a-z0-9-]{0,35}$' },
    name: { type: 'string', minLength: 1, maxLength: 100 },
    description: { type: 'string', maxLength: 2000 },
    priceCents: { type: 'integer', minimum: 0 },
    interval: { enum: ['month', 'year'] },
    features: { type: 'array', items: { type: 'string', minLength: 1, maxLength: 100 } },
    limits,
    monthlyFreeCreditsCents: { type: 'integer', minimum: 0 },
    gracePeriodHours: { type: 'integer', minimum: 0 },
    visibility: { enum: ['public', 'hidden'] },
    status: { enum: ['active', 'retired'] },
  },
};

/** 003's numbers (FR-BILL-001, FR-BILL-004, FR-AI-013); prices are the deployment's to set. */
export const defaultPlans: PlanSeed[] = [
  {
    id: 'free', name: 'Free', description: 'Free models, $1.00 of credits every month.', priceCents: 0,
    interval: 'month', features: [], monthlyFreeCreditsCents: 100, gracePeriodHours: 0,
    limits: { tokensPerDay: 10_000, costCentsPerMonth: 100, rateLimitTier: 'free' },
  },
  {
    id: 'premium', name: 'Premium', description: 'Premium models and tools, $10.00 of credits every month.',
    priceCents: 999, interval: 'month', features: ['premium-models', 'tools'], monthlyFreeCreditsCents: 1000,
    gracePeriodHours: 24, limits: { tokensPerDay: 100_000, costCentsPerMonth: 5000, rateLimitTier: 'premium' },
  },
  {
    id: 'enterprise', name: 'Enterprise', description: 'Everything, with enterprise limits.', priceCents: 9900,
    interval: 'month', features: ['premium-models', 'tools', 'priority-support'], monthlyFreeCreditsCents: 1000,
    gracePeriodHours: 24, limits: { tokensPerDay: 10_000_000, rateLimitTier: 'enterprise' },
  },
];

export const billingConfigSchema: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    plans: { type: 'array', items: planSchema, default: defaultPlans },
    defaultPlan: { type: 'string', default: 'free' },
    overdraftCents: { type: 'integer', minimum: 0, default: 0 },
    holdTtlSeconds: { type: 'integer', minimum: 1, default: 900 },
    renewal: { enum: ['auto', 'payment'], default: 'auto' },
    expiresAt: {
      enum: ['null', 'periodEnd'], default: 'null',
      description: 'expiresAt of a self-renewing subscription: null, or its current period end.',
    },
    planCacheSeconds: { type: 'number', minimum: 0, default: 5 },
    checkout: {
      type: 'object', additionalProperties: false, default: {},
      description: 'Where a paid plan\'s checkout (stripe) returns to.',
      properties: {
        successUrl: { type: 'string', default: 'http://localhost:3000/billing/subscribed' },
        cancelUrl: { type: 'string', default: 'http://localhost:3000/billing/cancelled' },
      },
    },
  },
};
