import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ManualClock } from '../../kernel/ports/clock.ts';
import { assertError } from '../helpers/kernel.ts';
import { serviceUrl, uniqueName } from '../helpers/services.ts';
import { freePort, startRedis, listening, kill, until } from '../helpers/throwawayRedis.ts';
import { startIdentity, email, PASSWORD } from './helpers.ts';

const s = suite('limits: tiers, headers, 429, per-key limits, login brute force');
/** A public operation, counted per IP (notes need a credential since they became user-owned). */
const ANON = '/.well-known/jwks.json';

s(
  'every response carries the rate-limit headers; a warning past 90 %; 429 with Retry-After and details.retry_after',
  async () => {
    const k = await startIdentity({ rateLimit: { enabled: true, tiers: { free: 10, premium: 30, enterprise: 100 } } });
    try {
      const first = await k.as(undefined, 'GET', ANON);
      assert.is(first.headers.get('x-ratelimit-limit'), '10');
      assert.is(first.headers.get('x-ratelimit-remaining'), '9');
      assert.ok(Number(first.headers.get('x-ratelimit-reset')) > Date.now() / 1000, 'reset is a Unix timestamp');
      assert.match(first.headers.get('ratelimit-policy') ?? '', /^"free";q=10;w=60$/);
      assert.match(first.headers.get('ratelimit') ?? '', /^"free";r=9;t=\d+$/);
      let last = first;
      for (let i = 0; i < 8; i++) last = await k.as(undefined, 'GET', ANON);
      assert.match(last.headers.get('x-ratelimit-warning') ?? '', /Approaching rate limit \(9\/10 requests used\)/);
      await k.as(undefined, 'GET', ANON);
      const refused = await k.as(undefined, 'GET', ANON);
      assertError(refused, 429, 'RATE_LIMITED');
      assert.ok(Number(refused.headers.get('retry-after')) >= 1);
      assert.is(refused.body.error.details.retry_after, Number(refused.headers.get('retry-after')));
      assert.is(refused.headers.get('x-ratelimit-remaining'), '0');
    } finally {
      await k.stop();
    }
  },
);

s('failures from one IP across many accounts back off too', async () => {
  const clock = new ManualClock(Date.now());
  const k = await startIdentity({ identity: { login: { ipFailuresPerWindow: 3 } } }, { clock });
  try {
    for (let i = 0; i < 3; i++) assertError(await k.login(email(`spray${i}`), 'Wrong#Passw0rd'), 401);
    const blocked = await k.login(email('spray-next'), 'Wrong#Passw0rd');
    assertError(blocked, 429, 'TOO_MANY_LOGIN_ATTEMPTS');
    clock.advance(1000);
    assertError(await k.login(email('spray-later'), 'Wrong#Passw0rd'), 401);
    assert.is((await k.login(email('spray-again'), 'Wrong#Passw0rd')).headers.get('retry-after'), '2');
  } finally {
    await k.stop();
  }
});

s('anonymous callers are counted per IP; X-Forwarded-For counts only behind server.trustProxy', async () => {
  for (const trustProxy of [false, true]) {
    const k = await startIdentity({
      server: { trustProxy },
      rateLimit: { enabled: true, tiers: { free: 2, premium: 2, enterprise: 2 } },
    });
    try {
      const as = (ip: string) => k.as(undefined, 'GET', ANON, undefined, { 'x-forwarded-for': ip });
      await as('203.0.113.1');
      await as('203.0.113.1');
      const third = await as('203.0.113.2');
      assert.is(third.status, trustProxy ? 200 : 429, `trustProxy=${trustProxy}`);
    } finally {
      await k.stop();
    }
  }
});

