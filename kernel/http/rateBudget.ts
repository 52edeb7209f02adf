import type { Principal } from '../plugin.ts';
import type { RateLimiter, RateLimitDecision, RateLimitPolicy } from '../ports/rateLimiter.ts';

/**
 * A credential's own policy (a per-key limit chosen by its user) may narrow the tier's,
 * never widen it: a faster or larger one is replaced by the tier's.
 */
export function withinTier(own: RateLimitPolicy, tier: RateLimitPolicy): RateLimitPolicy {
  const faster = own.limit * tier.windowMs > tier.limit * own.windowMs;
  return faster || own.limit > tier.limit ? tier : own;
}

/**
 * Consumes the credential's own bucket, then the principal's shared budget (`budgetKey`,
 * e.g. `user:<id>` for every key of a user, counted at the tier's policy). The first refusal wins.
 */
export async function consumeWithBudget(
  limiter: RateLimiter, key: string, policy: RateLimitPolicy,
  principal: Principal | undefined, prefix: string, budget: RateLimitPolicy,
): Promise<{ decision: RateLimitDecision; policy: RateLimitPolicy }> {
  const decision = await limiter.consume(key, policy);
  const budgetKey = typeof principal?.budgetKey === 'string' ? `${prefix}${principal.budgetKey}` : undefined;
  if (!decision.allowed || !budgetKey || budgetKey === key) return { decision, policy };
  const shared = await limiter.consume(budgetKey, budget);
  return shared.allowed ? { decision, policy } : { decision: shared, policy: budget };
}
