import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { assertError } from '../helpers/kernel.ts';
import { startIdentity, email, PASSWORD, type IdentityKernel } from './helpers.ts';

const s = suite<{ k: IdentityKernel }>('identity: API keys, roles, admin, object-level checks');
s.before(async (ctx) => { ctx.k = await startIdentity(); });
s.after(async (ctx) => { await ctx.k.stop(); });

s('API keys: shown once, prefixed, hashed; work as Bearer and X-API-Key; scopes are a subset', async ({ k }) => {
  const a = await k.signup(email('keys'));
  const created = await k.as(a.accessToken, 'POST', '/v1/users/me/api-keys', { name: 'ci', scopes: ['profile:read'] });
  assert.is(created.status, 201, created.text);
  assert.equal(Object.keys(created.body).sort(), [
    'createdAt',
    'expiresAt',
    'id',
    'key',
    'mode',
    'name',
    'rateLimit',
    'scopes',
    'start',
  ]);
  assert.match(created.body.key, /^sk_live_[A-Za-z0-9]{30,}$/);
  assert.ok(created.body.key.startsWith(created.body.start));
  const listed = await k.as(a.accessToken, 'GET', '/v1/users/me/api-keys');
  assert.not.ok(listed.text.includes(created.body.key), 'the key is shown only once');
  assert.is(listed.body.data[0].start, created.body.start);

  assert.is((await k.as(created.body.key, 'GET', '/v1/users/me')).status, 200, 'as Bearer');
  const used = (await k.as(a.accessToken, 'GET', '/v1/users/me/api-keys')).body.data[0];
  assert.ok(used.lastUsedAt && Date.parse(used.lastUsedAt) > Date.now() - 60_000, 'lastUsedAt is recorded');
  assert.is(
    (await k.as(undefined, 'GET', '/v1/users/me', undefined, { 'x-api-key': created.body.key })).status,
    200,
    'as X-API-Key',
  );
  assertError(await k.as(created.body.key, 'POST', '/v1/users/me/api-keys', { name: 'escalate' }), 403, 'FORBIDDEN');
  assertError(
    await k.as(a.accessToken, 'POST', '/v1/users/me/api-keys', { name: 'x', scopes: ['admin:users:read'] }),
    400,
    'VALIDATION_ERROR',
  );
  assertError(await k.as('sk_live_notarealkeyatall000000000000000', 'GET', '/v1/users/me'), 401, 'INVALID_API_KEY');
});

s('revoked and rotated keys stop at once; expired keys are refused', async ({ k }) => {
  const a = await k.signup(email('revoke'));
  const one = (await k.as(a.accessToken, 'POST', '/v1/users/me/api-keys', { name: 'one' })).body;
  assert.is((await k.as(one.key, 'GET', '/v1/users/me')).status, 200);
  const rotated = await k.as(a.accessToken, 'POST', `/v1/users/me/api-keys/${one.id}/rotate`);
  assert.is(rotated.status, 201, rotated.text);
  assertError(await k.as(one.key, 'GET', '/v1/users/me'), 401);
  assert.is((await k.as(rotated.body.key, 'GET', '/v1/users/me')).status, 200);
  assert.is((await k.as(a.accessToken, 'DELETE', `/v1/users/me/api-keys/${rotated.body.id}`)).status, 204);
  assertError(await k.as(rotated.body.key, 'GET', '/v1/users/me'), 401);

  const soon = (
    await k.as(a.accessToken, 'POST', '/v1/users/me/api-keys', {
      name: 'soon',
      expiresAt: new Date(Date.now() + 1500).toISOString(),
    })
  ).body;
  assert.is((await k.as(soon.key, 'GET', '/v1/users/me')).status, 200);
  const deadline = Date.now() + 5000;
  let status = 200;
  while (status === 200 && Date.now() < deadline) {
    status = (await k.as(soon.key, 'GET', '/v1/users/me')).status;
    if (status === 200) await new Promise((r) => setTimeout(r, 100)); // poll until the expiry passes, bounded
  }
  assert.is(status, 401);
  assertError(
    await k.as(a.accessToken, 'POST', '/v1/users/me/api-keys', { name: 'past', expiresAt: '2020-01-01T00:00:00Z' }),
    400,
  );
});

