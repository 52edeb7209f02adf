import * as assert from 'uvu/assert';
import { startKernel, type TestKernel, type TestResponse } from '../helpers/kernel.ts';
import type { Clock } from '../../kernel/ports/clock.ts';
import { deepMerge } from '../../kernel/config/merge.ts';

export const ADMIN = { email: 'root@example.com', password: 'Root#Passw0rd' };
export const PASSWORD = 'Passw0rd!x';

export interface IdentityKernel extends TestKernel {
  /** Every response body this kernel sent, for the "secrets never leave" check. */
  bodies: string[];
  as(
    token: string | undefined,
    method: string,
    path: string,
    body?: unknown,
    headers?: Record<string, string>,
  ): Promise<TestResponse>;
  signup(email: string, password?: string): Promise<{ id: string; accessToken: string; refreshToken: string }>;
  login(email: string, password?: string): Promise<TestResponse>;
  admin(): Promise<string>;
  /** A signed-in user with the given role, made by the bootstrap super admin. */
  withRole(role: string): Promise<{ id: string; accessToken: string }>;
}

let seq = 0;
export const email = (tag: string) => `${tag}-${Date.now().toString(36)}-${seq++}@example.com`;

export async function startIdentity(
  overrides: Record<string, unknown> = {},
  extra: { clock?: Clock } = {},
): Promise<IdentityKernel> {
  // Merged, not spread: `{ plugins: {...} }` in overrides must not drop the bootstrap admin.
  const identityShortcut = overrides.identity ? { plugins: { identity: overrides.identity } } : {};
  const merged = deepMerge(
    deepMerge({ plugins: { identity: { bootstrapAdmin: ADMIN } } }, withoutIdentity(overrides)),
    identityShortcut,
  );
  const k = await startKernel(merged, extra);
  const bodies: string[] = [];
  const as: IdentityKernel['as'] = async (token, method, path, body, headers = {}) => {
    const res = await k.request(method, path, {
      body,
      headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers },
    });
    bodies.push(res.text);
    return res;
  };
  const login = (address: string, password = PASSWORD) =>
    as(undefined, 'POST', '/v1/auth/login', { email: address, password });
  let adminToken: string | undefined;
  const ik: IdentityKernel = {
    ...k,
    bodies,
    async stop() {
      // Secrets never leave: checked over every response this kernel sent in the suite.
      const leaked = bodies.filter((b) => /\$argon2|passwordHash|mfaSecret|privateJwk|"hash"\s*:/.test(b));
      await k.stop();
      assert.equal(leaked, [], 'a response carried a password hash, TOTP secret, private key or stored hash');
    },
    as,
    login,
    async signup(address, password = PASSWORD) {
      const reg = await as(undefined, 'POST', '/v1/auth/register', { name: 'Test User', email: address, password });
      assert.is(reg.status, 201, reg.text);
      const res = await login(address, password);
      assert.is(res.status, 200, res.text);
      return { id: reg.body.id, accessToken: res.body.accessToken, refreshToken: res.body.refreshToken };
    },
    async admin() {
      if (!adminToken) {
        const res = await login(ADMIN.email, ADMIN.password);
        assert.is(res.status, 200, res.text);
        adminToken = res.body.accessToken as string;
      }
      return adminToken;
    },
    async withRole(role) {
      const address = email(role);
      const created = await as(await ik.admin(), 'POST', '/v1/admin/users', {
        name: role,
        email: address,
        password: PASSWORD,
        role,
      });
      assert.is(created.status, 201, created.text);
      const res = await login(address);
      return { id: created.body.id, accessToken: res.body.accessToken };
    },
  };
  return ik;
}

function withoutIdentity(o: Record<string, unknown>) {
  const { identity: _ignored, ...rest } = o;
  return rest;
}
