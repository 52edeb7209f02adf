import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { assertError } from '../helpers/kernel.ts';
import { startIdentity, email, PASSWORD, type IdentityKernel } from './helpers.ts';
import { credentials } from './credentials.ts';

const s = suite<{ k: IdentityKernel }>('identity: a credential grants at most what its caller holds');
s.before(async (ctx) => { ctx.k = await startIdentity(); });
s.after(async (ctx) => { await ctx.k.stop(); });

const scopesOf = async (k: IdentityKernel, session: string, id: string) =>
  (await k.as(session, 'GET', '/v1/users/me/api-keys')).body.data.find((x: { id: string }) => x.id === id)?.scopes;

s(
  'an API key mints keys only within its own scopes (default and explicit), and cannot rotate a broader key',
  async ({ k }) => {
    const a = await k.signup(email('mint'));
    const c = credentials(k);
    const manager = await c.apiKey(a.accessToken, ['apikeys:manage']);
    const minted = await k.as(manager, 'POST', '/v1/users/me/api-keys', { name: 'child' });
    assert.is(minted.status, 201, minted.text);
    assert.equal(
      minted.body.scopes,
      ['apikeys:manage'],
      "the default is the caller key's scopes, not the owner's role",
    );
    assertError(
      await k.as(manager, 'POST', '/v1/users/me/api-keys', {
        name: 'wider',
        scopes: ['apikeys:manage', 'profile:write'],
      }),
      400,
      'VALIDATION_ERROR',
    );
    assertError(await k.as(minted.body.key, 'GET', '/v1/users/me'), 403, 'FORBIDDEN');

    const broad = (
      await k.as(a.accessToken, 'POST', '/v1/users/me/api-keys', {
        name: 'broad',
        scopes: ['profile:read', 'profile:write'],
      })
    ).body;
    assertError(await k.as(manager, 'POST', `/v1/users/me/api-keys/${broad.id}/rotate`), 403, 'SCOPE_BEYOND_CALLER');
    assert.equal(
      await scopesOf(k, a.accessToken, broad.id),
      ['profile:read', 'profile:write'],
      'the broad key was not rotated',
    );
  },
);

s('an OAuth token with apikeys:manage mints keys only within its scopes', async ({ k }) => {
  const a = await k.signup(email('oauthmint'));
  const token = await credentials(k).oauthUserToken(a.accessToken, 'apikeys:manage profile:read');
  const minted = await k.as(token, 'POST', '/v1/users/me/api-keys', { name: 'from-oauth' });
  assert.is(minted.status, 201, minted.text);
  assert.equal([...minted.body.scopes].sort(), ['apikeys:manage', 'profile:read']);
  assertError(
    await k.as(token, 'POST', '/v1/users/me/api-keys', { name: 'x', scopes: ['notes:write'] }),
    400,
    'VALIDATION_ERROR',
  );
  // A client registered through a key is allowed at most the key's scopes.
  const key = await credentials(k).apiKey(a.accessToken, ['oauth:clients:manage', 'profile:read']);
  const wide = await k.as(key, 'POST', '/v1/oauth/clients', { name: 'x', redirectUris: ['https://app.example.com/cb'], scopes: ['profile:read', 'notes:write'] });
  assertError(wide, 400, 'VALIDATION_ERROR');
  assert.ok(JSON.stringify(wide.body.error.details).includes('notes:write'));
});

s('impersonation may not create credentials, change email, password or MFA, or erase the account', async ({ k }) => {
  const root = await k.admin();
  const u = await k.signup(email('victim'));
  const imp = await credentials(k).impersonation(root, u.id);
  const refused: Array<[string, string, unknown?]> = [
    ['POST', '/v1/users/me/api-keys', { name: 'backdoor' }],
    ['POST', '/v1/oauth/clients', { name: 'x', redirectUris: ['https://app.example.com/cb'], scopes: ['profile:read'] }],
    ['PATCH', '/v1/users/me', { email: email('attacker') }],
    ['PUT', '/v1/auth/password', { currentPassword: PASSWORD, newPassword: 'Other#Passw0rd' }],
    ['POST', '/v1/auth/mfa/totp'],
    ['DELETE', '/v1/users/me', { password: PASSWORD }],
    ['GET', '/v1/users/me/export'],
    ['POST', `/v1/admin/users/${u.id}/impersonate`],
  ];
  for (const [method, path, body] of refused)
    assertError(await k.as(imp, method, path, body), 403, 'IMPERSONATION_NOT_ALLOWED');
  assert.is((await k.as(u.accessToken, 'GET', '/v1/users/me/api-keys')).body.data.length, 0, 'no key was made');
  assert.is((await k.as(imp, 'GET', '/v1/users/me')).status, 200, 'reading as the user works');
});