s("user B gets 404 on every one of user A's keys and sessions", async ({ k }) => {
  const a = await k.signup(email('owner'));
  const b = await k.signup(email('other'));
  const key = (await k.as(a.accessToken, 'POST', '/v1/users/me/api-keys', { name: 'mine' })).body;
  const session = (await k.as(a.accessToken, 'GET', '/v1/auth/sessions')).body.data[0];
  assertError(await k.as(b.accessToken, 'DELETE', `/v1/users/me/api-keys/${key.id}`), 404);
  assertError(await k.as(b.accessToken, 'POST', `/v1/users/me/api-keys/${key.id}/rotate`), 404);
  assertError(await k.as(b.accessToken, 'DELETE', `/v1/auth/sessions/${session.id}`), 404);
  assert.is((await k.as(key.key, 'GET', '/v1/users/me')).status, 200, "A's key still works");
});

/**
 * The matrix comes from the deployment's merged contract: every operation whose x-permissions names
 * an admin permission.
 */
async function adminOperations(k: IdentityKernel) {
  const doc = (await k.as(undefined, 'GET', '/openapi.json')).body;
  const ops: Array<{ method: string; path: string }> = [];
  for (const [path, item] of Object.entries<any>(doc.paths)) {
    for (const method of ['get', 'post', 'put', 'patch', 'delete']) {
      const op = item[method];
      if (op?.['x-permissions']?.some((p: string) => p.startsWith('admin:') || p === '*'))
        ops.push({ method: method.toUpperCase(), path });
    }
  }
  return ops;
}

s('every admin route answers 403 for user, premium and moderator (matrix from x-permissions)', async ({ k }) => {
  const ops = await adminOperations(k);
  assert.ok(ops.length >= 10, `found ${ops.length} admin operations`);
  const sampleId = '01900000-0000-7000-8000-000000000000';
  for (const role of ['user', 'premium', 'moderator']) {
    const { accessToken } = role === 'user' ? await k.signup(email('plain')) : await k.withRole(role);
    for (const op of ops) {
      const path = op.path.replace(/\{id\}/g, sampleId).replace(/\{name\}/g, 'some_role');
      const res = await k.as(
        accessToken,
        op.method,
        path,
        ['POST', 'PATCH', 'PUT'].includes(op.method) ? {} : undefined,
      );
      assertError(res, 403);
    }
  }
});

s('nobody grants a role above their own; admins manage users below them', async ({ k }) => {
  const admin = await k.withRole('admin');
  assertError(
    await k.as(admin.accessToken, 'POST', '/v1/admin/users', {
      name: 'x',
      email: email('sa'),
      password: PASSWORD,
      role: 'super_admin',
    }),
    403,
    'ROLE_ABOVE_YOUR_OWN',
  );
  const target = await k.withRole('user');
  assertError(
    await k.as(admin.accessToken, 'PATCH', `/v1/admin/users/${target.id}`, { role: 'super_admin' }),
    403,
    'ROLE_ABOVE_YOUR_OWN',
  );
  const promoted = await k.as(admin.accessToken, 'PATCH', `/v1/admin/users/${target.id}`, { role: 'moderator' });
  assert.is(promoted.status, 200, promoted.text);
  // a role change ends the sessions
  assertError(await k.as(target.accessToken, 'GET', '/v1/users/me'), 401, 'SESSION_REVOKED');
  const root = await k.admin();
  const rootId = (await k.as(root, 'GET', '/v1/users/me')).body.id;
  assertError(await k.as(admin.accessToken, 'PATCH', `/v1/admin/users/${rootId}`, { status: 'suspended' }), 403);
  assertError(await k.as(admin.accessToken, 'POST', `/v1/admin/users/${rootId}/impersonate`), 403);
});

s('suspension ends sessions and blocks login; admin list filters and pages', async ({ k }) => {
  const root = await k.admin();
  const address = email('suspend');
  const u = await k.signup(address);
  assert.is((await k.as(root, 'PATCH', `/v1/admin/users/${u.id}`, { status: 'suspended' })).status, 200);
  assertError(await k.as(u.accessToken, 'GET', '/v1/users/me'), 401);
  assertError(await k.login(address), 403, 'ACCOUNT_SUSPENDED');
  const filtered = await k.as(
    root,
    'GET',
    `/v1/admin/users?status=suspended&email=${encodeURIComponent(address.split('@')[0])}`,
  );
  assert.is(filtered.body.data.length, 1, filtered.text);
  assert.is(filtered.body.pagination.total, 1);
  const paged = await k.as(root, 'GET', '/v1/admin/users?limit=2&page=1');
  assert.is(paged.body.data.length, 2);
});

