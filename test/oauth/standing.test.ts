import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { assertError } from '../helpers/kernel.ts';
import { OneTimeTokens } from '../../plugins/identity/oneTime.ts';
import { systemClock } from '../../kernel/ports/clock.ts';
import { APP, PASSWORD, basic, email, startOAuth, type Client, type OAuthKernel, type User } from './helpers.ts';

const VERIFIER = 'dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk';
const CHALLENGE = 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM';

const s = suite<{ k: OAuthKernel }>('oauth: a change of the user\'s standing ends their OAuth credentials');
s.before(async (ctx) => { ctx.k = await startOAuth(); });
s.after(async (ctx) => { await ctx.k?.stop(); });

async function settle(k: OAuthKernel) {
  await k.kernel.outbox!.idle();
  await (k.kernel.root.cradle.eventBus as { drain(): Promise<void> }).drain();
}

async function authorized(k: OAuthKernel, user: User, client: Client) {
  const res = await k.noFollow('POST', '/v1/oauth/authorize', user.token, {
    response_type: 'code',
    client_id: client.id,
    redirect_uri: APP,
    scope: 'profile:read',
    state: 's',
    code_challenge: CHALLENGE,
    code_challenge_method: 'S256',
    decision: 'approve',
  });
  const code = new URL(res.location!).searchParams.get('code')!;
  return (
    await k.form(
      '/v1/oauth/token',
      { grant_type: 'authorization_code', code, redirect_uri: APP, code_verifier: VERIFIER },
      basic(client.id, client.secret!),
    )
  ).body;
}

s('a password reset ends the user\'s OAuth access tokens and grants', async ({ k }) => {
  const client = await k.client(await k.signup('owner2'));
  const carol = await k.signup('carol');
  const tokens = await authorized(k, carol, client);
  assert.is((await k.as(tokens.access_token, 'GET', '/v1/users/me')).status, 200);
  // The reset token as forgot-password would mail it.
  const em = k.kernel.orm!.em.fork();
  const reset = new OneTimeTokens(em, systemClock).issue(carol.id, 'reset_password', 600_000);
  await em.flush();
  assert.is(
    (await k.as(undefined, 'POST', '/v1/auth/reset-password', { token: reset, newPassword: 'Brand#New1pw' })).status,
    200,
  );
  assertError(await k.as(tokens.access_token, 'GET', '/v1/users/me'), 401, 'CREDENTIALS_REVOKED');
  await settle(k);
  const refreshed = await k.form(
    '/v1/oauth/token',
    { grant_type: 'refresh_token', refresh_token: tokens.refresh_token },
    basic(client.id, client.secret!),
  );
  assert.is(refreshed.body.error, 'invalid_grant', refreshed.text);
});

s(
  "suspension: the user's OAuth access token is refused at once (as introspection says), and the grant is revoked",
  async ({ k }) => {
    const owner = await k.signup('owner');
    const client = await k.client(owner);
    const alice = await k.signup('alice');
    const res = await k.noFollow('POST', '/v1/oauth/authorize', alice.token, {
      response_type: 'code',
      client_id: client.id,
      redirect_uri: APP,
      scope: 'profile:read',
      state: 's',
      code_challenge: CHALLENGE,
      code_challenge_method: 'S256',
      decision: 'approve',
    });
    const code = new URL(res.location!).searchParams.get('code')!;
    const tokens = (
      await k.form(
        '/v1/oauth/token',
        { grant_type: 'authorization_code', code, redirect_uri: APP, code_verifier: VERIFIER },
        basic(client.id, client.secret!),
      )
    ).body;
    assert.is((await k.as(tokens.access_token, 'GET', '/v1/users/me')).status, 200);

    const admin = await k.admin();
    assert.is((await k.as(admin, 'PATCH', `/v1/admin/users/${alice.id}`, { status: 'suspended' })).status, 200);
    assertError(await k.as(tokens.access_token, 'GET', '/v1/users/me'), 401, 'CREDENTIALS_REVOKED');
    const introspected = await k.form(
      '/v1/oauth/introspect',
      { token: tokens.access_token },
      basic(client.id, client.secret!),
    );
    assert.is(introspected.body.active, false, 'the bearer path agrees with introspection');

    await settle(k);
    assert.is((await k.as(admin, 'PATCH', `/v1/admin/users/${alice.id}`, { status: 'active' })).status, 200);
    const refreshed = await k.form(
      '/v1/oauth/token',
      { grant_type: 'refresh_token', refresh_token: tokens.refresh_token },
      basic(client.id, client.secret!),
    );
    assert.is(refreshed.status, 400, `the grant stays revoked after reactivation: ${refreshed.text}`);
    assert.is(refreshed.body.error, 'invalid_grant');
  },
);

s('a client-credentials token of a demoted admin stops reading admin data at once', async ({ k }) => {
  const super_ = await k.admin();
  const address = email('cc-admin');
  const created = await k.as(super_, 'POST', '/v1/admin/users', {
    name: 'Admin',
    email: address,
    password: PASSWORD,
    role: 'admin',
  });
  assert.is(created.status, 201, created.text);
  const adminToken = (await k.as(undefined, 'POST', '/v1/auth/login', { email: address, password: PASSWORD })).body
    .accessToken;
  const client = await k.client({ id: created.body.id, token: adminToken }, { scopes: ['admin:users:read'] });
  const cc = await k.form(
    '/v1/oauth/token',
    { grant_type: 'client_credentials', scope: 'admin:users:read' },
    basic(client.id, client.secret!),
  );
  assert.is(cc.status, 200, cc.text);
  assert.is((await k.as(cc.body.access_token, 'GET', '/v1/admin/users')).status, 200);

  assert.is((await k.as(super_, 'PATCH', `/v1/admin/users/${created.body.id}`, { role: 'user' })).status, 200);
  assertError(await k.as(cc.body.access_token, 'GET', '/v1/admin/users'), 401, 'CREDENTIALS_REVOKED');
  const introspected = await k.form(
    '/v1/oauth/introspect',
    { token: cc.body.access_token },
    basic(client.id, client.secret!),
  );
  assert.is(introspected.body.active, false, 'introspection agrees with the bearer path');
});

s.run();
