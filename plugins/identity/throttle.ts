import { AppError, type Cache, type Clock } from '../../kernel/index.ts';

interface Failures { count: number; lastAt: number }

/**
 * Login brute-force throttle with exponential backoff at two levels: per account+IP after
 * `freeFailures` failures, and per IP (any account) after `ipFailuresPerWindow` failures;
 * each further attempt must wait 2^(n - free) seconds since the last failure, capped at
 * `maxBackoffSeconds`. State lives in the Cache port, so all instances share it; it expires,
 * so there is never a permanent lockout.
 */
export class LoginThrottle {
  constructor(private cache: Cache, private clock: Clock, private options: { freeFailures: number; maxBackoffSeconds: number; ipFailuresPerWindow: number; ipWindowSeconds: number }) {}

  async check(account: string, ip: string): Promise<void> {
    const [pair, byIp] = await Promise.all([this.cache.get<Failures>(pairKey(account, ip)), this.cache.get<Failures>(ipKey(ip))]);
    this.backoff(pair, this.options.freeFailures);
    this.backoff(byIp, this.options.ipFailuresPerWindow);
  }

  private backoff(failures: Failures | undefined, free: number): void {
    if (!failures || failures.count < free) return;
    const wait = Math.min(2 ** (failures.count - free), this.options.maxBackoffSeconds) * 1000;
    const now = this.clock.now();
    if (now < failures.lastAt + wait) throw tooMany(Math.ceil((failures.lastAt + wait - now) / 1000));
  }

  async failed(account: string, ip: string): Promise<void> {
    const now = this.clock.now();
    // Failure counts are forgotten after a quiet window, so backoff never becomes a lockout.
    const keys: Array<[string, number]> = [[pairKey(account, ip), this.options.maxBackoffSeconds * 2000], [ipKey(ip), this.options.ipWindowSeconds * 1000]];
    for (const [key, ttlMs] of keys) {
      const current = (await this.cache.get<Failures>(key)) ?? { count: 0, lastAt: now };
      await this.cache.set(key, { count: current.count + 1, lastAt: now }, { ttlMs });
    }
  }

  async succeeded(account: string, ip: string): Promise<void> {
    await this.cache.delete(pairKey(account, ip));
  }
}

const pairKey = (account: string, ip: string) => `login-fail:${account.toLowerCase()}:${ip}`;
const ipKey = (ip: string) => `login-fail-ip:${ip}`;

function tooMany(seconds: number) {
  return new AppError(429, 'TOO_MANY_LOGIN_ATTEMPTS', `Too many failed logins: retry in ${seconds} s`, {
    details: { retry_after: seconds }, headers: { 'Retry-After': String(seconds) },
  });
}
