import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { stringify } from 'yaml';
import { planKernel, renderPlan } from '../../kernel/plan.ts';
import { validateConfig, type Catalogs } from '../../kernel/config/validate.ts';
import { BootError } from '../../kernel/config/problems.ts';
import { definePlugin, type PluginDefinition } from '../../kernel/index.ts';
import { catalogs as realCatalogs } from '../../scripts/catalog.ts';
import { CONTRACTS_DIR } from '../../scripts/paths.ts';

const s = suite('kernel: plugin graph and contract wiring fail the boot naming the culprits');

function contract(paths: Record<string, Record<string, string>>) {
  const doc: any = { openapi: '3.1.0', info: { title: 't', version: '1' }, paths: {} };
  for (const [path, ops] of Object.entries(paths)) {
    doc.paths[path] = {};
    for (const [method, id] of Object.entries(ops))
      doc.paths[path][method] = { operationId: id, responses: { '200': { description: 'ok' } } };
  }
  return doc;
}

function plan(plugins: PluginDefinition[], contracts: Record<string, unknown>) {
  const dir = mkdtempSync(join(tmpdir(), 'contracts-'));
  copyFileSync(resolve(CONTRACTS_DIR, 'common.yaml'), join(dir, 'common.yaml'));
  for (const [name, doc] of Object.entries(contracts)) writeFileSync(join(dir, `${name}.yaml`), stringify(doc));
  const catalogs: Catalogs = {
    adapters: realCatalogs.adapters,
    plugins: Object.fromEntries(plugins.map((p) => [p.name, p])),
  };
  const config = validateConfig(
    { adapters: { cache: { use: 'memory' } }, plugins: Object.fromEntries(plugins.map((p) => [p.name, {}])) },
    catalogs,
  );
  return planKernel(config, catalogs, { contractsDir: dir, version: '0' });
}

function problems(fn: () => unknown): string[] {
  try { fn(); } catch (e) { if (e instanceof BootError) return e.problems; throw e; }
  assert.unreachable('expected a BootError');
  return [];
}

const noop = () => ({});

s('plugins start in dependency order', () => {
  const p = plan([
    definePlugin({ name: 'c', version: '1', requires: ['b'], contract: false }),
    definePlugin({ name: 'a', version: '1', contract: false }),
    definePlugin({ name: 'b', version: '1', requires: ['a'], contract: false }),
  ], {});
  assert.equal(p.plugins.map((x) => x.name), ['a', 'b', 'c']);
});

s('a missing dependency names both plugins', () => {
  const out = problems(() =>
    plan([definePlugin({ name: 'a', version: '1', requires: ['ghost'], contract: false })], {}),
  );
  assert.match(out[0], /plugin a requires plugin ghost, which does not exist/);
});

s('a cycle is printed as a path', () => {
  const out = problems(() => plan([
    definePlugin({ name: 'a', version: '1', requires: ['b'], contract: false }),
    definePlugin({ name: 'b', version: '1', requires: ['a'], contract: false }),
  ], {}));
  assert.match(out[0], /cycle: (a -> b -> a|b -> a -> b)/);
});

s('an operation with no handler, and a handler with no operation', () => {
  const out = problems(() =>
    plan([definePlugin({ name: 'a', version: '1', handlers: { 'a.extra': noop } })], {
      a: contract({ '/x': { get: 'a.list' } }),
    }),
  );
  assert.ok(out.some((p) => /operationId a\.list .* has no handler in plugin a/.test(p)), out.join('\n'));
  assert.ok(out.some((p) => /handler for a\.extra, which no contract operation declares/.test(p)), out.join('\n'));
});

