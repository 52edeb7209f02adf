import { defineAdapter, type AdapterContext } from '../../kernel/ports/adapter.ts';
import type { RateLimitDecision, RateLimitPolicy, RateLimiter } from '../../kernel/ports/rateLimiter.ts';
import { checkConsume, gcra } from './gcra.ts';
import { SlidingLogStore } from './slidingLog.ts';

export interface MemoryRateLimiterOptions {
  maxKeys?: number;
}

/** Expired entries looked at per write: keeps the map near its live size at O(1) per call. */
const SWEEP = 2;

/**
 * key → TAT (µs) for one process. Also the Redis adapter's insurance limiter.
 * The Map keeps write order (writes re-insert), so its first keys are the least recently
 * written, the likeliest to have a TAT in the past (= fully reset, safe to forget).
 */
export class GcraStore {
  private readonly tats = new Map<string, number>();

  constructor(private readonly maxKeys: number) {}

  get size(): number {
    return this.tats.size;
  }

  /** Inputs must have passed checkConsume. */
  consume(key: string, policy: RateLimitPolicy, cost: number, nowUs: number): RateLimitDecision {
    const stored = this.tats.get(key);
    const r = gcra(nowUs, stored, policy, cost);
    if (r.allowed && cost > 0) {
      this.tats.delete(key);
      this.tats.set(key, r.newTat);
      this.evict(nowUs);
    } else if (stored !== undefined && stored <= nowUs) {
      this.tats.delete(key);
    }
    return {
      allowed: r.allowed,
      limit: policy.limit,
      remaining: r.remaining,
      resetMs: r.resetMs,
      retryAfterMs: r.retryAfterMs,
    };
  }

  reset(key: string): void {
    this.tats.delete(key);
  }

  private evict(nowUs: number): void {
    let looked = 0;
    for (const [key, tat] of this.tats) {
      if (this.tats.size > this.maxKeys || (looked < SWEEP && tat <= nowUs)) this.tats.delete(key);
      else if (++looked >= SWEEP) break;
    }
  }
}

/** Both algorithms for one process; a key is counted separately under each. */
export class LocalRateLimits {
  private readonly gcra: GcraStore;
  private readonly sliding: SlidingLogStore;

  constructor(maxKeys: number) {
    this.gcra = new GcraStore(maxKeys);
    this.sliding = new SlidingLogStore(maxKeys);
  }

  /** Inputs must have passed checkConsume. */
  consume(key: string, policy: RateLimitPolicy, cost: number, nowUs: number): RateLimitDecision {
    return policy.algorithm === 'sliding-window'
      ? this.sliding.consume(key, policy, cost, nowUs)
      : this.gcra.consume(key, policy, cost, nowUs);
  }

  reset(key: string): void {
    this.gcra.reset(key);
    this.sliding.reset(key);
  }
}

export const nowUs = (ctx: AdapterContext): number => Math.round(ctx.clock.now() * 1000);

function createMemoryRateLimiter(options: MemoryRateLimiterOptions, ctx: AdapterContext): RateLimiter {
  const store = new LocalRateLimits(options.maxKeys ?? 100_000);
  return {
    async consume(key, policy, cost = 1) {
      checkConsume(policy, cost);
      return store.consume(key, policy, cost, nowUs(ctx));
    },
    async reset(key) {
      store.reset(key);
    },
  };
}

export default defineAdapter<RateLimiter, MemoryRateLimiterOptions>({
  port: 'rateLimiter',
  name: 'memory',
  local: true,
  description: 'In-process GCRA or sliding log: one instance only (each process counts on its own).',
  optionsSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      maxKeys: { type: 'integer', minimum: 1, default: 100_000 },
    },
  },
  create: createMemoryRateLimiter,
});
