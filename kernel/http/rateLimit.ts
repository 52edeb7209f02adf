import type { Context } from 'koa';
import type { Principal } from '../plugin.ts';
import type { RateLimiter, RateLimitPolicy } from '../ports/rateLimiter.ts';
import type { KernelConfig } from '../config/schema.ts';
import type { OperationEntry } from './contracts.ts';
import { consumeWithBudget, withinTier } from './rateBudget.ts';
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

  return async function rateLimit(ctx, principal) {
    const tier = principal?.tier ?? config.defaultTier;
    const tierPolicy = routePolicy ?? {
      limit: config.tiers[tier] ?? config.tiers[config.defaultTier],
      windowMs: config.windowMs,
    };
    const policy = principal?.rateLimit ? withinTier(principal.rateLimit, tierPolicy) : tierPolicy;
    const name = principal?.rateLimit ? 'credential' : routePolicy ? entry.operationId : tier;
    const key = `${prefix}${principal?.rateLimitKey ?? `${principal ? `${principal.type}:${principal.id}` : `ip:${ctx.ip}`}`}`;
    const { decision, policy: applied } = await consumeWithBudget(
      limiter,
      key,
      counted(policy),
      principal,
      prefix,
      counted(tierPolicy),
    );
    dialect.setHeaders(ctx, name, applied, decision);
    if (!decision.allowed) throw dialect.refusal(applied, decision);
  };
}
