import { AppError } from '../errors.ts';
import { isMissingCredential } from './security.ts';
import type { RateLimiter, RateLimitPolicy } from '../ports/rateLimiter.ts';

/** IPs this process saw refused, so a flood is turned away before any credential is checked. */
const MAX_BLOCKED = 10_000;

/**
 * Failed authentications (a 401 from any scheme; not a request with no credential) count against the caller's IP on the
 * RateLimiter port, so the budget is shared by every instance on Redis. Past the budget the
 * caller gets 429 instead of 401, and until the refusal runs out this process answers 429
 * without authenticating at all. Successful requests cost nothing extra. An operation's guard
 * (compileGuard in kernel/http/security.ts) calls `refuseIfBlocked` first and `counted` on a failure.
 */
export class AuthFailureBudget {
  private blocked = new Map<string, number>();

  constructor(private limiter: RateLimiter, private policy: RateLimitPolicy, private now: () => number = Date.now) {}

  /** Throws the 429 while `ip` is refused. */
  refuseIfBlocked(ip: string): void {
    const until = this.blocked.get(ip);
    if (until === undefined) return;
    const left = until - this.now();
    if (left > 0) throw refusal(left);
    this.blocked.delete(ip);
  }

  /** What a guard that failed with `e` throws: `e`, once counted if it is a failed authentication, or the 429. */
  async counted(e: unknown, ip: string): Promise<unknown> {
    if (e instanceof AppError && e.status === 401 && !isMissingCredential(e)) await this.count(ip);
    return e;
  }

  private async count(ip: string) {
    const decision = await this.limiter.consume(`auth-failures:ip:${ip}`, this.policy);
    if (decision.allowed) return;
    if (this.blocked.size >= MAX_BLOCKED) this.blocked.delete(this.blocked.keys().next().value!);
    this.blocked.set(ip, this.now() + decision.retryAfterMs);
    throw refusal(decision.retryAfterMs);
  }
}

function refusal(retryAfterMs: number): AppError {
  const seconds = Math.max(1, Math.ceil(retryAfterMs / 1000));
  return new AppError(429, 'RATE_LIMITED', `Too many failed authentications from this address: retry in ${seconds} s`, {
    details: { retry_after: seconds, reason: 'authentication_failures' },
    headers: { 'Retry-After': String(seconds) },
  });
}
