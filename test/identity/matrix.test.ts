/**
 * The credential matrix, generated from the served contract: every secured operation of
 * every plugin, called with each kind of credential, must answer exactly what its
 * `security`, `x-principal` and `x-permissions` say: 401 without an accepted credential,
 * 403 when the credential type or a permission is missing, and otherwise neither ("allowed":
 * whatever the handler then answers, e.g. 400 for the empty body, 404 for the sample id).
 * A new plugin's operations are covered by being in /openapi.json.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { TestResponse } from '../helpers/kernel.ts';
import { startIdentity, email, type IdentityKernel } from './helpers.ts';
import { credentials } from './credentials.ts';

const METHODS = ['get', 'put', 'post', 'delete', 'patch'];
const SAMPLE_ID = '01900000-0000-7000-8000-000000000000';

interface Operation {
  operationId: string; method: string; path: string;
  alternatives: string[][]; optional: boolean; permissions: string[] | undefined; principal: string[] | undefined;
  stream?: boolean;
}

interface Credential {
  name: string;
  /** `x-principal` type, or undefined for no credential. */
  type?: string;
  permissions: string[];
  /** How it is presented: a bearer token, or an API key (Bearer, or X-API-Key where only that scheme is offered). */
  kind: 'none' | 'bearer' | 'apiKey';
  /** Made once, made again if an allowed call ended it (a logout, say). */
  mint: () => Promise<string>;
  value?: string;
}

async function securedOperations(k: IdentityKernel): Promise<Operation[]> {
  const doc = (await k.as(undefined, 'GET', '/openapi.json')).body;
  const ops: Operation[] = [];
  for (const [path, item] of Object.entries<any>(doc.paths)) {
    for (const method of METHODS) {
      const op = item[method];
      if (!op) continue;
      const requirements: Array<Record<string, unknown>> = op.security ?? doc.security ?? [];
      const alternatives = requirements.map((r) => Object.keys(r)).filter((names) => names.length > 0);
      if (!alternatives.length) continue;
      ops.push({
        operationId: op.operationId,
        method: method.toUpperCase(),
        path,
        alternatives,
        optional: requirements.some((r) => Object.keys(r).length === 0),
        permissions: op['x-permissions'],
        principal: op['x-principal'],
        stream: Object.values<any>(op.responses ?? {}).some((r) => r?.content?.['text/event-stream']),
      });
    }
  }
  return ops;
}

const holds = (held: string[], wanted: string[]) => held.includes('*') || wanted.every((p) => held.includes(p));
const adminPermission = (p: string) => p === '*' || p.startsWith('admin:');

/** What the operation's rules say this credential gets: 401, 403, or 'allowed'. */
function expected(op: Operation, c: Credential, mfaRequiredForAdmin: boolean): 401 | 403 | 'allowed' {
  const accepted =
    c.kind !== 'none' &&
    op.alternatives.some((names) => names.every((n) => n === 'bearerAuth' || (n === 'apiKey' && c.kind === 'apiKey')));
  if (!accepted) return op.optional ? 'allowed' : 401;
  // `x-principal` lists credential types and the kernel's kinds: `client` for a client-credentials token, else `user`.
  const kind = c.type === 'oauthClient' ? 'client' : 'user';
  if (op.principal && !op.principal.includes(c.type!) && !op.principal.includes(kind)) return 403;
  if (mfaRequiredForAdmin && (op.permissions ?? []).some(adminPermission)) return 403;
  if (!holds(c.permissions, op.permissions ?? [])) return 403;
  return 'allowed';
}

async function call(k: IdentityKernel, op: Operation, c: Credential): Promise<TestResponse> {
  // An event stream stays open once allowed: a bad cursor makes an allowed call a 400 (checked after access).
  const path = op.path.replace(/\{[^}]+\}/g, SAMPLE_ID) + (op.stream ? '?lastEventId=not-a-cursor' : '');
  const body = ['POST', 'PUT', 'PATCH'].includes(op.method) ? {} : undefined;
  if (c.kind === 'none') return k.as(undefined, op.method, path, body);
  c.value ??= await c.mint();
  const bearer = op.alternatives.some((names) => names.includes('bearerAuth'));
  if (c.kind === 'apiKey' && !bearer) return k.as(undefined, op.method, path, body, { 'x-api-key': c.value });
  return k.as(c.value, op.method, path, body);
}

