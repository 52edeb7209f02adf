/**
 * RateLimiter port: counts requests per key against a policy, atomically across instances.
 * Two algorithms, chosen per policy (`algorithm`, default `gcra`):
 *
 * `sliding-window` is a strict sliding log: every counted request is kept with its time, and a
 * request is allowed iff the requests of the last `windowMs` (those at t with now < t + windowMs)
 * plus its cost are at most `limit`. Exact: never more than `limit` in any window of length
 * windowMs, and each request frees its slot exactly windowMs after it was counted (to the
 * millisecond on the memory adapter, to a few microseconds on Redis). Costs O(limit) memory per key.
 *
 * `gcra`: a burst of up to `limit`, then one request every windowMs/limit.
 * Within any interval of length d at most `limit + floor(d / (windowMs/limit))` pass (so no
 * 2x burst at a fixed-window boundary), and the long-run rate is `limit` per `windowMs`.
 * `cost: 0` peeks without counting; `cost > limit` throws a RangeError.
 * Adapters: adapters/rateLimiter/memory.ts, adapters/rateLimiter/redis.ts.
 * Conformance: test/ports/rateLimiter.suite.ts.
 */
export type RateLimitAlgorithm = 'gcra' | 'sliding-window';

export interface RateLimitPolicy {
  /** Requests allowed per window. */
  limit: number;
  windowMs: number;
  /** Default `gcra`. A key is counted separately under each algorithm. */
  algorithm?: RateLimitAlgorithm;
}

export interface RateLimitDecision {
  allowed: boolean;
  limit: number;
  /** Requests still allowed now (0 when refused). */
  remaining: number;
  /** Milliseconds until the key is back to its full allowance. */
  resetMs: number;
  /** Milliseconds to wait before a retry can succeed (0 when allowed). */
  retryAfterMs: number;
}

export interface RateLimiter {
  /** Counts `cost` (default 1) against `key` and says whether it was allowed. Refused calls count nothing. */
  consume(key: string, policy: RateLimitPolicy, cost?: number): Promise<RateLimitDecision>;
  /** Forgets the key (e.g. after a successful login). */
  reset(key: string): Promise<void>;
}
