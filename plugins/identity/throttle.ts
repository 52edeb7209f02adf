import { AppError, type Cache, type Clock } from '../../kernel/index.ts';

export interface ThrottleOptions {
  freeFailures: number;
  maxBackoffSeconds: number;
  ipFailuresPerWindow: number;
  ipWindowSeconds: number;
}

/**
 * Login brute-force throttle with exponential backoff at two levels: per account+IP after
 * `freeFailures` failures, and per IP (any account) after `ipFailuresPerWindow` failures;
 * each further attempt must wait 2^(n - free) seconds since the last failure, capped at
 * `maxBackoffSeconds`. State lives in the Cache port, so all instances share it; it expires,
 * so there is never a permanent lockout.
 *
 * Race-free: `enter` takes a slot with the Cache port's atomic increment *before* the password
 * is checked, so 20 concurrent guesses against a limit of 5 evaluate at most 5; the rest are
 * refused (and give their slot back). A wrong password keeps its slot (the count of failures);
 * a right one clears the pair; any other outcome gives the slot back with `release`.
 */
export class LoginThrottle {
  constructor(private cache: Cache, private clock: Clock, private options: ThrottleOptions) {}

  /** Takes an attempt slot at both levels, or throws 429. */
  async enter(account: string, ip: string): Promise<void> {
    const pair = pairKey(account, ip);
    const byIp = ipKey(ip);
    const [n, m] = await Promise.all([
      this.cache.increment(pair, 1, { ttlMs: this.pairTtl() }),
      this.cache.increment(byIp, 1, { ttlMs: this.ipTtl() }),
    ]);
    const wait = Math.max(
      await this.waitMs(pair, n, this.options.freeFailures),
      await this.waitMs(byIp, m, this.options.ipFailuresPerWindow),
    );
    if (wait > 0) {
      await this.release(account, ip);
      throw tooMany(Math.ceil(wait / 1000));
    }
  }

  /** How long attempt number `n` (this one included) must still wait; 0 when it may go now. */
  private async waitMs(key: string, n: number, free: number): Promise<number> {
    const failures = n - 1;
    if (failures < free) return 0;
    const wait = Math.min(2 ** (failures - free), this.options.maxBackoffSeconds) * 1000;
    // Slots taken by concurrent attempts whose outcome is not known yet count as failures just made.
    const lastAt = (await this.cache.get<number>(`${key}:at`)) ?? this.clock.now();
    return Math.max(0, lastAt + wait - this.clock.now());
  }

  /** A wrong password: the slot stays counted; the quiet window starts again. */
  async failed(account: string, ip: string): Promise<void> {
    const now = this.clock.now();
    const pair = pairKey(account, ip);
    const byIp = ipKey(ip);
    await Promise.all([
      this.cache.set(`${pair}:at`, now, { ttlMs: this.pairTtl() }),
      this.cache.set(`${byIp}:at`, now, { ttlMs: this.ipTtl() }),
      // Failure counts are forgotten after a quiet window, so backoff never becomes a lockout.
      this.cache.increment(pair, 0, { ttlMs: this.pairTtl(), refreshTtl: true }),
      this.cache.increment(byIp, 0, { ttlMs: this.ipTtl(), refreshTtl: true }),
    ]);
  }

  /** Neither a failure nor a success (e.g. a suspended account): the slot is given back. */
  async release(account: string, ip: string): Promise<void> {
    // With a ttl, so a counter that expired meanwhile cannot come back as a negative one that never expires.
    await Promise.all([
      this.cache.increment(pairKey(account, ip), -1, { ttlMs: this.pairTtl() }),
      this.cache.increment(ipKey(ip), -1, { ttlMs: this.ipTtl() }),
    ]);
  }

  async succeeded(account: string, ip: string): Promise<void> {
    const pair = pairKey(account, ip);
    await Promise.all([
      this.cache.delete(pair),
      this.cache.delete(`${pair}:at`),
      this.cache.increment(ipKey(ip), -1, { ttlMs: this.ipTtl() }),
    ]);
  }

  private pairTtl() { return this.options.maxBackoffSeconds * 2000; }
  private ipTtl() { return this.options.ipWindowSeconds * 1000; }
}

const pairKey = (account: string, ip: string) => `login-fail:${account.toLowerCase()}:${ip}`;
const ipKey = (ip: string) => `login-fail-ip:${ip}`;

function tooMany(seconds: number) {
  return new AppError(429, 'TOO_MANY_LOGIN_ATTEMPTS', `Too many failed logins: retry in ${seconds} s`, {
    details: { retry_after: seconds }, headers: { 'Retry-After': String(seconds) },
  });
}
