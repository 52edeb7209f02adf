import type { Context } from 'koa';
import { AppError } from '../errors.ts';
import type { RateLimitDecision, RateLimitPolicy } from '../ports/rateLimiter.ts';
import type { KernelConfig } from '../config/schema.ts';

/**
 * The deployment's rate-limit wire dialect (`rateLimit.headers`, `.warning`, `.details`),
 * compiled once per operation so a request only fills in numbers.
 */
export interface RateLimitDialect {
  /** Sets the configured headers for a decision (allowed or refused). */
  setHeaders(ctx: Context, name: string, policy: RateLimitPolicy, d: RateLimitDecision): void;
  /** The 429 for a refused decision. */
  refusal(policy: RateLimitPolicy, d: RateLimitDecision): AppError;
}

/** `{name}` placeholders filled from `vars`; unknown names are left as they are. */
export function compileTemplate(template: string): (vars: Record<string, number>) => string {
  const parts = template.split(/(\{[a-z_]+\})/);
  const fill = (p: string, vars: Record<string, number>) => {
    const name = p.length > 2 && p[0] === '{' ? p.slice(1, -1) : undefined;
    return name !== undefined && name in vars ? String(vars[name]) : p;
  };
  return (vars) => parts.map((p) => fill(p, vars)).join('');
}

export function compileRateLimitDialect(config: KernelConfig['rateLimit']): RateLimitDialect {
  const headers = new Set(config.headers ?? ['x-ratelimit', 'ietf']);
  const legacy = headers.has('x-ratelimit');
  const ietf = headers.has('ietf');
  const retryHeader = headers.has('x-ratelimit-retryafter');
  const { threshold, header: warningHeader } = config.warning;
  const warning = compileTemplate(config.warning.message ?? 'Approaching rate limit ({used}/{limit} requests used)');
  const names = config.details ?? { limit: 'limit', windowSeconds: 'window_seconds', retryAfter: 'retry_after' };

  return {
    setHeaders(ctx, name, policy, d) {
      // res.setHeader, not ctx.set: Koa 3's `set` makes arrays per call. Never once the headers are out.
      const res = ctx.res;
      if (res.headersSent) return;
      const windowSeconds = Math.round(policy.windowMs / 1000);
      if (legacy) {
        res.setHeader('X-RateLimit-Limit', String(policy.limit));
        res.setHeader('X-RateLimit-Remaining', String(d.remaining));
        res.setHeader('X-RateLimit-Reset', String(Math.ceil((Date.now() + d.resetMs) / 1000)));
      }
      if (ietf) {
        res.setHeader('RateLimit-Policy', `"${name}";q=${policy.limit};w=${windowSeconds}`);
        res.setHeader('RateLimit', `"${name}";r=${d.remaining};t=${Math.ceil(d.resetMs / 1000)}`);
      }
      const used = policy.limit - d.remaining;
      if (d.allowed && used >= policy.limit * threshold) {
        const vars = { used, limit: policy.limit, remaining: d.remaining, window_seconds: windowSeconds };
        res.setHeader(warningHeader, warning(vars));
      }
    },

    refusal(policy, d) {
      const seconds = Math.max(1, Math.ceil(d.retryAfterMs / 1000));
      const retry = String(seconds);
      return new AppError(429, 'RATE_LIMITED', `Too many requests: retry in ${seconds} s`, {
        details: {
          [names.limit]: policy.limit,
          [names.windowSeconds]: Math.round(policy.windowMs / 1000),
          [names.retryAfter]: seconds,
        },
        headers: retryHeader ? { 'Retry-After': retry, 'X-RateLimit-RetryAfter': retry } : { 'Retry-After': retry },
      });
    },
  };
}