s('every audit entry made during impersonation names the impersonator and the subject', async ({ k }) => {
  const root = await k.admin();
  const rootId = (await k.as(root, 'GET', '/v1/users/me')).body.id;
  const u = await k.signup(email('subject'));
  const imp = await credentials(k).impersonation(root, u.id);
  assert.is((await k.as(imp, 'PATCH', '/v1/users/me', { name: 'Renamed by support' })).status, 200);
  const key = (await k.as(u.accessToken, 'POST', '/v1/users/me/api-keys', { name: 'own' })).body;
  assert.is((await k.as(imp, 'DELETE', `/v1/users/me/api-keys/${key.id}`)).status, 204);
  const log = (await k.as(root, 'GET', `/v1/admin/audit-logs?userId=${u.id}`)).body.data;
  for (const action of ['user.updated', 'apikey.revoked']) {
    const entry = log.find((e: { action: string }) => e.action === action);
    assert.ok(entry, `${action} in ${log.map((e: { action: string }) => e.action)}`);
    assert.is(entry.actorId, u.id, 'the subject');
    assert.is(entry.impersonatorId, rootId, 'the impersonator');
  }
  const own = log.find((e: { action: string }) => e.action === 'apikey.created');
  assert.is(own.impersonatorId, null, "the user's own action names no impersonator");
});

s('role grants and impersonation compare permissions, not levels', async ({ k }) => {
  const root = await k.admin();
  assert.is(
    (await k.as(root, 'POST', '/v1/admin/roles', { name: 'sneaky', level: 20, permissions: ['*'] })).status,
    201,
  );
  const admin = await k.withRole('admin');
  const target = await k.signup(email('grantee'));
  assertError(
    await k.as(admin.accessToken, 'PATCH', `/v1/admin/users/${target.id}`, { role: 'sneaky' }),
    403,
    'PERMISSIONS_BEYOND_YOUR_OWN',
  );
  assertError(
    await k.as(admin.accessToken, 'POST', '/v1/admin/users', {
      name: 'x',
      email: email('sneaky'),
      password: PASSWORD,
      role: 'sneaky',
    }),
    403,
    'PERMISSIONS_BEYOND_YOUR_OWN',
  );
  // Given the role by root, the user is out of the admin's reach: no impersonation, no change.
  assert.is((await k.as(root, 'PATCH', `/v1/admin/users/${target.id}`, { role: 'sneaky' })).status, 200);
  assertError(
    await k.as(admin.accessToken, 'POST', `/v1/admin/users/${target.id}/impersonate`),
    403,
    'PERMISSIONS_BEYOND_YOUR_OWN',
  );
  assertError(
    await k.as(admin.accessToken, 'DELETE', `/v1/admin/users/${target.id}`),
    403,
    'PERMISSIONS_BEYOND_YOUR_OWN',
  );
  assertError(await k.as(admin.accessToken, 'POST', '/v1/admin/signing-keys/rotate'), 403);
});

s('custom roles are bounded by the caller\'s effective permissions (a key\'s scopes), not its role', async ({ k }) => {
  const root = await k.admin();
  const rootKey = await credentials(k).apiKey(root, ['admin:roles']);
  assertError(
    await k.as(rootKey, 'POST', '/v1/admin/roles', { name: 'auditor2', level: 15, permissions: ['admin:audit'] }),
    403,
    'ROLE_ABOVE_YOUR_OWN',
  );
  const ok = await k.as(rootKey, 'POST', '/v1/admin/roles', {
    name: 'rolekeeper',
    level: 15,
    permissions: ['admin:roles'],
  });
  assert.is(ok.status, 201, ok.text);
});

s(
  'first-party only: keys and OAuth tokens with every scope cannot touch MFA, password, email, erasure, export or settings',
  async ({ k }) => {
    const a = await k.signup(email('firstparty'));
    const c = credentials(k);
    const all = ['profile:read', 'profile:write', 'apikeys:manage', 'sessions:manage'];
    const key = await c.apiKey(a.accessToken, all);
    const token = await c.oauthUserToken(a.accessToken, all.join(' '));
    for (const cred of [key, token]) {
      for (const [method, path, body] of [
        ['POST', '/v1/auth/mfa/totp'],
        ['POST', '/v1/auth/mfa/totp/confirm', { code: '123456' }],
        ['DELETE', '/v1/auth/mfa/totp', { password: PASSWORD, code: '123456' }],
        ['PUT', '/v1/auth/password', { currentPassword: PASSWORD, newPassword: 'Other#Passw0rd' }],
        ['DELETE', '/v1/users/me', { password: PASSWORD }],
        ['GET', '/v1/users/me/export'],
        ['PUT', '/v1/users/me/settings', { theme: 'dark' }],
        ['PATCH', '/v1/users/me', { email: email('taken-over') }],
        ['POST', '/v1/auth/logout'],
      ] as Array<[string, string, unknown?]>) {
        assertError(await k.as(cred, method, path, body), 403, 'CREDENTIAL_NOT_ALLOWED');
      }
      assert.is(
        (await k.as(cred, 'PATCH', '/v1/users/me', { name: 'Still me' })).status,
        200,
        'a name change needs only profile:write',
      );
    }
    assert.is((await k.as(a.accessToken, 'GET', '/v1/users/me/export')).status, 200, 'the session itself may');
  },
);

