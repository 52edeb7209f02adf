import type { RateLimitPolicy } from '../../kernel/ports/rateLimiter.ts';

/**
 * GCRA (generic cell rate algorithm) over one stored number per key: the theoretical arrival
 * time (TAT). Times are integer MICROseconds so that the arithmetic is exact (a float TAT
 * drifts by ulps and then lets the `limit`-th request of a burst fail) and so that Redis
 * `TIME` (seconds + microseconds) maps onto it directly; 1.8e15 µs is far below 2^53.
 *
 *   T (emission interval) = ceil(windowMs * 1000 / limit) µs
 *   W (burst capacity)    = limit * T  (= windowMs, rounded up by < limit µs)
 *   tolerance             = W - T
 *
 * A request of `cost` at `now` is allowed iff max(TAT, now) + cost*T - now <= W. So `limit`
 * requests can go at once, then one per T. What this guarantees, exactly (proof in
 * test/ports/rateLimiter.test.ts): within any closed interval [a, b] the allowed cost is at
 * most limit + floor((b - a) / T). Hence never more than `limit` within any interval shorter
 * than T (no 2x burst at a boundary: a fixed window lets 2*limit through in 1 ms), and a
 * long-run rate of limit per windowMs; but a full burst followed by a steady stream puts up to
 * 2*limit - 1 into one windowMs. Strictly <= limit per sliding window needs a sliding log.
 *
 * The Lua script in redis.ts is a line-by-line copy of `gcra`: change both together.
 */
export interface GcraResult {
  allowed: boolean;
  /** TAT to store when allowed (µs). Equal to the input TAT when refused: refusals change nothing. */
  newTat: number;
  remaining: number;
  resetMs: number;
  retryAfterMs: number;
}

/** Emission interval T in µs (at least 1). */
export function emissionIntervalUs(policy: RateLimitPolicy): number {
  return Math.max(1, Math.ceil((policy.windowMs * 1000) / policy.limit));
}

/** Rounds µs up to whole ms: a client that waits `retryAfterMs` and retries is then allowed. */
export const usToMs = (us: number): number => Math.ceil(us / 1000);

/** Programming errors, thrown before anything is counted. */
export function checkConsume(policy: RateLimitPolicy, cost: number): void {
  if (!Number.isSafeInteger(policy.limit) || policy.limit < 1) {
    throw new RangeError(`rate limit must be a positive integer, got ${policy.limit}`);
  }
  if (!Number.isFinite(policy.windowMs) || policy.windowMs <= 0) {
    throw new RangeError(`rate limit windowMs must be a positive number, got ${policy.windowMs}`);
  }
  if (policy.algorithm !== undefined && policy.algorithm !== 'gcra' && policy.algorithm !== 'sliding-window') {
    throw new RangeError(`rate limit algorithm must be gcra or sliding-window, got ${String(policy.algorithm)}`);
  }
  if (!Number.isSafeInteger(cost) || cost < 0 || cost > policy.limit) {
    throw new RangeError(`rate limit cost must be an integer in [0, limit=${policy.limit}], got ${cost}`);
  }
}

/**
 * @param nowUs  current time, integer µs
 * @param tatUs  stored TAT (µs), or undefined for an unknown key. A TAT in the past means the
 *               key is back to its full allowance, exactly as if it were unknown.
 * @param cost   0 peeks without counting.
 */
export function gcra(nowUs: number, tatUs: number | undefined, policy: RateLimitPolicy, cost: number): GcraResult {
  const t = emissionIntervalUs(policy);
  const w = t * policy.limit;
  const tat = Math.max(tatUs ?? nowUs, nowUs);
  const newTat = tat + cost * t;
  const ahead = newTat - nowUs;
  if (ahead > w) {
    return {
      allowed: false,
      newTat: tatUs ?? nowUs,
      remaining: 0,
      resetMs: usToMs(tat - nowUs),
      retryAfterMs: usToMs(ahead - w),
    };
  }
  return { allowed: true, newTat, remaining: Math.floor((w - ahead) / t), resetMs: usToMs(ahead), retryAfterMs: 0 };
}
