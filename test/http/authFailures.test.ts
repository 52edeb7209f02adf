import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { startKernel, assertError, type TestKernel } from '../helpers/kernel.ts';
import { serviceUrl, uniqueName } from '../helpers/services.ts';

const s = suite('http: failed authentications count against the caller IP (429 past the budget)');

const BAD_JWT = 'eyJhbGciOiJSUzI1NiIsImtpZCI6Im5vcGUifQ.eyJzdWIiOiJ4In0.c2ln';
const from = (ip: string, token: string) => ({ 'x-forwarded-for': ip, authorization: `Bearer ${token}` });
const config = (extra: Record<string, unknown> = {}) => ({
  server: { trustProxy: true },
  rateLimit: {
    enabled: true,
    tiers: { free: 100000, premium: 100000, enterprise: 100000 },
    authFailures: { limit: 10, windowMs: 60000 },
  },
  ...extra,
});

async function signedIn(k: TestKernel, ip: string): Promise<string> {
  const body = { name: 'Good', email: `good-${Date.now()}-${Math.random()}@example.com`, password: 'Passw0rd!x' };
  assert.is((await k.request('POST', '/v1/auth/register', { body, headers: { 'x-forwarded-for': ip } })).status, 201);
  const login = await k.request('POST', '/v1/auth/login', {
    body: { email: body.email, password: body.password },
    headers: { 'x-forwarded-for': ip },
  });
  assert.is(login.status, 200, login.text);
  return login.body.accessToken;
}

s('a concurrent flood of bad JWTs and bad sk_ keys: the budget gets 401, the rest 429 with Retry-After', async () => {
  const k = await startKernel(config());
  try {
    const good = await signedIn(k, '203.0.113.9');
    const flood = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        k.request('GET', '/v1/users/me', {
          headers: from('198.51.100.7', i % 2 ? BAD_JWT : `sk_live_${'x'.repeat(40)}${i}`),
        }),
      ),
    );
    const statuses = flood.map((r) => r.status);
    assert.is(statuses.filter((x) => x === 401).length, 10, JSON.stringify(statuses));
    assert.is(statuses.filter((x) => x === 429).length, 20, JSON.stringify(statuses));
    const refused = flood.find((r) => r.status === 429)!;
    assertError(refused, 429, 'RATE_LIMITED');
    assert.ok(Number(refused.headers.get('retry-after')) >= 1);
    // Still refused afterwards, even with a valid token, from that address only.
    assert.is((await k.request('GET', '/v1/users/me', { headers: from('198.51.100.7', good) })).status, 429);
    assert.is((await k.request('GET', '/v1/users/me', { headers: from('203.0.113.9', good) })).status, 200);
    assert.is((await k.request('GET', '/v1/users/me', { headers: from('203.0.113.10', BAD_JWT) })).status, 401);
  } finally { await k.stop(); }
});

s('requests with no credential at all are not failed authentications', async () => {
  const k = await startKernel(config());
  try {
    const all = await Promise.all(
      Array.from({ length: 25 }, () =>
        k.request('GET', '/v1/users/me', { headers: { 'x-forwarded-for': '198.51.100.20' } }),
      ),
    );
    assert.ok(all.every((r) => r.status === 401), JSON.stringify(all.map((r) => r.status)));
  } finally { await k.stop(); }
});

s('with rate limiting off, failures are not counted', async () => {
  const k = await startKernel({
    server: { trustProxy: true },
    rateLimit: { enabled: false, authFailures: { limit: 1 } },
  });
  try {
    const all = await Promise.all(
      Array.from({ length: 5 }, () => k.request('GET', '/v1/users/me', { headers: from('198.51.100.8', BAD_JWT) })),
    );
    assert.equal(all.map((r) => r.status), [401, 401, 401, 401, 401]);
  } finally { await k.stop(); }
});

const redisUrl = serviceUrl('REDIS_URL', 'auth failures shared across instances');
if (redisUrl) {
  s('two instances on one Redis share the failure budget', async () => {
    const rateLimiter = { use: 'redis', url: redisUrl, keyPrefix: `${uniqueName('authfail')}:` };
    const [a, b] = await Promise.all([
      startKernel(config({ adapters: { rateLimiter } })),
      startKernel(config({ adapters: { rateLimiter } })),
    ]);
    try {
      const onA = await Promise.all(
        Array.from({ length: 10 }, () => a.request('GET', '/v1/users/me', { headers: from('198.51.100.9', BAD_JWT) })),
      );
      assert.ok(onA.every((r) => r.status === 401));
      assert.is((await b.request('GET', '/v1/users/me', { headers: from('198.51.100.9', BAD_JWT) })).status, 429);
    } finally { await Promise.all([a.stop(), b.stop()]); }
  });
}

s.run();
