import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ManualClock } from '../../kernel/ports/clock.ts';
import { assertError } from '../helpers/kernel.ts';
import { until } from '../helpers/throwawayRedis.ts';
import { startIdentity, email, PASSWORD, type IdentityKernel } from './helpers.ts';

const clock = new ManualClock(Date.now());
const s = suite<{ k: IdentityKernel }>('identity: email verification and password reset');
s.before(async (ctx) => { ctx.k = await startIdentity({ identity: { requireEmailVerification: true } }, { clock }); });
s.after(async (ctx) => { await ctx.k.stop(); });

type Mail = { to: string | string[]; subject: string; text: string };
async function mailTo(k: IdentityKernel, address: string, subject: RegExp): Promise<Mail> {
  const mailer = k.kernel.root.cradle.mailer;
  let found: Mail | undefined;
  await until(`a mail to ${address}`, async () => {
    found = ((await mailer.outbox()) as Mail[])
      .filter((m) => [m.to].flat().includes(address) && subject.test(m.subject))
      .at(-1);
    return Boolean(found);
  });
  return found!;
}
const tokenIn = (mail: Mail) => decodeURIComponent(mail.text.match(/token=([^\s]+)/)![1]);

s('registration sends a verification link; login waits for it when the deployment requires it', async ({ k }) => {
  const address = email('verify');
  assert.is(
    (await k.as(undefined, 'POST', '/v1/auth/register', { name: 'V', email: address, password: PASSWORD })).status,
    201,
  );
  assertError(await k.login(address), 403, 'EMAIL_NOT_VERIFIED');
  const token = tokenIn(await mailTo(k, address, /Verify/));
  assert.is((await k.as(undefined, 'POST', '/v1/auth/verify-email', { token })).status, 200);
  assertError(await k.as(undefined, 'POST', '/v1/auth/verify-email', { token }), 400, 'VALIDATION_ERROR');
  const login = await k.login(address);
  assert.is(login.status, 200, login.text);
  assert.is(login.body.user.emailVerified, true);
});

s('resend and forgot-password answer the same 202 whether or not the account exists', async ({ k }) => {
  const address = email('exists');
  await k.as(undefined, 'POST', '/v1/auth/register', { name: 'E', email: address, password: PASSWORD });
  await k.as(undefined, 'POST', '/v1/auth/verify-email', { token: tokenIn(await mailTo(k, address, /Verify/)) }); // reset links go only to verified addresses
  const known = await k.as(undefined, 'POST', '/v1/auth/forgot-password', { email: address });
  const unknown = await k.as(undefined, 'POST', '/v1/auth/forgot-password', { email: email('ghost') });
  assert.is(known.status, 202);
  assert.is(unknown.status, 202);
  assert.equal(known.body, unknown.body);
  await mailTo(k, address, /Reset/);
  const resendKnown = await k.as(undefined, 'POST', '/v1/auth/verify-email/resend', { email: address });
  const resendUnknown = await k.as(undefined, 'POST', '/v1/auth/verify-email/resend', { email: email('ghost') });
  assert.equal([resendKnown.status, resendKnown.body], [resendUnknown.status, resendUnknown.body]);
});

s('reset tokens are single-use, short-lived, and end every session', async ({ k }) => {
  const address = email('reset');
  await k.as(undefined, 'POST', '/v1/auth/register', { name: 'R', email: address, password: PASSWORD });
  await k.as(undefined, 'POST', '/v1/auth/verify-email', { token: tokenIn(await mailTo(k, address, /Verify/)) });
  const session = (await k.login(address)).body;

  await k.as(undefined, 'POST', '/v1/auth/forgot-password', { email: address });
  const token = tokenIn(await mailTo(k, address, /Reset/));
  assertError(await k.as(undefined, 'POST', '/v1/auth/reset-password', { token, newPassword: 'weak' }), 400);
  assert.is(
    (await k.as(undefined, 'POST', '/v1/auth/reset-password', { token, newPassword: 'Brand#New1pw' })).status,
    200,
  );
  assertError(
    await k.as(undefined, 'POST', '/v1/auth/reset-password', { token, newPassword: 'Other#New1pw' }),
    400,
    'VALIDATION_ERROR',
  );
  assertError(await k.as(session.accessToken, 'GET', '/v1/users/me'), 401);
  assert.is((await k.login(address, 'Brand#New1pw')).status, 200);

  const resets = async () => ((await k.kernel.root.cradle.mailer.outbox()) as Mail[]).filter((m) => [m.to].flat().includes(address) && /Reset/.test(m.subject));
  const mails = await resets();
  await k.as(undefined, 'POST', '/v1/auth/forgot-password', { email: address });
  await until('a second reset mail', async () => (await resets()).length > mails.length);
  const late = tokenIn(await mailTo(k, address, /Reset/));
  clock.advance(61 * 60_000);
  assertError(
    await k.as(undefined, 'POST', '/v1/auth/reset-password', { token: late, newPassword: 'Late#New1pw' }),
    400,
    'VALIDATION_ERROR',
  );
});

s('the log mailer never wrote a password or token into the logs of this suite', async ({ k }) => {
  assert.not.match(k.bodies.join('\n'), /\$argon2|Brand#New1pw/);
});

s.run();
