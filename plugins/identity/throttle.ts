import { AppError, type Cache, type Clock } from '../../kernel/index.ts';

interface Failures { count: number; lastAt: number }

/**
 * Login brute-force throttle: per account+IP, after `freeFailures` failures each further
 * attempt must wait 2^(n-free) seconds (capped), and per IP a ceiling of failures per window.
 * State lives in the Cache port, so all instances share it; it expires, so there is never a
 * permanent lockout.
 */
export class LoginThrottle {
  constructor(private cache: Cache, private clock: Clock, private options: { freeFailures: number; maxBackoffSeconds: number; ipFailuresPerWindow: number; ipWindowSeconds: number }) {}

  async check(account: string, ip: string): Promise<void> {
    const [pair, byIp] = await Promise.all([this.cache.get<Failures>(pairKey(account, ip)), this.cache.get<Failures>(ipKey(ip))]);
    const now = this.clock.now();
    if (pair && pair.count >= this.options.freeFailures) {
      const wait = Math.min(2 ** (pair.count - this.options.freeFailures), this.options.maxBackoffSeconds) * 1000;
      if (now < pair.lastAt + wait) throw tooMany(Math.ceil((pair.lastAt + wait - now) / 1000));
    }
    if (byIp && byIp.count >= this.options.ipFailuresPerWindow) {
      throw tooMany(Math.max(1, Math.ceil((byIp.lastAt + this.options.ipWindowSeconds * 1000 - now) / 1000)));
    }
  }

  async failed(account: string, ip: string): Promise<void> {
    const now = this.clock.now();
    const ttlMs = Math.max(this.options.maxBackoffSeconds, this.options.ipWindowSeconds) * 2000;
    for (const key of [pairKey(account, ip), ipKey(ip)]) {
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
