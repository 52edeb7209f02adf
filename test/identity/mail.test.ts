import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { assertError } from '../helpers/kernel.ts';
import { until } from '../helpers/throwawayRedis.ts';
import { startIdentity, email, PASSWORD, type IdentityKernel } from './helpers.ts';

type Mail = { to: string | string[]; subject: string; text: string };
const s = suite<{ k: IdentityKernel }>(
  'identity: durable mail, email changes, and what a password change or reset revokes',
);
s.before(async (ctx) => { ctx.k = await startIdentity(); });
s.after(async (ctx) => { await ctx.k.stop(); });

const mails = async (k: IdentityKernel, address: string, subject: RegExp) =>
  ((await k.kernel.root.cradle.mailer.outbox()) as Mail[]).filter(
    (m) => [m.to].flat().includes(address) && subject.test(m.subject),
  );
async function mailTo(k: IdentityKernel, address: string, subject: RegExp): Promise<Mail> {
  await until(`a mail to ${address}`, async () => (await mails(k, address, subject)).length > 0);
  return (await mails(k, address, subject)).at(-1)!;
}
const tokenIn = (mail: Mail) => decodeURIComponent(mail.text.match(/token=([^\s]+)/)![1]);
/** Every staged event published and handled: nothing more will be sent for what was asked so far. */
async function settled(k: IdentityKernel) {
  await until('the outbox to drain', async () => {
    await k.kernel.outbox!.idle();
    await (k.kernel.root.cradle.eventBus as { drain(): Promise<void> }).drain();
    return (await k.kernel.orm!.em.fork().count('KernelOutbox', { publishedAt: null })) === 0;
  });
}
async function verifiedUser(k: IdentityKernel, tag: string) {
  const address = email(tag);
  const u = await k.signup(address);
  await k.as(undefined, 'POST', '/v1/auth/verify-email', { token: tokenIn(await mailTo(k, address, /Verify/)) });
  return { ...u, address };
}

s(
  'a reset mail is staged with the request and sent exactly once, although the first Mailer attempt fails',
  async ({ k }) => {
    const u = await verifiedUser(k, 'durable');
    const mailer = k.kernel.root.cradle.mailer as { send: (m: Mail) => Promise<unknown> };
    const send = mailer.send.bind(mailer);
    let attempts = 0;
    mailer.send = async (m) => {
      if ([m.to].flat().includes(u.address) && ++attempts === 1) throw new Error('connect ECONNREFUSED smtp');
      return send(m);
    };
    try {
      const res = await k.as(undefined, 'POST', '/v1/auth/forgot-password', { email: u.address });
      assert.is(res.status, 202);
      await mailTo(k, u.address, /Reset/);
      await settled(k);
      assert.is(attempts, 2, 'the failed attempt was retried');
      assert.is((await mails(k, u.address, /Reset/)).length, 1, 'sent once');
    } finally {
      mailer.send = send;
    }
  },
);

