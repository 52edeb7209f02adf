import type { Context } from 'koa';
import { AppError } from '../errors.ts';
import type { Principal } from '../plugin.ts';
import type { RateLimiter, RateLimitDecision, RateLimitPolicy } from '../ports/rateLimiter.ts';
import type { KernelConfig } from '../config/schema.ts';
import type { OperationEntry } from './contracts.ts';
import { consumeWithBudget, withinTier } from './rateBudget.ts';

export type RateLimitCheck = (ctx: Context, principal: Principal | undefined) => Promise<void>;

/**
 * Per-operation rate limiting on the RateLimiter port. Counted per API key, user or OAuth
 * client (the principal's `rateLimitKey`), else per client IP. Policy: the credential's own,
 * else the route's `x-rate-limit`, else the principal's tier. Every response carries
 * X-RateLimit-* and the IETF RateLimit/RateLimit-Policy headers; refusals are 429 with Retry-After.
 */
export function compileRateLimit(entry: OperationEntry, limiter: RateLimiter, config: KernelConfig['rateLimit']): RateLimitCheck {
  const route = entry.operation['x-rate-limit'] as { limit: number; windowMs?: number } | undefined;
  const routePolicy: RateLimitPolicy | undefined = route ? { limit: route.limit, windowMs: route.windowMs ?? config.windowMs } : undefined;
  const prefix = routePolicy ? `op:${entry.operationId}:` : '';
  const { threshold, header } = config.warning;

  return async function rateLimit(ctx, principal) {
    const tier = principal?.tier ?? config.defaultTier;
    const tierPolicy = routePolicy ?? { limit: config.tiers[tier] ?? config.tiers[config.defaultTier], windowMs: config.windowMs };
    const policy = principal?.rateLimit ? withinTier(principal.rateLimit, tierPolicy) : tierPolicy;
    const name = principal?.rateLimit ? 'credential' : routePolicy ? entry.operationId : tier;
    const key = `${prefix}${principal?.rateLimitKey ?? `${principal ? `${principal.type}:${principal.id}` : `ip:${ctx.ip}`}`}`;
    const { decision, policy: applied } = await consumeWithBudget(limiter, key, policy, principal, prefix, tierPolicy);
    setHeaders(ctx, name, applied, decision, threshold, header);
    if (!decision.allowed) {
      const seconds = Math.max(1, Math.ceil(decision.retryAfterMs / 1000));
      throw new AppError(429, 'RATE_LIMITED', `Too many requests: retry in ${seconds} s`, {
        details: { retry_after: seconds, limit: applied.limit, window_seconds: Math.round(applied.windowMs / 1000) },
        headers: { 'Retry-After': String(seconds) },
      });
    }
  };
}

function setHeaders(ctx: Context, name: string, policy: RateLimitPolicy, d: RateLimitDecision, threshold: number, header: string) {
  const resetSeconds = Math.ceil(d.resetMs / 1000);
  ctx.set('X-RateLimit-Limit', String(policy.limit));
  ctx.set('X-RateLimit-Remaining', String(d.remaining));
  ctx.set('X-RateLimit-Reset', String(Math.ceil((Date.now() + d.resetMs) / 1000)));
  ctx.set('RateLimit-Policy', `"${name}";q=${policy.limit};w=${Math.round(policy.windowMs / 1000)}`);
  ctx.set('RateLimit', `"${name}";r=${d.remaining};t=${resetSeconds}`);
  const used = policy.limit - d.remaining;
  if (d.allowed && used >= policy.limit * threshold) ctx.set(header, `Approaching rate limit (${used}/${policy.limit} requests used)`);
}
