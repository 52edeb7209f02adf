/**
 * What metering exports to plugins that list it in `requires`:
 * `defineServices<{ requires: MeteringExports }>()`. The first block is the agreed interface
 * (helper brief); below it, additive helpers that turn decisions into responses.
 */
import type { EntityManager } from '@mikro-orm/core';
import { AppError } from '../../kernel/index.ts';

export interface UsageEvent { userId: string; kind: 'tool'|'chat'|'embedding'|'generation'|string; subject: string;
  tokensIn: number; tokensOut: number; costMicros: number; reference?: string; status?: 'ok'|'failed';
  occurredAt?: Date }
export interface Metering {  // exported service name: `metering`
  record(em: EntityManager, e: UsageEvent): void;      // staged in the caller's unit of work (their flush commits)
  /** Additive: written now, in `em`'s open transaction (one plain INSERT; commits or rolls back with it). */
  insert?(em: Pick<EntityManager, 'getConnection' | 'getTransactionContext'>, e: UsageEvent): Promise<void>;
}
export type LimitDecision = { outcome: 'ok' } | { outcome: 'warn'; message: string; limit: string }
  | { outcome: 'deny'; code: 'USAGE_LIMIT_EXCEEDED'; limit: string; resetAt: string; plans: string[]; grace?: boolean;
    /** Additive: when `grace`, the end of the grace period (the request may go through until then). */
    graceEndsAt?: string; /** Additive: the limit's value and what is used of it (tokens or cents). */
    max?: number; used?: number };
export interface Limits { check(userId: string, ask: { tokens?: number; costMicros?: number }): Promise<LimitDecision> }
export interface Entitlements { check(userId: string, feature: string): Promise<{ ok: true } |
  { ok: false; code: 'SUBSCRIPTION_REQUIRED'; plans: string[] }> }
export interface MeteringExports { metering: Metering; limits: Limits; entitlements: Entitlements }

/** The limits a plan may set, as named in decisions and in `metering.limit.reached`. */
export type LimitName = 'tokensPerDay' | 'tokensPerPeriod' | 'costCentsPerMonth';

/** Published once per user, limit and period when usage first reaches 100% of the limit. */
export interface LimitReachedEvent { userId: string; limit: string; period: string; resetAt: string; max: number }

/** True when the caller must refuse the request (a deny outside a grace period). */
export function refuses(d: LimitDecision): boolean {
  return d.outcome === 'deny' && !d.grace;
}

/**
 * The `X-Usage-Warning` header value for a decision, or undefined when none is due: at 80%
 * of a limit, and while a grace period lets an exceeded limit through.
 */
export function usageWarning(d: LimitDecision): string | undefined {
  if (d.outcome === 'warn') return d.message;
  if (d.outcome === 'deny' && d.grace) {
    return `${d.limit} exceeded; grace period until ${d.graceEndsAt ?? d.resetAt}`;
  }
  return undefined;
}

/** Headers to add to the caller's response for a decision (`{}` when none). */
export function usageHeaders(d: LimitDecision): Record<string, string> {
  const warning = usageWarning(d);
  return warning === undefined ? {} : { 'X-Usage-Warning': warning };
}

/** The 402 `USAGE_LIMIT_EXCEEDED` error for a refusing decision. */
export function limitError(d: Extract<LimitDecision, { outcome: 'deny' }>): AppError {
  const lift = d.plans.length ? ` Upgrade to ${d.plans.join(' or ')}, or wait until ${d.resetAt}.` :
    ` It resets at ${d.resetAt}.`;
  return new AppError(402, 'USAGE_LIMIT_EXCEEDED', `Usage limit ${d.limit} reached.${lift}`, { details: {
    limit: d.limit, resetAt: d.resetAt, plans: d.plans, upgrade: d.plans.length > 0,
    ...(d.max === undefined ? {} : { max: d.max, used: d.used }),
  } });
}

/** Throws the 402 when the decision refuses; returns the headers to add otherwise. */
export function enforce(d: LimitDecision): Record<string, string> {
  if (d.outcome === 'deny' && !d.grace) throw limitError(d);
  return usageHeaders(d);
}

/** The 402 `SUBSCRIPTION_REQUIRED` error for a feature the plan lacks. */
export function entitlementError(feature: string, plans: string[]): AppError {
  const which = plans.length ? ` Plans that include it: ${plans.join(', ')}.` : '';
  return new AppError(402, 'SUBSCRIPTION_REQUIRED', `Your plan does not include ${feature}.${which}`, {
    details: { feature, plans, upgrade: plans.length > 0 },
  });
}
