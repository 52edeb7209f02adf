import { rmSync } from 'node:fs';
import { resolve } from 'node:path';
import pino from 'pino';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import * as assert from 'uvu/assert';
import { Kernel } from '../../kernel/boot.ts';
import { loadRawConfig } from '../../kernel/config/load.ts';
import { validateConfig, type Catalogs } from '../../kernel/config/validate.ts';
import { deepMerge } from '../../kernel/config/merge.ts';
import type { Clock } from '../../kernel/ports/clock.ts';
import { catalogs } from '../../scripts/catalog.ts';
import { CONFIG_DIR, CONTRACTS_DIR, ROOT } from '../../scripts/paths.ts';
import facade from '../fixtures/facade/index.ts';
import probe from '../fixtures/probe/index.ts';
import { request, tempSqliteUrl, type TestKernel, type TestResponse } from './kernel.ts';

const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => Ajv2020;
export const DEPLOYMENTS = resolve(ROOT, 'test/fixtures/deployments');

/** The real catalogs plus the fixture plugins (the 002 login facade, the dialect probe). */
export const fixtureCatalogs: Catalogs = {
  adapters: catalogs.adapters,
  plugins: { ...catalogs.plugins, storyauth: facade, probe },
};

/** Boots `test/fixtures/deployments/<name>.yaml` over the default, on a random port, with response validation on. */
export async function startDeployment(
  name: string,
  overrides: Record<string, unknown> = {},
  extra: { clock?: Clock } = {},
): Promise<TestKernel> {
  const { raw, problems } = loadRawConfig({
    configDir: CONFIG_DIR,
    file: resolve(DEPLOYMENTS, `${name}.yaml`),
    env: {},
  });
  const base = {
    server: { port: 0, host: '127.0.0.1', validateResponses: true },
    database: { url: tempSqliteUrl() },
    log: { level: 'silent' },
    rateLimit: { enabled: false },
  };
  const config = validateConfig(deepMerge(deepMerge(raw, base), overrides), fixtureCatalogs, problems);
  const kernel = await Kernel.create({
    config,
    catalogs: fixtureCatalogs,
    contractsDir: CONTRACTS_DIR,
    version: '1.2.3',
    logger: pino({ level: 'silent' }),
    clock: extra.clock,
  }).catch((e) => {
    console.error('startDeployment failed:', e);
    throw e;
  });
  const { port } = await kernel.listen();
  const url = `http://127.0.0.1:${port}`;
  return {
    kernel,
    url,
    request: (method, path, options = {}) => request(url, method, path, options),
    async stop() {
      await kernel.stop();
      rmSync(config.database.url.replace(/^file:/, ''), { force: true });
    },
  };
}

/** Asserts that an error body validates against the served contract's `Error` schema (and the envelope's additions). */
export function assertServedError(served: any, res: TestResponse, status: number, code?: string): void {
  assert.is(res.status, status, `expected ${status}, got ${res.status}: ${res.text.slice(0, 300)}`);
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats(ajv);
  ajv.addSchema({ $id: 'served', components: served.components });
  const validate = ajv.compile({ $ref: 'served#/components/schemas/Error' });
  const { success, message, ...rest } = res.body ?? {};
  assert.ok(
    validate(rest),
    `error body breaks the served Error schema: ${JSON.stringify(validate.errors)} in ${res.text.slice(0, 300)}`,
  );
  if (success !== undefined || message !== undefined) {
    assert.is(success, false);
    assert.type(message, 'string');
  }
  if (code) assert.is(res.body.error.code, code);
  assert.not.match(res.text, /\bat .+:\d+:\d+\)/, 'no stack trace in the response');
}