s(
  "admins' network details do not reach the user: export and session list redact them, impersonation is labelled",
  async ({ k }) => {
    const root = await k.admin();
    const u = await k.signup(email('redact'));
    const adminUa = 'AdminBrowser/1.0 (support desk)';
    const imp = await k.as(root, 'POST', `/v1/admin/users/${u.id}/impersonate`, undefined, { 'user-agent': adminUa });
    assert.is(imp.status, 200, imp.text);
    assert.is(
      (await k.as(imp.body.accessToken, 'PATCH', '/v1/users/me', { name: 'Touched' }, { 'user-agent': adminUa }))
        .status,
      200,
    );
    const sessions = (await k.as(u.accessToken, 'GET', '/v1/auth/sessions')).body.data;
    const impersonated = sessions.find((x: { impersonated: boolean }) => x.impersonated);
    assert.ok(impersonated, JSON.stringify(sessions));
    assert.is(impersonated.ip, null);
    assert.is(impersonated.userAgent, null);
    assert.ok(
      sessions.some((x: { impersonated: boolean; ip: string | null }) => !x.impersonated && x.ip),
      'own sessions keep their details',
    );
    const exported = await k.as(u.accessToken, 'GET', '/v1/users/me/export');
    assert.is(exported.status, 200, exported.text);
    assert.not.ok(exported.text.includes(adminUa), "the admin's user agent is not in the export");
    const byAdmin = exported.body.auditLog.filter(
      (e: { actorId: string; impersonatorId: string | null }) => e.impersonatorId || e.actorId !== u.id,
    );
    assert.ok(byAdmin.length >= 2, 'the impersonation and the change are in the export');
    for (const e of byAdmin) assert.equal([e.ip, e.userAgent], [null, null]);
    assert.ok(
      exported.body.auditLog.some((e: { action: string; ip: string | null }) => e.action === 'auth.login' && e.ip),
      'own entries keep their IP',
    );
  },
);

s.run();

const limits = suite('identity: keys per user, per-key limits within the tier, one user budget');


limits('keys per user are capped by plugins.identity.apiKeys.maxPerUser', async () => {
  const k = await startIdentity({ identity: { apiKeys: { maxPerUser: 2 } } });
  try {
    const a = await k.signup(email('cap'));
    const first = (await k.as(a.accessToken, 'POST', '/v1/users/me/api-keys', { name: 'one' })).body;
    assert.is((await k.as(a.accessToken, 'POST', '/v1/users/me/api-keys', { name: 'two' })).status, 201);
    assertError(
      await k.as(a.accessToken, 'POST', '/v1/users/me/api-keys', { name: 'three' }),
      409,
      'TOO_MANY_API_KEYS',
    );
    assert.is(
      (await k.as(a.accessToken, 'POST', `/v1/users/me/api-keys/${first.id}/rotate`)).status,
      201,
      'a rotation replaces, it does not add',
    );
    assert.is(
      (await k.as(a.accessToken, 'DELETE', `/v1/users/me/api-keys/${first.id}`)).status,
      404,
      'the rotated key is gone',
    );
  } finally {
    await k.stop();
  }
});

limits('a key\'s own limit cannot exceed the tier, and a user\'s keys and session share one budget', async () => {
  const k = await startIdentity({ rateLimit: { enabled: true, tiers: { free: 10, premium: 10, enterprise: 10 } } });
  try {
    const a = await k.signup(email('budget'));
    const c = credentials(k);
    const fast = await c.apiKey(a.accessToken, ['profile:read'], { rateLimit: { limit: 100000, windowMs: 1000 } });
    const statuses = await Promise.all(
      Array.from({ length: 20 }, () => k.as(fast, 'GET', '/v1/users/me').then((r) => r.status)),
    );
    assert.ok(statuses.filter((x) => x === 200).length <= 10, `at most the tier passes: ${statuses.join(',')}`);
    assert.ok(statuses.includes(429));

    const b = await k.signup(email('budget2'));
    const keys = [await c.apiKey(b.accessToken, ['profile:read']), await c.apiKey(b.accessToken, ['profile:read'])];
    // signup + two key creations used 3 of the user's 10; each key alone would allow 10 more.
    const spread = await Promise.all(
      Array.from({ length: 16 }, (_, i) => k.as(keys[i % 2], 'GET', '/v1/users/me').then((r) => r.status)),
    );
    const passed = spread.filter((x) => x === 200).length;
    assert.ok(passed <= 8, `the two keys share the user's budget: ${spread.join(',')}`);
    assertError(await k.as(b.accessToken, 'GET', '/v1/users/me'), 429, 'RATE_LIMITED');
  } finally {
    await k.stop();
  }
});

limits.run();
