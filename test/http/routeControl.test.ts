import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { resolve } from 'node:path';
import { planKernel } from '../../kernel/plan.ts';
import { loadRawConfig } from '../../kernel/config/load.ts';
import { validateConfig } from '../../kernel/config/validate.ts';
import { deepMerge } from '../../kernel/config/merge.ts';
import { BootError, ConfigError } from '../../kernel/config/problems.ts';
import { CONFIG_DIR, CONTRACTS_DIR } from '../../scripts/paths.ts';
import { DEPLOYMENTS, fixtureCatalogs, startDeployment } from '../helpers/deployment.ts';
import { loadConfig, planDeployment } from '../../scripts/kernel.ts';

const s = suite(
  'route control: plugins.<name>.routes, .mount and .operations.exclude; real collisions still fail the boot',
);

function plan(overrides: Record<string, unknown>, file = 'storycore-assistant') {
  const { raw } = loadRawConfig({ configDir: CONFIG_DIR, file: resolve(DEPLOYMENTS, `${file}.yaml`), env: {} });
  const config = validateConfig(deepMerge(raw, overrides), fixtureCatalogs);
  return planKernel(config, fixtureCatalogs, { contractsDir: CONTRACTS_DIR, version: '0' });
}

function problems(fn: () => unknown): string[] {
  try { fn(); } catch (e) { if (e instanceof BootError || e instanceof ConfigError) return e.problems; throw e; }
  assert.unreachable('expected a BootError');
  return [];
}

s('the facade replaces identity.login with no collision; without the exclude, the boot names both sides', () => {
  const ok = plan({});
  const login = ok.routes.filter((r) => r.path === '/api/v1/auth/login');
  assert.equal(login.map((r) => r.operationId), ['storyauth.login']);
  assert.ok(ok.routes.some((r) => r.operationId === 'identity.register'), 'identity keeps its other routes');
  const clash = problems(() => plan({ plugins: { identity: { operations: { exclude: [] } } } }));
  assert.ok(
    clash.some((p) => p === 'path /api/v1/auth/login: claimed by plugins identity and storyauth'),
    clash.join('\n'),
  );
});

s('operations.exclude names only operations of that plugin', () => {
  const bad = problems(() =>
    plan({ plugins: { identity: { operations: { exclude: ['identity.login', 'notes.list'] } } } }),
  );
  assert.ok(
    bad.some((p) => p === 'plugins.identity.operations.exclude: notes.list is not an operation of plugin identity'),
    bad.join('\n'),
  );
});

s('routes: false keeps the plugin (services, handlers) and serves none of its HTTP; mount moves the routes', () => {
  const p = plan({ plugins: { notes: { routes: false }, probe: { mount: '/lab' } } });
  assert.ok(p.plugins.some((x) => x.name === 'notes'), 'notes still starts');
  assert.not.ok(p.routes.some((r) => r.plugin === 'notes'), 'no notes route');
  const probe = p.routes.filter((r) => r.plugin === 'probe').map((r) => r.path);
  assert.ok(probe.length && probe.every((path) => path.startsWith('/lab/')), probe.join());
  assert.ok(p.routes.some((r) => r.path === '/api/v1/users/me'), 'the others stay under basePath');
});

s('route control keys are validated; the plugin never sees them', () => {
  const bad = problems(() => plan({ plugins: { notes: { routes: 'no', mount: 'lab' } } }));
  assert.ok(bad.some((p) => p.startsWith('plugins.notes.routes: must be boolean')), bad.join('\n'));
  assert.ok(bad.some((p) => p.startsWith('plugins.notes.mount:')), bad.join('\n'));
});

s('a booted deployment serves the moved routes and 404s the turned-off ones', async () => {
  const k = await startDeployment('ilm-red', { plugins: { notes: { routes: false }, probe: { mount: '/lab' } } });
  try {
    assert.is((await k.request('GET', '/v1/notes')).status, 404);
    assert.is((await k.request('GET', '/lab/projects/x')).status, 200);
    assert.is((await k.request('GET', '/v1/projects/x')).status, 404);
    const doc = (await k.request('GET', '/openapi.json')).body;
    assert.ok(doc.paths['/lab/projects/{projectId}'] && !doc.paths['/v1/notes']);
  } finally {
    await k.stop();
  }
});

s.run();

const seeds = suite('seed deployment files under config/ validate and plan with the real catalogs');
seeds('config/ilm-red.yaml, storycore-studio.yaml and tool-hub.yaml', () => {
  const expected: Record<string, string> = {
    'ilm-red': 'notes.list', 'storycore-studio': 'notes.list', 'tool-hub': 'tools.invoke',
  };
  for (const [name, operationId] of Object.entries(expected)) {
    const config = loadConfig({ file: resolve(CONFIG_DIR, `${name}.yaml`), env: {} });
    assert.is(config.name, name);
    const planned = planDeployment(config);
    assert.ok(planned.routes.some((r) => r.operationId === operationId), name);
  }
});
seeds.run();
