import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { generateSync } from 'otplib';
import { ManualClock } from '../../kernel/ports/clock.ts';
import { startKernel, type TestKernel } from '../helpers/kernel.ts';
import { until } from '../helpers/throwawayRedis.ts';
import { safeError } from '../../kernel/logSafety.ts';

/**
 * Every log line a kernel writes at the default level, over the identity flows that handle
 * secrets, is grepped for hashes, tokens, keys, TOTP secrets, private JWK fields and passwords.
 */
const clock = new ManualClock(Date.now());
const lines: string[] = [];
const secrets = new Set<string>();
const PASSWORD = 'Log#Passw0rd-9';
const NEW_PASSWORD = 'Reset#Passw0rd-7';
const s = suite<{ k: TestKernel }>('kernel: no secret in any log line at the default level');
s.before(async (ctx) => { ctx.k = await startKernel({ log: { level: 'info' } }, { clock, logLines: lines }); });
s.after(async (ctx) => { await ctx.k.stop(); });

const keep = (...values: Array<string | undefined>) => { for (const v of values) if (v) secrets.add(v); };
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

s('identity flows: register (incl. concurrent duplicates), login, refresh, MFA, API keys, reset', async ({ k }) => {
  keep(PASSWORD, NEW_PASSWORD);
  const address = `logs-${Date.now()}@example.com`;
  const dup = { name: 'Dup', email: `dup-${Date.now()}@example.com`, password: PASSWORD };
  const regs = await Promise.all(
    Array.from({ length: 8 }, () => k.request('POST', '/v1/auth/register', { body: dup })),
  );
  assert.is(regs.filter((r) => r.status === 201).length, 1);
  assert.is(
    (await k.request('POST', '/v1/auth/register', { body: { name: 'Logs', email: address, password: PASSWORD } }))
      .status,
    201,
  );
  const mailer = k.kernel.root.cradle.mailer;
  const mailText = async (what: string, subject: RegExp) => {
    let text = '';
    await until(what, async () => {
      const sent = (await mailer.outbox()) as Array<{ to: string | string[]; subject: string; text: string }>;
      text = sent.find((m) => [m.to].flat().includes(address) && subject.test(m.subject))?.text ?? '';
      return Boolean(text);
    });
    return decodeURIComponent(text.match(/token=([^\s]+)/)![1]);
  };
  // Reset links go only to a verified address.
  const verifyToken = await mailText('the verification mail', /Verify/);
  keep(verifyToken);
  assert.is((await k.request('POST', '/v1/auth/verify-email', { body: { token: verifyToken } })).status, 200);

  const login = await k.request('POST', '/v1/auth/login', { body: { email: address, password: PASSWORD } });
  assert.is(login.status, 200, login.text);
  keep(login.body.accessToken, login.body.refreshToken);
  assert.is(
    (await k.request('POST', '/v1/auth/login', { body: { email: address, password: 'Wrong#Passw0rd' } })).status,
    401,
  );
  const refreshed = await k.request('POST', '/v1/auth/refresh', { body: { refreshToken: login.body.refreshToken } });
  assert.is(refreshed.status, 200, refreshed.text);
  keep(refreshed.body.accessToken, refreshed.body.refreshToken);
  const token = refreshed.body.accessToken as string;

  const key = await k.request('POST', '/v1/users/me/api-keys', {
    body: { name: 'ci', scopes: ['profile:read'] },
    headers: bearer(token),
  });
  assert.is(key.status, 201, key.text);
  keep(key.body.key);
  assert.is((await k.request('GET', '/v1/users/me', { headers: bearer(key.body.key) })).status, 200);
  assert.is((await k.request('GET', '/v1/users/me', { headers: bearer(`${key.body.key}x`) })).status, 401);
  assert.is((await k.request('GET', '/v1/users/me', { headers: bearer(`${token}x`) })).status, 401);

  const setup = await k.request('POST', '/v1/auth/mfa/totp', { headers: bearer(token) });
  assert.is(setup.status, 200, setup.text);
  keep(setup.body.secret);
  const code = () => generateSync({ secret: setup.body.secret, epoch: Math.floor(clock.now() / 1000) });
  const confirm = await k.request('POST', '/v1/auth/mfa/totp/confirm', {
    body: { code: code() },
    headers: bearer(token),
  });
  assert.is(confirm.status, 200, confirm.text);
  keep(...(confirm.body.recoveryCodes as string[]));
  const challenge = await k.request('POST', '/v1/auth/login', { body: { email: address, password: PASSWORD } });
  keep(challenge.body.mfaToken);
  clock.advance(30_000);
  const verified = await k.request('POST', '/v1/auth/mfa/verify', {
    body: { mfaToken: challenge.body.mfaToken, code: code() },
  });
  assert.is(verified.status, 200, verified.text);
  keep(verified.body.accessToken, verified.body.refreshToken);

  assert.is((await k.request('POST', '/v1/auth/forgot-password', { body: { email: address } })).status, 202);
  const resetToken = await mailText('the reset mail', /Reset/);
  keep(resetToken);
  assert.is(
    (await k.request('POST', '/v1/auth/reset-password', { body: { token: resetToken, newPassword: NEW_PASSWORD } }))
      .status,
    200,
  );
});

s('no captured line carries a hash, token, key, TOTP secret, private JWK or password', () => {
  assert.ok(lines.length > 20, `only ${lines.length} log lines captured`);
  const shapes = [/\$argon2/, /eyJ[A-Za-z0-9_-]{10,}/, /\bsk_[A-Za-z0-9]/, /"d"\s*:/];
  const bad = lines.filter((l) => shapes.some((r) => r.test(l)) || [...secrets].some((v) => l.includes(v)));
  assert.equal(bad.map((l) => l.slice(0, 300)), []);
});

s('driver errors are logged by class, code and constraint, without their SQL text', () => {
  const driver = Object.assign(
    new Error(
      "insert into users (hash) values ('$argon2id$v=19$m=19456$abc') - UNIQUE constraint failed: identity_users.email",
    ),
    { name: 'UniqueConstraintViolationException', code: 'SQLITE_CONSTRAINT_UNIQUE', sql: 'insert ...' },
  );
  const safe = JSON.stringify(safeError(driver));
  assert.not.match(safe, /argon2|insert into/);
  assert.match(safe, /UniqueConstraintViolationException/);
  assert.match(safe, /identity_users\.email/);
  const plain = JSON.stringify(
    safeError(new Error('token eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.sig was bad for sk_live_abcdefgh12345678')),
  );
  assert.not.match(plain, /eyJhbGci|sk_live_abcdefgh/);
});

s.run();
