/**
 * `x-principal`: the kernel's kinds (`user`, `client`), the credential types plugins declare,
 * and the default for plugins with owned entities (`[user]`).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { defineEntity, definePlugin, p, principalKind, type Principal } from '../../kernel/index.ts';
import { startTestKernel, assertError, type TestKit } from '../kit/index.ts';

const USER = '0190c000-0000-7000-8000-00000000000a';
const CLIENT = '0190c000-0000-7000-8000-0000000000cc';

/** `x-kinds-as: user|client` signs in as a user or a client, with the credential types declared below. */
const asKind = ({ headers }: { headers: Record<string, unknown> }): Promise<Principal | undefined> => {
  const as = headers['x-kinds-as'];
  if (as === 'user') return Promise.resolve({ type: 'user', id: USER, permissions: [], credential: 'kindsToken' });
  if (as === 'client') return Promise.resolve({ type: 'client', id: CLIENT, permissions: [], credential: 'kindsApp' });
  return Promise.resolve(undefined);
};
const answer = { 200: { description: 'ok', content: { 'application/json': { schema: { type: 'object' } } } } };
const op = (id: string, extra: Record<string, unknown> = {}) =>
  ({ get: { operationId: id, 'x-permissions': [], responses: answer, ...extra } });

const Thing = defineEntity('KindsThing', {
  table: 'kinds_things',
  properties: { id: p.id(), ownerId: p.string({ length: 36 }) },
  ownedBy: 'ownerId',
});
const handler = (_req: unknown, ctx: { principal?: Principal }) => ({ kind: principalKind(ctx.principal!) });
const kinds = definePlugin({
  name: 'kinds',
  version: '1.0.0',
  entities: [Thing],
  credentials: [
    { name: 'kindsToken' },
    { name: 'kindsApp', refusal: { code: 'KINDS_APP_REFUSED', message: 'Apps may not do this' } },
  ],
  authSchemes: { kindsAuth: () => asKind },
  handlers: { 'kinds.mine': handler, 'kinds.either': handler, 'kinds.token': handler, 'kinds.open': () => ({}) },
});
const loose = definePlugin({ name: 'loose', version: '1.0.0', handlers: { 'loose.any': handler } });
const contracts = {
  kinds: {
    openapi: '3.1.0',
    info: { title: 'kinds', version: '1' },
    components: { securitySchemes: { kindsAuth: { type: 'apiKey', in: 'header', name: 'x-kinds-as' } } },
    security: [{ kindsAuth: [] }],
    paths: {
      '/kinds/mine': op('kinds.mine'),
      '/kinds/either': op('kinds.either', { 'x-principal': ['user', 'client'] }),
      '/kinds/token': op('kinds.token', { 'x-principal': ['kindsToken'] }),
      '/kinds/open': op('kinds.open', { security: [] }),
    },
  },
  loose: {
    openapi: '3.1.0', info: { title: 'loose', version: '1' }, security: [{ kindsAuth: [] }],
    paths: { '/loose': op('loose.any') },
  },
};

const s = suite<{ k: TestKit }>('kernel: x-principal kinds, credential types and the owned default');
s.before(async (ctx) => { ctx.k = await startTestKernel({ plugins: [kinds, loose], contracts }); });
s.after(async (ctx) => { await ctx.k.stop(); });

const as = (kind: string) => ({ 'x-kinds-as': kind });

s('a plugin with owned entities defaults to [user], and the served contract says so', async ({ k }) => {
  const paths = k.kernel.plan.contract.document.paths as Record<string, Record<string, Record<string, unknown>>>;
  assert.equal(paths['/v1/kinds/mine'].get['x-principal'], ['user']);
  assert.equal(paths['/v1/kinds/either'].get['x-principal'], ['user', 'client'], 'an explicit list stays');
  assert.is(paths['/v1/kinds/open'].get['x-principal'], undefined, 'public operations get none');
  assert.is(paths['/v1/loose'].get['x-principal'], undefined, 'a plugin without owned entities gets none');
  assert.equal((await k.get('/v1/kinds/mine', as('user'))).body, { kind: 'user' });
  const refused = await k.get('/v1/kinds/mine', as('client'));
  assertError(refused, 403, 'USER_PRINCIPAL_REQUIRED');
  assert.equal(refused.body.error.details, { allowed: ['user'], received: 'kindsApp' });
  assert.match(refused.body.error.message, 'for a user; a client credential cannot call it');
});

s('[user, client] opts clients in; plugins without owned entities accept both', async ({ k }) => {
  assert.equal((await k.get('/v1/kinds/either', as('client'))).body, { kind: 'client' });
  assert.equal((await k.get('/v1/kinds/either', as('user'))).body, { kind: 'user' });
  assert.equal((await k.get('/v1/loose', as('client'))).body, { kind: 'client' });
});

s("a credential type: others get its declared refusal, or CREDENTIAL_NOT_ALLOWED", async ({ k }) => {
  assert.equal((await k.get('/v1/kinds/token', as('user'))).body, { kind: 'user' });
  assertError(await k.get('/v1/kinds/token', as('client')), 403, 'KINDS_APP_REFUSED');
  assertError(await k.get('/v1/kinds/mine'), 401);
});

s.run();

const boot = suite('kernel: x-principal names are checked at boot');
boot('an unknown credential type, or one declared twice, fails the boot naming it', async () => {
  const typo = structuredClone(contracts);
  (typo.kinds.paths['/kinds/token'].get as Record<string, unknown>)['x-principal'] = ['kindsTokn'];
  const twice = definePlugin({ ...loose, credentials: [{ name: 'kindsToken' }] });
  const failed = await startTestKernel({ plugins: [kinds, twice], contracts: typo, printErrors: false })
    .then((k) => k.stop().then(() => ''), (e: Error) => String(e));
  assert.match(failed, /kinds\.token: x-principal must list some of user, client, .*kindsToken, kindsApp.*got \["kindsTokn"\]/);
  assert.match(failed, 'credential type kindsToken: declared by plugin kinds and plugin loose');
});
boot.run();
