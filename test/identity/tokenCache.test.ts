import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ManualClock } from '../../kernel/ports/clock.ts';
import { assertError, tempSqliteUrl } from '../helpers/kernel.ts';
import { serviceUrl, uniqueName } from '../helpers/services.ts';
import { email, startIdentity, type IdentityKernel } from './helpers.ts';
import type { TokenVerifier } from '../../plugins/identity/tokenVerifier.ts';

const verifierOf = (k: IdentityKernel) =>
  k.kernel.runtimes.get('identity')!.container.cradle.tokenVerifier as TokenVerifier;

const s = suite('identity: verified access tokens are cached, revocation stays immediate');

s('a cached token is refused at once after logout, by every concurrent request', async () => {
  const k = await startIdentity();
  try {
    const user = await k.signup(email('cache'));
    const first = await Promise.all(Array.from({ length: 20 }, () => k.as(user.accessToken, 'GET', '/v1/users/me')));
    assert.equal(first.map((r) => r.status), first.map(() => 200));
    assert.ok(verifierOf(k).size >= 1, 'the verified token is kept');
    const out = await k.as(user.accessToken, 'POST', '/v1/auth/logout', { refreshToken: user.refreshToken });
    assert.ok(out.status === 204 || out.status === 200, out.text);
    const after = await Promise.all(Array.from({ length: 20 }, () => k.as(user.accessToken, 'GET', '/v1/users/me')));
    for (const r of after) assertError(r, 401, 'SESSION_REVOKED');
  } finally {
    await k.stop();
  }
});

s('a cached token is refused once it expires (the cache keeps it only until exp)', async () => {
  const clock = new ManualClock(Date.now());
  const k = await startIdentity({}, { clock });
  try {
    const user = await k.signup(email('expiry'));
    assert.is((await k.as(user.accessToken, 'GET', '/v1/users/me')).status, 200);
    clock.advance(899_000);
    assert.is((await k.as(user.accessToken, 'GET', '/v1/users/me')).status, 200, 'still valid one second before exp');
    clock.advance(1_000);
    assertError(await k.as(user.accessToken, 'GET', '/v1/users/me'), 401, 'TOKEN_EXPIRED');
  } finally {
    await k.stop();
  }
});

s('a tampered copy of a cached token is still refused', async () => {
  const k = await startIdentity();
  try {
    const user = await k.signup(email('tamper'));
    assert.is((await k.as(user.accessToken, 'GET', '/v1/users/me')).status, 200);
    const [h, p, sig] = user.accessToken.split('.');
    const claims = JSON.parse(Buffer.from(p, 'base64url').toString());
    const forged = `${h}.${Buffer.from(JSON.stringify({ ...claims, role: 'super_admin' })).toString('base64url')}.${sig}`;
    assertError(await k.as(forged, 'GET', '/v1/users/me'), 401, 'INVALID_TOKEN');
  } finally {
    await k.stop();
  }
});

s('two kernels on one database and one Redis cache: logout on one refuses the token on the other at once', async () => {
  const redis = serviceUrl('REDIS_URL', 'token cache across two kernels');
  if (!redis) return;
  const shared = {
    database: { url: tempSqliteUrl() },
    adapters: { cache: { use: 'redis', url: redis, keyPrefix: `${uniqueName('tokcache')}:` } },
  };
  const a = await startIdentity(shared);
  const b = await startIdentity(shared);
  try {
    const user = await a.signup(email('two'));
    // Both kernels verify (and cache) the token.
    const both = await Promise.all([a, b, a, b].map((k) => k.as(user.accessToken, 'GET', '/v1/users/me')));
    assert.equal(both.map((r) => r.status), [200, 200, 200, 200]);
    const out = await a.as(user.accessToken, 'POST', '/v1/auth/logout', { refreshToken: user.refreshToken });
    assert.ok(out.status === 204 || out.status === 200, out.text);
    const after = await Promise.all(Array.from({ length: 10 }, () => b.as(user.accessToken, 'GET', '/v1/users/me')));
    for (const r of after) assertError(r, 401, 'SESSION_REVOKED');
  } finally {
    await b.stop();
    await a.stop();
  }
});

s.run();
