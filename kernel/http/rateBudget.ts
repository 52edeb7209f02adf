import type { RateLimitPolicy } from '../ports/rateLimiter.ts';

/**
 * A credential's own policy (a per-key limit chosen by its user) may narrow the tier's,
 * never widen it: a faster or larger one is replaced by the tier's.
 */
export function withinTier(own: RateLimitPolicy, tier: RateLimitPolicy): RateLimitPolicy {
  const faster = own.limit * tier.windowMs > tier.limit * own.windowMs;
  return faster || own.limit > tier.limit ? tier : own;
}
