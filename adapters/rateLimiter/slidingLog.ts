import type { RateLimitDecision, RateLimitPolicy } from '../../kernel/ports/rateLimiter.ts';
import { usToMs } from './gcra.ts';

/**
 * The strict sliding log (`algorithm: sliding-window`) for one process: per key, the times (µs)
 * of the counted requests, oldest first, one entry per unit of cost. A request at t counts while
 * now < t + W, so it frees its slot exactly W after it was counted. The Lua script in
 * redisClient.ts does the same on a sorted set: change both together.
 *
 *   allowed iff used(now) + cost <= limit
 *   refused: retryAfter = the (used + cost - limit)-th oldest entry's t + W - now
 *   resetMs  = newest t + W - now (when the key is back to its full allowance)
 */
interface Log {
  /** Entry times, ascending; `head` is the first live one. */
  stamps: number[];
  head: number;
}

/** Expired keys looked at per write: keeps the map near its live size at O(1) per call. */
const SWEEP = 2;

export const windowUs = (policy: RateLimitPolicy): number => Math.max(1, Math.round(policy.windowMs * 1000));

export class SlidingLogStore {
  private readonly logs = new Map<string, Log & { windowUs: number }>();

  constructor(private readonly maxKeys: number) {}

  get size(): number {
    return this.logs.size;
  }

  /** Inputs must have passed checkConsume. */
  consume(key: string, policy: RateLimitPolicy, cost: number, nowUs: number): RateLimitDecision {
    const w = windowUs(policy);
    let log = this.logs.get(key);
    if (log) {
      while (log.head < log.stamps.length && log.stamps[log.head] + w <= nowUs) log.head++;
      if (log.head > 32 && log.head * 2 > log.stamps.length) {
        log.stamps = log.stamps.slice(log.head);
        log.head = 0;
      }
    }
    const used = log ? log.stamps.length - log.head : 0;
    if (used + cost > policy.limit) {
      const stamps = log!.stamps;
      const freesAt = stamps[log!.head + used + cost - policy.limit - 1] + w;
      const resetMs = usToMs(stamps[stamps.length - 1] + w - nowUs);
      return { allowed: false, limit: policy.limit, remaining: 0, resetMs, retryAfterMs: usToMs(freesAt - nowUs) };
    }
    if (cost > 0) {
      if (!log) log = { stamps: [], head: 0, windowUs: w };
      // A clock that stepped back must not put an entry before a newer one: the log stays sorted.
      const at = Math.max(nowUs, log.stamps[log.stamps.length - 1] ?? nowUs);
      for (let i = 0; i < cost; i++) log.stamps.push(at);
      log.windowUs = w;
      this.logs.delete(key);
      this.logs.set(key, log);
      this.evict(nowUs);
    } else if (log && used === 0) {
      this.logs.delete(key);
    }
    const total = used + cost;
    const newest = log && total > 0 ? log.stamps[log.stamps.length - 1] : undefined;
    const resetMs = newest === undefined ? 0 : usToMs(newest + w - nowUs);
    return { allowed: true, limit: policy.limit, remaining: policy.limit - total, resetMs, retryAfterMs: 0 };
  }

  reset(key: string): void {
    this.logs.delete(key);
  }

  private evict(nowUs: number): void {
    let looked = 0;
    for (const [key, log] of this.logs) {
      const dead = log.stamps[log.stamps.length - 1] + log.windowUs <= nowUs;
      if (this.logs.size > this.maxKeys || (looked < SWEEP && dead)) this.logs.delete(key);
      else if (++looked >= SWEEP) break;
    }
  }
}