s('two plugins claiming one operationId or one path', () => {
  const sameId = problems(() => plan([
    definePlugin({ name: 'a', version: '1', handlers: { 'a.get': noop } }),
    definePlugin({ name: 'b', version: '1', handlers: {} }),
  ], { a: contract({ '/a': { get: 'a.get' } }), b: contract({ '/b': { get: 'a.get' } }) }));
  assert.ok(sameId.some((p) => /operationId a\.get: claimed by plugins a and b/.test(p)), sameId.join('\n'));

  const samePath = problems(() => plan([
    definePlugin({ name: 'a', version: '1', handlers: { 'a.get': noop } }),
    definePlugin({ name: 'b', version: '1', handlers: { 'b.get': noop } }),
  ], { a: contract({ '/things/{id}': { get: 'a.get' } }), b: contract({ '/things/{thingId}': { get: 'b.get' } }) }));
  assert.ok(samePath.some((p) => /path \/v1\/things\/\{thingId\}: claimed by plugins a and b/.test(p)), samePath.join('\n'));
});

s('an operationId outside the plugin namespace is refused', () => {
  const out = problems(() =>
    plan([definePlugin({ name: 'a', version: '1', handlers: { 'b.x': noop } })], {
      a: contract({ '/x': { get: 'b.x' } }),
    }),
  );
  assert.ok(out.some((p) => /must start with "a\."/.test(p)), out.join('\n'));
});

s('the real deployment plans cleanly', () => {
  const config = validateConfig(
    {
      adapters: { cache: { use: 'memory' }, eventBus: { use: 'memory' } },
      plugins: { system: {}, identity: {}, notes: {} },
    },
    realCatalogs,
  );
  const p = planKernel(config, realCatalogs, { contractsDir: CONTRACTS_DIR, version: '0' });
  assert.ok(p.routes.some((r) => r.operationId === 'notes.create' && r.path === '/v1/notes' && r.method === 'POST'));
  assert.ok(p.routes.some((r) => r.operationId === 'system.health' && r.path === '/health'));
});

s(
  "the printed plan folds a plugin's many lines, lists them with verbose, and shows events, subscribers and permissions",
  () => {
    const paths: Record<string, Record<string, string>> = {};
    for (let i = 0; i < 12; i++) paths[`/big/${i}`] = { get: `big.op${i}` };
    const big = definePlugin({
      name: 'big',
      version: '1',
      handlers: Object.fromEntries(Object.keys(paths).map((_, i) => [`big.op${i}`, noop])),
      events: [{ name: 'big.thing.done', schema: {} }],
      permissions: [{ name: 'big:read', description: 'read', roles: ['user'] }],
    });
    const small = definePlugin({
      name: 'small',
      version: '1',
      handlers: { 'small.one': noop },
      migrations: [{ name: '0001', async up() {}, async down() {} }],
      subscribers: [{ event: 'big.thing.done', name: 'count', idempotent: true, async handle() {} }],
    });
    const p = plan([big, small], { big: contract(paths), small: contract({ '/small': { get: 'small.one' } }) });
    const folded = renderPlan(p, { name: 'x', database: 'sqlite file:x.db' });
    assert.match(folded, 'database: sqlite file:x.db');
    assert.match(folded, '  big: 12 routes (--verbose lists them)');
    assert.not.match(folded, 'big.op3');
    assert.match(folded, /small:\n\s+GET\s+\/v1\/small\s+small\.one/);
    assert.match(folded, /events \(declared\):\n {2}big:\n {4}big\.thing\.done/);
    assert.match(folded, /small\.count\s+<- big\.thing\.done \(idempotent\)/);
    assert.match(folded, /big:read\s+roles: user/);
    assert.not.match(folded, /^jobs:/m, 'no plugin declares jobs');
    const verbose = renderPlan(p, { name: 'x', database: 'sqlite file:x.db', verbose: true });
    for (let i = 0; i < 12; i++) assert.match(verbose, new RegExp(`GET\\s+/v1/big/${i}\\s+big\\.op${i}\\n`));
    const bare = renderPlan(plan([definePlugin({ name: 'a', version: '1', contract: false })], {}), {
      name: 'x',
      database: 'none',
    });
    assert.not.match(bare, /subscribers:|permissions:|events/, 'an empty section is left out');
  },
);

s.run();