s(
  'an email change needs the password, takes effect only once confirmed; the old address can undo it',
  async ({ k }) => {
    const u = await verifiedUser(k, 'owner');
    const key = (
      await k.as(u.accessToken, 'POST', '/v1/users/me/api-keys', {
        name: 'w',
        scopes: ['profile:read', 'profile:write'],
      })
    ).body.key;
    const attacker = email('attacker');
    // A key (even one holding profile:write and the password) may not change the email: first-party only.
    assertError(
      await k.as(key, 'PATCH', '/v1/users/me', { email: attacker, currentPassword: PASSWORD }),
      403,
      'CREDENTIAL_NOT_ALLOWED',
    );
    // The user's own session must prove the password.
    assertError(await k.as(u.accessToken, 'PATCH', '/v1/users/me', { email: attacker }), 400, 'VALIDATION_ERROR');
    const wrong = { email: attacker, currentPassword: 'Wrong#Passw0rd' };
    assertError(await k.as(u.accessToken, 'PATCH', '/v1/users/me', wrong), 400, 'VALIDATION_ERROR');

    await k.as(undefined, 'POST', '/v1/auth/forgot-password', { email: u.address });
    const resetBefore = tokenIn(await mailTo(k, u.address, /Reset/));
    const next = email('next');
    const changed = await k.as(u.accessToken, 'PATCH', '/v1/users/me', { email: next, currentPassword: PASSWORD });
    assert.is(changed.status, 200, changed.text);
    assert.is(changed.body.email, u.address, 'not yet');
    const confirm = tokenIn(await mailTo(k, next, /Confirm your new email/));
    const notice = await mailTo(k, u.address, /being changed/);
    assert.match(notice.text, new RegExp(next.replace(/[.+]/g, '\\$&')));

    // Forgot-password goes only to a verified address: the pending one gets nothing.
    await k.as(undefined, 'POST', '/v1/auth/forgot-password', { email: next });
    await settled(k);
    assert.is((await mails(k, next, /Reset/)).length, 0);

    assert.is((await k.as(undefined, 'POST', '/v1/auth/verify-email', { token: confirm })).status, 200);
    const me = (await k.as(u.accessToken, 'GET', '/v1/users/me')).body;
    assert.is(me.email, next);
    assert.is(me.emailVerified, true);
    assert.is(me.pendingEmail, undefined);
    assertError(
      await k.as(undefined, 'POST', '/v1/auth/reset-password', { token: resetBefore, newPassword: 'Brand#New1pw' }),
      400,
      'VALIDATION_ERROR',
    );

    const undone = await k.as(undefined, 'POST', '/v1/auth/email-change/undo', { token: tokenIn(notice) });
    assert.is(undone.status, 200, undone.text);
    assertError(await k.as(u.accessToken, 'GET', '/v1/users/me'), 401);
    const back = await k.login(u.address);
    assert.is(back.status, 200, "the old address is the account's again");
    assert.is(back.body.user.email, u.address);
  },
);

s('a password change revokes outstanding reset tokens', async ({ k }) => {
  const u = await verifiedUser(k, 'change');
  await k.as(undefined, 'POST', '/v1/auth/forgot-password', { email: u.address });
  const token = tokenIn(await mailTo(k, u.address, /Reset/));
  assert.is(
    (await k.as(u.accessToken, 'PUT', '/v1/auth/password', { currentPassword: PASSWORD, newPassword: 'Chang3d#pw' }))
      .status,
    200,
  );
  assertError(
    await k.as(undefined, 'POST', '/v1/auth/reset-password', { token, newPassword: 'Brand#New1pw' }),
    400,
    'VALIDATION_ERROR',
  );
});

s('a reset revokes sessions and, by default, API keys; keepApiKeys keeps them', async ({ k }) => {
  for (const keepApiKeys of [false, true]) {
    const u = await verifiedUser(k, `reset-${keepApiKeys}`);
    const key = (await k.as(u.accessToken, 'POST', '/v1/users/me/api-keys', { name: 'k', scopes: ['profile:read'] }))
      .body.key;
    assert.is((await k.as(key, 'GET', '/v1/users/me')).status, 200);
    await k.as(undefined, 'POST', '/v1/auth/forgot-password', { email: u.address });
    const token = tokenIn(await mailTo(k, u.address, /Reset/));
    const reset = await k.as(undefined, 'POST', '/v1/auth/reset-password', {
      token,
      newPassword: 'Brand#New1pw',
      ...(keepApiKeys ? { keepApiKeys } : {}),
    });
    assert.is(reset.status, 200, reset.text);
    assertError(await k.as(u.accessToken, 'GET', '/v1/users/me'), 401);
    assert.is((await k.as(key, 'GET', '/v1/users/me')).status, keepApiKeys ? 200 : 401, `keepApiKeys=${keepApiKeys}`);
  }
});

s.run();
