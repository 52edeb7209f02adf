import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { randomBytes } from 'node:crypto';
import { assertError } from '../helpers/kernel.ts';
import { withChecksum } from '../../plugins/identity/keyMisses.ts';
import { startIdentity, email, type IdentityKernel } from './helpers.ts';
import { credentials } from './credentials.ts';

const s = suite<{ k: IdentityKernel; queries: () => number }>(
  'identity: a flood of bad API keys costs no database work',
);
s.before(async (ctx) => {
  ctx.k = await startIdentity({ identity: { instanceSyncSeconds: 300 } });
  let n = 0;
  // Counts the queries key authentication could make (the outbox relay polls in the background).
  (ctx.k.kernel.orm!.em as any).getConnection().getKnex().on('query', (q: { sql: string }) => {
    if (/identity_(api_keys|users)/.test(q.sql)) n++;
  });
  ctx.queries = () => n;
  // The first authentication brings the instance's caches up to date (one read, then every instanceSyncSeconds).
  await ctx.k.as(`sk_live_${'x'.repeat(40)}`, 'GET', '/v1/users/me');
});
s.after(async (ctx) => { await ctx.k.stop(); });

const body = () => randomBytes(24).toString('base64').replace(/[^A-Za-z0-9]/g, '').slice(0, 32).padEnd(32, 'x');

s('garbage keys fail the checksum before any lookup', async ({ k, queries }) => {
  const before = queries();
  const statuses = await Promise.all(
    Array.from({ length: 40 }, () => k.as(`sk_live_${body()}${body().slice(0, 8)}`, 'GET', '/v1/users/me')),
  );
  for (const res of statuses) assertError(res, 401, 'INVALID_API_KEY');
  assert.is(queries() - before, 0, 'no query for a malformed key');
});

s(
  'a well-formed unknown key costs one lookup, however often and however concurrently it is sent',
  async ({ k, queries }) => {
    const unknown = `sk_live_${withChecksum(body())}`;
    const before = queries();
    const burst = await Promise.all(Array.from({ length: 40 }, () => k.as(unknown, 'GET', '/v1/users/me')));
    for (const res of burst) assertError(res, 401, 'INVALID_API_KEY');
    for (let i = 0; i < 10; i++) assertError(await k.as(unknown, 'GET', '/v1/users/me'), 401, 'INVALID_API_KEY');
    assert.is(queries() - before, 1, 'one indexed read, then the miss cache');
  },
);

s('a key created after a flood works at once; a revoked key is refused at once', async ({ k }) => {
  const a = await k.signup(email('fresh'));
  for (let i = 0; i < 5; i++) assertError(await k.as(`sk_live_${withChecksum(body())}`, 'GET', '/v1/users/me'), 401);
  const created = (
    await k.as(a.accessToken, 'POST', '/v1/users/me/api-keys', { name: 'new', scopes: ['profile:read'] })
  ).body;
  assert.is((await k.as(created.key, 'GET', '/v1/users/me')).status, 200);
  assert.is((await k.as(a.accessToken, 'DELETE', `/v1/users/me/api-keys/${created.id}`)).status, 204);
  assertError(await k.as(created.key, 'GET', '/v1/users/me'), 401, 'INVALID_API_KEY');
});

s.run();

const mfa = suite<{ k: IdentityKernel }>('identity: mfa.requiredForAdmin holds for every principal type');
mfa.before(async (ctx) => { ctx.k = await startIdentity({ identity: { mfa: { requiredForAdmin: true } } }); });
mfa.after(async (ctx) => { await ctx.k.stop(); });

mfa(
  'an admin without MFA, their API key and their client-credentials token are all refused on admin operations',
  async ({ k }) => {
    const root = await k.admin();
    assertError(await k.as(root, 'GET', '/v1/admin/users'), 403, 'MFA_REQUIRED');
    const c = credentials(k);
    const key = await c.apiKey(root, ['admin:users:read', 'profile:read']);
    assertError(await k.as(key, 'GET', '/v1/admin/users'), 403, 'MFA_REQUIRED');
    assertError(await k.as(undefined, 'GET', '/v1/notes', undefined, { 'x-api-key': key }), 403, 'FORBIDDEN');
    assert.is((await k.as(key, 'GET', '/v1/users/me')).status, 200, 'non-admin operations are unaffected');
    const token = await c.clientToken(root, 'admin:audit');
    assertError(await k.as(token, 'GET', '/v1/admin/audit-logs'), 403, 'MFA_REQUIRED');
    const oauthUser = await c.oauthUserToken(root, 'admin:users:read');
    assertError(await k.as(oauthUser, 'GET', '/v1/admin/users'), 403, 'MFA_REQUIRED');
  },
);

mfa.run();

const units = suite('identity: the grant, credential-type and per-key limit rules');

units('beyondHeld: only * covers *; narrowTo keeps the order of what is wanted', async () => {
  const { beyondHeld, narrowTo } = await import('../../kernel/grants.ts');
  assert.equal(beyondHeld(['a', 'b'], ['a', 'c', 'c']), ['c']);
  assert.equal(beyondHeld(['a'], ['*']), ['*']);
  assert.equal(beyondHeld(['*'], ['anything', '*']), []);
  assert.equal(narrowTo(['b', 'a'], ['a', 'x', 'b']), ['a', 'b']);
});

units('x-principal must name known credential types: a typo fails the boot', async () => {
  const { principalProblems } = await import('../../kernel/http/principalTypes.ts');
  const { default: identity } = await import('../../plugins/identity/index.ts');
  const op = (value: unknown) => ({ operationId: 'x.y', operation: { 'x-principal': value } });
  const problems = (...values: unknown[]) =>
    principalProblems([identity], { document: {} as never, operations: values.map(op) as never });
  assert.equal(problems(['session', 'apiKey'], ['user'], ['user', 'client'], undefined), []);
  assert.match(problems(['sesion'])[0], /x\.y: x-principal must list some of user, client, session, impersonation/);
  assert.match(problems([])[0], /x-principal/);
});

units('a key\'s own limit only narrows the tier', async () => {
  const { withinTier } = await import('../../kernel/http/rateBudget.ts');
  const tier = { limit: 60, windowMs: 60_000 };
  assert.equal(withinTier({ limit: 100_000, windowMs: 1000 }, tier), tier, 'faster');
  assert.equal(withinTier({ limit: 600, windowMs: 600_000 }, tier), tier, 'same rate, bigger burst');
  assert.equal(withinTier({ limit: 10, windowMs: 60_000 }, tier), { limit: 10, windowMs: 60_000 }, 'narrower is kept');
});

units.run();
