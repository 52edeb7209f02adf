import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Cache } from '../../kernel/ports/cache.ts';
import type { RateLimiter } from '../../kernel/ports/rateLimiter.ts';
import { email, startIdentity } from './helpers.ts';

const s = suite("identity: a bearer's revocation lookup and the rate limiter's call run at the same time");

s('the limiter is called while the revoked-session lookup is still pending (one round trip, not two)', async () => {
  const k = await startIdentity({ rateLimit: { enabled: true } });
  try {
    const user = await k.signup(email('alongside'));
    assert.is((await k.as(user.accessToken, 'GET', '/v1/users/me')).status, 200);
    const cache = k.kernel.adapters.find((a) => a.port === 'cache')!.instance as unknown as Cache;
    const limiter = k.kernel.adapters.find((a) => a.port === 'rateLimiter')!.instance as unknown as RateLimiter;
    const has = cache.has.bind(cache);
    const consume = limiter.consume.bind(limiter);
    // The lookup answers only once the limiter has been called: awaited one after the other, the request hangs.
    let limiterCalled!: () => void;
    const called = new Promise<void>((r) => { limiterCalled = r; });
    const order: string[] = [];
    cache.has = async (key: string) => {
      if (!key.includes('revoked-sid:')) return has(key);
      order.push('lookup started');
      const deadline = new Promise<'late'>((r) => setTimeout(() => r('late'), 3000).unref());
      const outcome = await Promise.race([called.then(() => 'ok' as const), deadline]);
      if (outcome === 'late') order.push('limiter not called');
      order.push('lookup answered');
      return has(key);
    };
    limiter.consume = (async (...args: Parameters<RateLimiter['consume']>) => {
      order.push('limiter called');
      limiterCalled();
      return consume(...args);
    }) as RateLimiter['consume'];
    const res = await k.as(user.accessToken, 'GET', '/v1/users/me');
    assert.is(res.status, 200, res.text);
    assert.ok(res.headers.get('x-ratelimit-limit'), 'rate limited');
    assert.equal(order, ['lookup started', 'limiter called', 'lookup answered']);

    // And a revoked session still answers 401 at once (the limiter's answer does not hide it).
    cache.has = has;
    limiter.consume = consume;
    assert.is((await k.as(user.accessToken, 'POST', '/v1/auth/logout')).status, 204);
    const after = await k.as(user.accessToken, 'GET', '/v1/users/me');
    assert.is(after.status, 401);
    assert.is(after.body.error.code, 'SESSION_REVOKED');
  } finally {
    await k.stop();
  }
});

s.run();
