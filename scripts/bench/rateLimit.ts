/**
 * The bare side's rate limiter, written by hand: GCRA over one number per key (the
 * theoretical arrival time, µs) in a Map, and the same response headers the kernel sends
 * (X-RateLimit-Limit/-Remaining/-Reset, RateLimit, RateLimit-Policy; 429 + Retry-After when
 * refused). Keys: `ip:<addr>` for anonymous calls, `user:<id>` for signed-in ones.
 */
import type { Context } from 'koa';

export interface BareRateLimitPolicy { name: string; limit: number; windowMs: number }

export interface BareRateLimitRefusal { retryAfterSeconds: number; limit: number; windowSeconds: number }

/** Expired keys dropped per write, and the most keys kept: the Map stays near its live size. */
const SWEEP = 2;
const MAX_KEYS = 100_000;
/** The kernel's default rateLimit.warning.threshold. */
const WARNING_THRESHOLD = 0.9;

export class BareRateLimiter {
  private readonly tats = new Map<string, number>();

  /** Counts one request for `key`; sets the headers; returns a refusal when over the limit. */
  check(ctx: Context, key: string, policy: BareRateLimitPolicy): BareRateLimitRefusal | undefined {
    const now = Date.now() * 1000;
    const t = Math.max(1, Math.ceil((policy.windowMs * 1000) / policy.limit));
    const w = t * policy.limit;
    const stored = this.tats.get(key);
    const tat = stored !== undefined && stored > now ? stored : now;
    const ahead = tat + t - now;
    const allowed = ahead <= w;
    let remaining = 0;
    let resetMs: number;
    if (allowed) {
      remaining = Math.floor((w - ahead) / t);
      resetMs = Math.ceil(ahead / 1000);
      this.tats.delete(key);
      this.tats.set(key, tat + t);
      let looked = 0;
      for (const [k, v] of this.tats) {
        if (this.tats.size > MAX_KEYS || (looked < SWEEP && v <= now)) this.tats.delete(k);
        else if (++looked >= SWEEP) break;
      }
    } else {
      resetMs = Math.ceil((tat - now) / 1000);
    }
    ctx.set('X-RateLimit-Limit', String(policy.limit));
    ctx.set('X-RateLimit-Remaining', String(remaining));
    ctx.set('X-RateLimit-Reset', String(Math.ceil((Date.now() + resetMs) / 1000)));
    ctx.set('RateLimit-Policy', `"${policy.name}";q=${policy.limit};w=${Math.round(policy.windowMs / 1000)}`);
    ctx.set('RateLimit', `"${policy.name}";r=${remaining};t=${resetMs}`);
    if (allowed && policy.limit - remaining >= policy.limit * WARNING_THRESHOLD)
      ctx.set(
        'X-RateLimit-Warning',
        `Approaching rate limit (${policy.limit - remaining}/${policy.limit} requests used)`,
      );
    if (allowed) return undefined;
    return {
      retryAfterSeconds: Math.max(1, Math.ceil((ahead - w) / 1e6)),
      limit: policy.limit,
      windowSeconds: Math.round(policy.windowMs / 1000),
    };
  }
}
