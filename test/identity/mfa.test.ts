import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { generateSync } from 'otplib';
import { ManualClock } from '../../kernel/ports/clock.ts';
import { assertError } from '../helpers/kernel.ts';
import { startIdentity, email, PASSWORD, ADMIN, type IdentityKernel } from './helpers.ts';

const clock = new ManualClock(Date.UTC(2026, 10, 23, 12, 0, 0));
const code = (secret: string) => generateSync({ secret, epoch: Math.floor(clock.now() / 1000) });

const s = suite<{ k: IdentityKernel }>('identity: TOTP MFA');
s.before(async (ctx) => {
  ctx.k = await startIdentity({ identity: { mfa: { requiredForAdmin: true, stepUpMaxAgeSeconds: 900 } } }, { clock });
});
s.after(async (ctx) => { await ctx.k.stop(); });

s('otplib matches the RFC 6238 Appendix B vectors (SHA1)', () => {
  const key = new TextEncoder().encode('12345678901234567890');
  const vectors: Array<[number, string]> = [
    [59, '94287082'],
    [1111111109, '07081804'],
    [1111111111, '14050471'],
    [1234567890, '89005924'],
    [2000000000, '69279037'],
    [20000000000, '65353130'],
  ];
  for (const [t, expected] of vectors)
    assert.is(generateSync({ secret: key, algorithm: 'sha1', digits: 8, period: 30, epoch: t }), expected, `T=${t}`);
});

async function enrol(k: IdentityKernel, token: string) {
  const setup = await k.as(token, 'POST', '/v1/auth/mfa/totp');
  assert.is(setup.status, 200, setup.text);
  assert.match(setup.body.otpauthUrl, /^otpauth:\/\/totp\/.+secret=/);
  const confirm = await k.as(token, 'POST', '/v1/auth/mfa/totp/confirm', { code: code(setup.body.secret) });
  assert.is(confirm.status, 200, confirm.text);
  return { secret: setup.body.secret as string, recoveryCodes: confirm.body.recoveryCodes as string[] };
}

s('enrol, then login needs a second factor; a code cannot be used twice in its time step', async ({ k }) => {
  const address = email('mfa');
  const u = await k.signup(address);
  const { secret, recoveryCodes } = await enrol(k, u.accessToken);
  assert.is(recoveryCodes.length, 10);
  assert.is(new Set(recoveryCodes).size, 10);
  assert.is((await k.as(u.accessToken, 'GET', '/v1/users/me')).body.mfaEnabled, true);

  clock.advance(30_000);
  const login = await k.login(address);
  assert.equal(Object.keys(login.body).sort(), ['mfaRequired', 'mfaToken']);
  assert.is(login.body.mfaRequired, true);
  const c = code(secret);
  const ok = await k.as(undefined, 'POST', '/v1/auth/mfa/verify', { mfaToken: login.body.mfaToken, code: c });
  assert.is(ok.status, 200, ok.text);
  assert.type(ok.body.accessToken, 'string');
  const again = await k.login(address);
  assertError(
    await k.as(undefined, 'POST', '/v1/auth/mfa/verify', { mfaToken: again.body.mfaToken, code: c }),
    400,
    'VALIDATION_ERROR',
  );
  clock.advance(30_000);
  assert.is(
    (await k.as(undefined, 'POST', '/v1/auth/mfa/verify', { mfaToken: again.body.mfaToken, code: code(secret) }))
      .status,
    200,
    'the next step works',
  );
  assertError(
    await k.as(undefined, 'POST', '/v1/auth/mfa/verify', { mfaToken: again.body.mfaToken, code: code(secret) }),
    401,
    'INVALID_MFA_TOKEN',
  );
});

s('recovery codes work once each', async ({ k }) => {
  const address = email('recovery');
  const u = await k.signup(address);
  const { recoveryCodes } = await enrol(k, u.accessToken);
  const first = await k.login(address);
  assert.is(
    (
      await k.as(undefined, 'POST', '/v1/auth/mfa/verify', {
        mfaToken: first.body.mfaToken,
        recoveryCode: recoveryCodes[0].toUpperCase(),
      })
    ).status,
    200,
  );
  const second = await k.login(address);
  assertError(
    await k.as(undefined, 'POST', '/v1/auth/mfa/verify', {
      mfaToken: second.body.mfaToken,
      recoveryCode: recoveryCodes[0],
    }),
    400,
  );
  assert.is(
    (
      await k.as(undefined, 'POST', '/v1/auth/mfa/verify', {
        mfaToken: second.body.mfaToken,
        recoveryCode: recoveryCodes[1],
      })
    ).status,
    200,
  );
});

s('disabling needs the password and a code', async ({ k }) => {
  const address = email('disable');
  const u = await k.signup(address);
  const { secret } = await enrol(k, u.accessToken);
  clock.advance(30_000);
  assertError(
    await k.as(u.accessToken, 'DELETE', '/v1/auth/mfa/totp', { password: 'Wrong#Passw0rd', code: code(secret) }),
    400,
  );
  clock.advance(30_000);
  assert.is(
    (await k.as(u.accessToken, 'DELETE', '/v1/auth/mfa/totp', { password: PASSWORD, code: code(secret) })).status,
    204,
  );
  assert.type((await k.login(address)).body.accessToken, 'string', 'login is one step again');
});

s('admin operations need MFA, and a stale proof gets a distinct code until a step-up', async ({ k }) => {
  const root = (await k.login(ADMIN.email, ADMIN.password)).body.accessToken;
  assertError(await k.as(root, 'GET', '/v1/admin/users'), 403, 'MFA_REQUIRED');
  const { secret } = await enrol(k, root);
  clock.advance(30_000);
  const challenge = await k.login(ADMIN.email, ADMIN.password);
  const tokens = (
    await k.as(undefined, 'POST', '/v1/auth/mfa/verify', { mfaToken: challenge.body.mfaToken, code: code(secret) })
  ).body;
  assert.is((await k.as(tokens.accessToken, 'GET', '/v1/admin/users')).status, 200);
  clock.advance(16 * 60_000);
  const refreshed = (await k.as(undefined, 'POST', '/v1/auth/refresh', { refreshToken: tokens.refreshToken })).body;
  assertError(await k.as(refreshed.accessToken, 'GET', '/v1/admin/users'), 403, 'MFA_STEP_UP_REQUIRED');
  const stepped = await k.as(refreshed.accessToken, 'POST', '/v1/auth/mfa/step-up', { code: code(secret) });
  assert.is(stepped.status, 200, stepped.text);
  assert.is((await k.as(stepped.body.accessToken, 'GET', '/v1/admin/users')).status, 200);
});

s('no response ever carried a stored secret', async ({ k }) => {
  const rows = await k.kernel.orm!.em.fork().find<any>('IdentityUser', { mfaSecret: { $ne: null } });
  const all = k.bodies.filter((b) => !b.includes('otpauthUrl')).join('\n');
  for (const r of rows)
    assert.not.ok(all.includes(r.mfaSecret), 'a TOTP secret appeared outside the enrolment response');
  assert.not.match(all, /\$argon2/);
});

s.run();
