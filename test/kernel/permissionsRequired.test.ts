import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { stringify } from 'yaml';
import { planKernel } from '../../kernel/plan.ts';
import { validateConfig, type Catalogs } from '../../kernel/config/validate.ts';
import { BootError } from '../../kernel/config/problems.ts';
import { definePlugin } from '../../kernel/index.ts';
import { catalogs as realCatalogs } from '../../scripts/catalog.ts';
import { CONTRACTS_DIR } from '../../scripts/paths.ts';
import { loadConfig, planDeployment } from '../../scripts/kernel.ts';

const s = suite('kernel: an operation with security must declare x-permissions');

function plan(operation: Record<string, unknown>, topLevelSecurity?: unknown) {
  const dir = mkdtempSync(join(tmpdir(), 'contracts-'));
  copyFileSync(resolve(CONTRACTS_DIR, 'common.yaml'), join(dir, 'common.yaml'));
  const doc: Record<string, unknown> = {
    openapi: '3.1.0', info: { title: 't', version: '1' },
    paths: { '/things': { get: { operationId: 'p.list', responses: { '200': { description: 'ok' } }, ...operation } } },
  };
  if (topLevelSecurity) doc.security = topLevelSecurity;
  writeFileSync(join(dir, 'p.yaml'), stringify(doc));
  const plugin = definePlugin({
    name: 'p',
    version: '1',
    handlers: { 'p.list': () => ({}) },
    authSchemes: { bearerAuth: () => async () => undefined },
  });
  const cat: Catalogs = { adapters: realCatalogs.adapters, plugins: { p: plugin } };
  const config = validateConfig({ adapters: {}, plugins: { p: {} } }, cat);
  return planKernel(config, cat, { contractsDir: dir, version: '0' });
}

function problems(fn: () => unknown): string[] {
  try { fn(); } catch (e) { if (e instanceof BootError) return e.problems; throw e; }
  return [];
}

s('own security without x-permissions fails the boot naming the operationId and the file', () => {
  const found = problems(() => plan({ security: [{ bearerAuth: [] }] }));
  assert.is(found.length, 1, JSON.stringify(found));
  assert.match(found[0], /^p\.list \(GET \/v1\/things, contracts\/p\.yaml\): has security but no x-permissions/);
  assert.match(found[0], /x-permissions: \[\] for any signed-in principal/);
});

s('inherited top-level security counts too', () => {
  const found = problems(() => plan({}, [{ bearerAuth: [] }]));
  assert.match(found.join('\n'), /p\.list .*no x-permissions/);
});

s('x-permissions: [] (any signed-in principal), a list, or no security at all boot', () => {
  assert.equal(problems(() => plan({ security: [{ bearerAuth: [] }], 'x-permissions': [] })), []);
  assert.equal(problems(() => plan({ security: [{ bearerAuth: [] }], 'x-permissions': ['things:read'] })), []);
  assert.equal(problems(() => plan({ 'x-permissions': [] }, [{ bearerAuth: [] }])), []);
  assert.equal(problems(() => plan({})), []);
  assert.equal(problems(() => plan({ security: [] }, [{ bearerAuth: [] }])), [], 'security: [] makes it public');
  assert.match(problems(() => plan({ security: [{ bearerAuth: [] }], 'x-permissions': 'things:read' })).join('\n'), /must be a list/);
});

s('every shipped contract operation with security declares x-permissions', () => {
  assert.ok(realCatalogs.plugins.identity);
  planDeployment(loadConfig({ env: {} }));
});

s.run();
