/** `plugins.identity.roles`: a deployment names its built-in roles (seed 001: user and admin); the default has five. */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { resolve } from 'node:path';
import { startTestKernel, assertError, type TestKit } from '../kit/index.ts';
import { loadConfig } from '../../scripts/kernel.ts';
import { CONFIG_DIR } from '../../scripts/paths.ts';
import { ConfigError } from '../../kernel/config/problems.ts';

const s = suite('identity: the deployment\'s set of roles');
let five: TestKit;
let two: TestKit;
s.before(async () => {
  five = await startTestKernel();
  two = await startTestKernel({ config: { plugins: { identity: { roles: ['user', 'admin'] } } } });
});
s.after(async () => { await five?.stop(); await two?.stop(); });

const names = async (k: TestKit) => {
  const res = await (await k.asAdmin()).get('/v1/admin/roles');
  assert.is(res.status, 200, res.text);
  return (res.body.data as Array<{ name: string; builtIn: boolean }>).filter((r) => r.builtIn).map((r) => r.name);
};

s('the default deployment keeps its five built-in roles, and the bootstrap admin is super_admin', async () => {
  assert.equal(await names(five), ['user', 'premium', 'moderator', 'admin', 'super_admin']);
  assert.is((await (await five.asAdmin()).get('/v1/users/me')).body.role, 'super_admin');
});

s('roles [user, admin]: only those two exist; the bootstrap admin is admin and still administers', async () => {
  assert.equal(await names(two), ['user', 'admin']);
  const admin = await two.asAdmin();
  assert.is((await admin.get('/v1/users/me')).body.role, 'admin');
  const user = await two.asUser('two-roles');
  assert.is((await user.get('/v1/users/me')).body.role, 'user');
  const premium = await admin.patch(`/v1/admin/users/${user.id}`, { role: 'premium' });
  assertError(premium, 400, 'VALIDATION_ERROR');
  assert.match(premium.text, /allowed: user, admin/);
  const list = await admin.get('/v1/admin/users');
  assert.is(list.status, 200, list.text);
  assertError(await user.get('/v1/admin/users'), 403);
});

s('config: a set without `user`, or with a role identity does not define, is refused at load', () => {
  const load = (roles: unknown) => {
    try {
      loadConfig({ env: {}, overrides: { plugins: { identity: { roles } } } });
      return [];
    } catch (e) {
      if (e instanceof ConfigError) return e.problems;
      throw e;
    }
  };
  assert.ok(load(['admin']).some((p) => p.startsWith('plugins.identity.roles')), 'user is required');
  assert.ok(load(['user', 'owner']).some((p) => p.startsWith('plugins.identity.roles')), 'unknown role');
  assert.equal(load(['user', 'admin']), []);
});

s('config/tool-hub.yaml declares user and admin only (FR-011)', () => {
  const c = loadConfig({ file: resolve(CONFIG_DIR, 'tool-hub.yaml'), env: {} });
  assert.equal((c.plugins.identity as { roles: string[] }).roles, ['user', 'admin']);
});

s.run();
