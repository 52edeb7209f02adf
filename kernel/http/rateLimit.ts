import type { Context } from 'koa';
import type { Principal } from '../plugin.ts';
import type { RateLimiter, RateLimitPolicy } from '../ports/rateLimiter.ts';
import type { KernelConfig } from '../config/schema.ts';
import type { OperationEntry } from './contracts.ts';
import { withinTier } from './rateBudget.ts';
import { compileRateLimitDialect } from './rateLimitHeaders.ts';

export type RateLimitCheck = (ctx: Context, principal: Principal | undefined) => Promise<void>;

/**
 * Per-operation rate limiting on the RateLimiter port. Counted per API key, user or OAuth
 * client (the principal's `rateLimitKey`), else per client IP. Policy: the credential's own,
 * else the route's `x-rate-limit`, else the principal's tier, counted with `rateLimit.algorithm`.
 * Every response carries the headers `rateLimit.headers` names (rateLimitHeaders.ts); refusals
 * are 429 with Retry-After.
 */
export function compileRateLimit(
  entry: OperationEntry,
  limiter: RateLimiter,
  config: KernelConfig['rateLimit'],
): RateLimitCheck {
  const route = entry.operation['x-rate-limit'] as { limit: number; windowMs?: number } | undefined;
  const routePolicy: RateLimitPolicy | undefined = route
    ? { limit: route.limit, windowMs: route.windowMs ?? config.windowMs }
    : undefined;
  const prefix = routePolicy ? `op:${entry.operationId}:` : '';
  const dialect = compileRateLimitDialect(config);
  const algorithm = config.algorithm ?? 'gcra';
  const counted = (p: RateLimitPolicy): RateLimitPolicy => (algorithm === 'gcra' ? p : { ...p, algorithm });

  // A tier's policy, made once per tier (the config is fixed): a request reads it, it does not build it.
  const tierPolicies = new Map<string, RateLimitPolicy>();
  const tierPolicyOf = (tier: string): RateLimitPolicy => {
    let found = tierPolicies.get(tier);
    if (!found) {
      found = { limit: config.tiers[tier] ?? config.tiers[config.defaultTier], windowMs: config.windowMs };
      if (tierPolicies.size < 1000) tierPolicies.set(tier, found);
    }
    return found;
  };

  return async function rateLimit(ctx, principal) {
    const tier = principal?.tier ?? config.defaultTier;
    const tierPolicy = routePolicy ?? tierPolicyOf(tier);
    const policy = principal?.rateLimit ? withinTier(principal.rateLimit, tierPolicy) : tierPolicy;
    const name = principal?.rateLimit ? 'credential' : routePolicy ? entry.operationId : tier;
    const key = `${prefix}${principal?.rateLimitKey ?? `${principal ? `${principal.type}:${principal.id}` : `ip:${ctx.ip}`}`}`;
    // The credential's own bucket, then the principal's shared budget (`budgetKey`, e.g. `user:<id>` for every key
    // of a user, counted at the tier's policy): the first refusal wins.
    const counting = counted(policy);
    let decision = await limiter.consume(key, counting);
    let applied = counting;
    const budgetKey = typeof principal?.budgetKey === 'string' ? `${prefix}${principal.budgetKey}` : undefined;
    if (decision.allowed && budgetKey && budgetKey !== key) {
      const budget = counted(tierPolicy);
      const shared = await limiter.consume(budgetKey, budget);
      if (!shared.allowed) {
        decision = shared;
        applied = budget;
      }
    }
    dialect.setHeaders(ctx, name, applied, decision);
    if (!decision.allowed) throw dialect.refusal(applied, decision);
  };
}