s('custom roles: created within the creator\'s powers, used, and refused beyond them', async ({ k }) => {
  const root = await k.admin();
  const role = await k.as(root, 'POST', '/v1/admin/roles', {
    name: 'auditor',
    level: 15,
    permissions: ['profile:read', 'admin:audit'],
  });
  assert.is(role.status, 201, role.text);
  const auditor = await k.withRole('auditor');
  assert.is((await k.as(auditor.accessToken, 'GET', '/v1/admin/audit-logs')).status, 200);
  assertError(await k.as(auditor.accessToken, 'GET', '/v1/admin/users'), 403);
  const admin = await k.withRole('admin');
  assertError(
    await k.as(admin.accessToken, 'POST', '/v1/admin/roles', { name: 'godlike', level: 45, permissions: ['*'] }),
    403,
  );
  assertError(await k.as(root, 'PATCH', '/v1/admin/roles/admin', { description: 'x' }), 403, 'BUILT_IN_ROLE');
  assertError(await k.as(root, 'DELETE', '/v1/admin/roles/auditor'), 409);
  assert.ok((await k.as(root, 'GET', '/v1/admin/roles')).body.data.some((r: { name: string }) => r.name === 'auditor'));
});

s('impersonation is audited and time-limited', async ({ k }) => {
  const root = await k.admin();
  const u = await k.signup(email('imp'));
  const imp = await k.as(root, 'POST', `/v1/admin/users/${u.id}/impersonate`);
  assert.is(imp.status, 200, imp.text);
  assert.is((await k.as(imp.body.accessToken, 'GET', '/v1/users/me')).body.id, u.id);
  const session = await k.kernel
    .orm!.em.fork()
    .findOne<any>('IdentitySession', { userId: u.id, impersonatorId: { $ne: null } });
  assert.ok(new Date(session.expiresAt).getTime() - Date.now() <= 15 * 60_000 + 1000);
  const audit = await k.as(root, 'GET', `/v1/admin/audit-logs?action=admin.impersonate&userId=${u.id}`);
  assert.is(audit.body.data.length, 1);
  assert.type(audit.body.data[0].ip, 'string');
});

s('the audit log masks secrets and filters by user, action and time', async ({ k }) => {
  const root = await k.admin();
  const u = await k.signup(email('auditpw'));
  await k.as(u.accessToken, 'PUT', '/v1/auth/password', { currentPassword: PASSWORD, newPassword: 'Other#Passw0rd' });
  await k.login(email('ghost'));
  const all = await k.as(root, 'GET', `/v1/admin/audit-logs?userId=${u.id}`);
  const actions = all.body.data.map((e: { action: string }) => e.action);
  for (const a of ['user.registered', 'auth.login', 'user.password_changed'])
    assert.ok(actions.includes(a), actions.join(','));
  const failed = await k.as(
    root,
    'GET',
    `/v1/admin/audit-logs?action=auth.login_failed&from=${encodeURIComponent(new Date(Date.now() - 60_000).toISOString())}`,
  );
  assert.ok(failed.body.data.length >= 1);
  assert.not.match(all.text + failed.text, /Other#Passw0rd|Passw0rd!x/);
  const future = await k.as(
    root,
    'GET',
    `/v1/admin/audit-logs?from=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`,
  );
  assert.is(future.body.data.length, 0);
});

s('signing keys rotate; tokens signed by the old key keep working until they expire', async ({ k }) => {
  const root = await k.admin();
  const before = (await k.as(undefined, 'GET', '/.well-known/jwks.json')).body.keys.length;
  const u = await k.signup(email('rotate'));
  const rotated = await k.as(root, 'POST', '/v1/admin/signing-keys/rotate');
  assert.is(rotated.status, 201, rotated.text);
  const jwks = (await k.as(undefined, 'GET', '/.well-known/jwks.json')).body.keys;
  assert.is(jwks.length, before + 1, 'old and new keys are both published');
  assert.is((await k.as(u.accessToken, 'GET', '/v1/users/me')).status, 200, 'a token from the old key still verifies');
  const relogin = await k.as(undefined, 'POST', '/v1/auth/refresh', { refreshToken: u.refreshToken });
  const kid = JSON.parse(Buffer.from(relogin.body.accessToken.split('.')[0], 'base64url').toString()).kid;
  assert.is(kid, rotated.body.kid, 'new tokens use the new key');
});

s.run();
