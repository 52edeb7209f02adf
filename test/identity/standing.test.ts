import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { generateSync } from 'otplib';
import { ManualClock } from '../../kernel/ports/clock.ts';
import { assertError } from '../helpers/kernel.ts';
import { startIdentity, email } from './helpers.ts';

const s = suite('identity: throttles are atomic, revocations are never evicted');

s('20 concurrent wrong passwords against a limit of 5: at most 5 are evaluated, the rest get 429', async () => {
  const k = await startIdentity({ identity: { login: { freeFailures: 5 } } });
  try {
    const address = email('race');
    await k.signup(address);
    const results = await Promise.all(Array.from({ length: 20 }, () => k.login(address, 'Wrong#Passw0rd')));
    const statuses = results.map((r) => r.status);
    const evaluated = statuses.filter((x) => x === 401).length;
    assert.ok(evaluated <= 5 && evaluated >= 1, `evaluated ${evaluated}: ${statuses.join(',')}`);
    assert.is(statuses.filter((x) => x === 429).length, 20 - evaluated, statuses.join(','));
    for (const r of results.filter((x) => x.status === 429)) assertError(r, 429, 'TOO_MANY_LOGIN_ATTEMPTS');
  } finally {
    await k.stop();
  }
});

s('the MFA five-failure cap holds under 20 concurrent wrong codes', async () => {
  const clock = new ManualClock(Date.UTC(2026, 10, 23, 12, 0, 0));
  const code = (secret: string) => generateSync({ secret, epoch: Math.floor(clock.now() / 1000) });
  const k = await startIdentity({}, { clock });
  try {
    const address = email('mfa-race');
    const u = await k.signup(address);
    const setup = await k.as(u.accessToken, 'POST', '/v1/auth/mfa/totp');
    assert.is(
      (await k.as(u.accessToken, 'POST', '/v1/auth/mfa/totp/confirm', { code: code(setup.body.secret) })).status,
      200,
    );
    clock.advance(30_000);
    const challenge = await k.login(address);
    const wrong = code(setup.body.secret) === '000000' ? '111111' : '000000';
    const results = await Promise.all(
      Array.from({ length: 20 }, () =>
        k.as(undefined, 'POST', '/v1/auth/mfa/verify', { mfaToken: challenge.body.mfaToken, code: wrong }),
      ),
    );
    const evaluated = results.filter((r) => r.status === 400).length;
    assert.ok(evaluated <= 5, `evaluated ${evaluated}: ${results.map((r) => r.status).join(',')}`);
    assert.is(results.filter((r) => r.status === 401).length, 20 - evaluated);
    const right = await k.as(undefined, 'POST', '/v1/auth/mfa/verify', {
      mfaToken: challenge.body.mfaToken,
      code: code(setup.body.secret),
    });
    assertError(right, 401, 'INVALID_MFA_TOKEN');
  } finally {
    await k.stop();
  }
});

s('a flood of failed logins with distinct emails past maxEntries does not revive a logged-out token', async () => {
  const k = await startIdentity({
    adapters: { cache: { use: 'memory', maxEntries: 20 } },
    identity: { login: { ipFailuresPerWindow: 1000 } },
  });
  try {
    const u = await k.signup(email('evict'));
    assert.is((await k.as(u.accessToken, 'POST', '/v1/auth/logout')).status, 204);
    assertError(await k.as(u.accessToken, 'GET', '/v1/users/me'), 401, 'SESSION_REVOKED');
    for (let round = 0; round < 4; round++) {
      await Promise.all(Array.from({ length: 15 }, (_, i) => k.login(email(`flood${round}-${i}`), 'Wrong#Passw0rd')));
    }
    assertError(await k.as(u.accessToken, 'GET', '/v1/users/me'), 401, 'SESSION_REVOKED');
  } finally {
    await k.stop();
  }
});

s.run();
