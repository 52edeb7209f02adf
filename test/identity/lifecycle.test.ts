import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { generateSync } from 'otplib';
import { ManualClock } from '../../kernel/ports/clock.ts';
import { assertError } from '../helpers/kernel.ts';
import { startIdentity, email } from './helpers.ts';

const s = suite('identity: events are atomic with their changes');

s('with the outbox insert failing, register fails and no user row is committed', async () => {
  const k = await startIdentity();
  try {
    const knex = (k.kernel.orm!.em as any).getConnection().getKnex();
    await knex.schema.renameTable('kernel_outbox', 'kernel_outbox_off');
    const address = email('atomic');
    const res = await k.as(undefined, 'POST', '/v1/auth/register', {
      name: 'Atomic',
      email: address,
      password: 'Passw0rd!x',
    });
    assert.ok(res.status >= 500, `register failed (${res.status})`);
    const em = k.kernel.orm!.em.fork();
    assert.is(await em.count('IdentityUser', { email: address }), 0, 'no user row without its event');
    assert.is(
      await em.count('IdentityAudit', { action: 'user.registered', newValues: { $ne: null } } as any),
      1,
      'only the bootstrap admin registered',
    );
    await knex.schema.renameTable('kernel_outbox_off', 'kernel_outbox');
    const again = await k.as(undefined, 'POST', '/v1/auth/register', {
      name: 'Atomic',
      email: address,
      password: 'Passw0rd!x',
    });
    assert.is(again.status, 201, again.text);
    assert.is(await em.fork().count('KernelOutbox', { type: 'identity.user.registered' }), 2);
  } finally {
    await k.stop();
  }
});

s('suspension ends a cached API key at once, and a pending MFA challenge', async () => {
  const clock = new ManualClock(Date.UTC(2026, 10, 23, 12, 0, 0));
  const code = (secret: string) => generateSync({ secret, epoch: Math.floor(clock.now() / 1000) });
  const k = await startIdentity({}, { clock });
  try {
    const address = email('suspend');
    const u = await k.signup(address);
    const key = (await k.as(u.accessToken, 'POST', '/v1/users/me/api-keys', { name: 'k', scopes: ['profile:read'] }))
      .body.key;
    assert.is((await k.as(key, 'GET', '/v1/users/me')).status, 200, 'cached now');
    const setup = await k.as(u.accessToken, 'POST', '/v1/auth/mfa/totp');
    assert.is(
      (await k.as(u.accessToken, 'POST', '/v1/auth/mfa/totp/confirm', { code: code(setup.body.secret) })).status,
      200,
    );
    clock.advance(30_000);
    const challenge = await k.login(address);
    assert.ok(challenge.body.mfaToken);

    const admin = await k.admin();
    assert.is((await k.as(admin, 'PATCH', `/v1/admin/users/${u.id}`, { status: 'suspended' })).status, 200);
    assertError(await k.as(key, 'GET', '/v1/users/me'), 401, 'ACCOUNT_INACTIVE');
    assertError(
      await k.as(undefined, 'POST', '/v1/auth/mfa/verify', {
        mfaToken: challenge.body.mfaToken,
        code: code(setup.body.secret),
      }),
      401,
      'INVALID_MFA_TOKEN',
    );
  } finally {
    await k.stop();
  }
});

s('a role change voids an MFA challenge issued before it', async () => {
  const clock = new ManualClock(Date.UTC(2026, 10, 23, 12, 0, 0));
  const code = (secret: string) => generateSync({ secret, epoch: Math.floor(clock.now() / 1000) });
  const k = await startIdentity({}, { clock });
  try {
    const address = email('demote');
    const u = await k.signup(address);
    const setup = await k.as(u.accessToken, 'POST', '/v1/auth/mfa/totp');
    assert.is(
      (await k.as(u.accessToken, 'POST', '/v1/auth/mfa/totp/confirm', { code: code(setup.body.secret) })).status,
      200,
    );
    clock.advance(30_000);
    const challenge = await k.login(address);
    assert.is((await k.as(await k.admin(), 'PATCH', `/v1/admin/users/${u.id}`, { role: 'premium' })).status, 200);
    assertError(
      await k.as(undefined, 'POST', '/v1/auth/mfa/verify', {
        mfaToken: challenge.body.mfaToken,
        code: code(setup.body.secret),
      }),
      401,
      'INVALID_MFA_TOKEN',
    );
    const fresh = await k.login(address);
    assert.is(
      (
        await k.as(undefined, 'POST', '/v1/auth/mfa/verify', {
          mfaToken: fresh.body.mfaToken,
          code: code(setup.body.secret),
        })
      ).status,
      200,
      'a new challenge works',
    );
  } finally {
    await k.stop();
  }
});

s.run();