async function runMatrix(k: IdentityKernel, ops: Operation[], creds: Credential[], mfaRequiredForAdmin: boolean) {
  const wrong: string[] = [];
  for (const op of ops) {
    for (const c of creds) {
      const want = expected(op, c, mfaRequiredForAdmin);
      let res = await call(k, op, c);
      if (want !== 401 && res.status === 401 && c.kind !== 'none') {
        c.value = undefined; // an earlier allowed call (logout) ended it: mint it again and retry once
        res = await call(k, op, c);
      }
      const got = res.status === 401 || res.status === 403 ? res.status : 'allowed';
      if (got !== want)
        wrong.push(
          `${op.method} ${op.path} (${op.operationId}) as ${c.name}: want ${want}, got ${res.status} ${res.text.slice(0, 160)}`,
        );
    }
  }
  assert.equal(wrong, [], `\n${wrong.join('\n')}`);
}

const s = suite<{ k: IdentityKernel; ops: Operation[] }>(
  'matrix: every operation x every credential, from /openapi.json',
);
s.before(async (ctx) => {
  ctx.k = await startIdentity();
  ctx.ops = await securedOperations(ctx.k);
});
s.after(async (ctx) => { await ctx.k.stop(); });

s('every secured operation declares x-permissions (an explicit [] means any signed-in principal)', ({ ops }) => {
  assert.ok(ops.length >= 40, `found ${ops.length} secured operations`);
  const undeclared = ops.filter((op) => !Array.isArray(op.permissions)).map((op) => op.operationId);
  assert.equal(undeclared, []);
});

s('none, session, zero- and one-scope keys, OAuth user and client tokens, impersonation', async ({ k, ops }) => {
  const root = await k.admin();
  const userPermissions: string[] = (await k.as(root, 'GET', '/v1/admin/roles')).body.data.find(
    (r: { name: string }) => r.name === 'user',
  ).permissions;
  const c = credentials(k);
  const user = async () => k.signup(email('matrix'));
  const session = async () => (await user()).accessToken;
  const creds: Credential[] = [
    { name: 'no credential', kind: 'none', permissions: [], mint: async () => '' },
    { name: 'a session', type: 'session', kind: 'bearer', permissions: userPermissions, mint: session },
    {
      name: 'a zero-scope API key',
      type: 'apiKey',
      kind: 'apiKey',
      permissions: [],
      mint: async () => c.apiKey(await session(), []),
    },
    {
      name: 'a profile:read API key',
      type: 'apiKey',
      kind: 'apiKey',
      permissions: ['profile:read'],
      mint: async () => c.apiKey(await session(), ['profile:read']),
    },
    {
      name: 'an OAuth token with profile:read',
      type: 'oauthUser',
      kind: 'bearer',
      permissions: ['profile:read'],
      mint: async () => c.oauthUserToken(await session(), 'profile:read'),
    },
    {
      name: 'a client-credentials token',
      type: 'oauthClient',
      kind: 'bearer',
      permissions: ['profile:read'],
      mint: async () => c.clientToken(await session(), 'profile:read'),
    },
    {
      name: 'an impersonation token',
      type: 'impersonation',
      kind: 'bearer',
      permissions: userPermissions,
      mint: async () => c.impersonation(root, (await user()).id),
    },
  ];
  await runMatrix(k, ops, creds, false);
});

s.run();

const mfa = suite<{ k: IdentityKernel }>('matrix: an admin without MFA where mfa.requiredForAdmin is set');
mfa.before(async (ctx) => { ctx.k = await startIdentity({ identity: { mfa: { requiredForAdmin: true } } }); });
mfa.after(async (ctx) => { await ctx.k.stop(); });

mfa(
  'every admin operation is 403 for the super admin without MFA; everything else follows the usual rules',
  async ({ k }) => {
    const ops = await securedOperations(k);
    const admin: Credential = {
      name: 'a super admin without MFA',
      type: 'session',
      kind: 'bearer',
      permissions: ['*'],
      mint: async () => {
        const res = await k.login('root@example.com', 'Root#Passw0rd');
        assert.is(res.status, 200, res.text);
        return res.body.accessToken;
      },
    };
    await runMatrix(k, ops, [admin], true);
  },
);

mfa.run();