s('limits are keyed per user and per API key, with a per-key policy', async () => {
  const k = await startIdentity({
    rateLimit: { enabled: true, tiers: { free: 1000, premium: 1000, enterprise: 1000 } },
  });
  try {
    const a = await k.signup(email('rl-a'));
    const key = (
      await k.as(a.accessToken, 'POST', '/v1/users/me/api-keys', {
        name: 'slow',
        rateLimit: { limit: 2, windowMs: 60000 },
      })
    ).body;
    assert.is((await k.as(key.key, 'GET', '/v1/users/me')).headers.get('x-ratelimit-limit'), '2');
    await k.as(key.key, 'GET', '/v1/users/me');
    assertError(await k.as(key.key, 'GET', '/v1/users/me'), 429);
    assert.is(
      (await k.as(a.accessToken, 'GET', '/v1/users/me')).status,
      200,
      "the user's own budget is separate from the key's",
    );
  } finally {
    await k.stop();
  }
});

s('login brute force: backoff per account+IP after 5 failures, never a permanent lockout', async () => {
  const clock = new ManualClock(Date.now());
  const k = await startIdentity({}, { clock });
  try {
    const address = email('brute');
    await k.signup(address);
    for (let i = 0; i < 5; i++) assertError(await k.login(address, 'Wrong#Passw0rd'), 401);
    const blocked = await k.login(address, PASSWORD);
    assertError(blocked, 429, 'TOO_MANY_LOGIN_ATTEMPTS');
    assert.is(blocked.headers.get('retry-after'), '1');
    clock.advance(1000);
    assertError(await k.login(address, 'Wrong#Passw0rd'), 401);
    assert.is((await k.login(address, PASSWORD)).headers.get('retry-after'), '2', 'the wait doubles');
    clock.advance(2000);
    assert.is((await k.login(address, PASSWORD)).status, 200, 'the right password works once the wait is over');
    assertError(await k.login(address, 'Wrong#Passw0rd'), 401, 'INVALID_CREDENTIALS'); // the success reset the counter
  } finally {
    await k.stop();
  }
});

const redisUrl = serviceUrl('REDIS_URL', 'limits: two instances share one Redis');
if (redisUrl) {
  s('two kernel instances on one Redis enforce one shared limit', async () => {
    const prefix = `${uniqueName('rl')}:`;
    const cfg = {
      rateLimit: { enabled: true, tiers: { free: 6, premium: 6, enterprise: 6 } },
      adapters: { rateLimiter: { use: 'redis', url: redisUrl, keyPrefix: prefix } },
    };
    const [a, b] = await Promise.all([startIdentity(cfg), startIdentity(cfg)]);
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 10; i++) statuses.push((await (i % 2 ? a : b).as(undefined, 'GET', ANON)).status);
      assert.is(statuses.filter((x) => x === 200).length, 6, statuses.join(','));
      assert.is(statuses.filter((x) => x === 429).length, 4);
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }
  });
}

s('with Redis stopped mid-run, limits still hold through the insurance limiter and no 5xx occurs', async () => {
  const port = await freePort();
  const redis = startRedis(port);
  await until('redis-server', () => listening(port));
  const k = await startIdentity({ rateLimit: { enabled: true, tiers: { free: 5, premium: 5, enterprise: 5 } }, adapters: { rateLimiter: { use: 'redis', url: `redis://127.0.0.1:${port}`, commandTimeoutMs: 200 } } });
  try {
    assert.is((await k.as(undefined, 'GET', ANON)).status, 200);
    await kill(redis);
    const statuses: number[] = [];
    for (let i = 0; i < 8; i++) statuses.push((await k.as(undefined, 'GET', ANON)).status);
    assert.ok(statuses.every((x) => x < 500), statuses.join(','));
    assert.ok(statuses.includes(429), `the fallback still limits: ${statuses.join(',')}`);
    assert.is((await k.as(undefined, 'GET', '/health')).status, 200);
    const ready = await k.as(undefined, 'GET', '/health/ready');
    assertError(ready, 503, 'NOT_READY');
    assert.ok(ready.body.error.details.failing.some((f: { name: string }) => f.name === 'rateLimiter'));
  } finally {
    await k.stop();
    await kill(redis);
  }
});

s.run();
