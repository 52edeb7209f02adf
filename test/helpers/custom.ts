import { mkdtempSync, copyFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import pino, { type Logger } from 'pino';
import { stringify } from 'yaml';
import { Kernel } from '../../kernel/boot.ts';
import { loadRawConfig } from '../../kernel/config/load.ts';
import { validateConfig, type Catalogs } from '../../kernel/config/validate.ts';
import { deepMerge } from '../../kernel/config/merge.ts';
import type { PluginDefinition } from '../../kernel/index.ts';
import type { AdapterDefinition } from '../../kernel/ports/adapter.ts';
import type { Clock } from '../../kernel/ports/clock.ts';
import { catalogs } from '../../scripts/catalog.ts';
import { CONFIG_DIR, CONTRACTS_DIR } from '../../scripts/paths.ts';
import { tempSqliteUrl } from './kernel.ts';

/**
 * Boots a kernel with extra test plugins (and their contracts, given as objects) and extra
 * adapters, on top of the real catalogs. Only `system` and the given plugins are enabled.
 */
export async function bootCustom(options: {
  plugins?: PluginDefinition[];
  contracts?: Record<string, unknown>;
  adapters?: Record<string, Record<string, AdapterDefinition>>;
  config?: Record<string, unknown>;
  clock?: Clock;
  logger?: Logger;
}): Promise<Kernel> {
  const dir = mkdtempSync(join(tmpdir(), 'contracts-'));
  for (const f of ['common.yaml', 'system.yaml']) copyFileSync(resolve(CONTRACTS_DIR, f), join(dir, f));
  for (const [name, doc] of Object.entries(options.contracts ?? {}))
    writeFileSync(join(dir, `${name}.yaml`), stringify(doc));
  const all: Catalogs = {
    adapters: deepMerge(catalogs.adapters, options.adapters ?? {}),
    plugins: {
      system: catalogs.plugins.system,
      ...Object.fromEntries((options.plugins ?? []).map((p) => [p.name, p])),
    },
  };
  const { raw, problems } = loadRawConfig({ configDir: CONFIG_DIR, env: {} });
  const plugins: Record<string, unknown> = { system: {} };
  for (const p of options.plugins ?? []) plugins[p.name] = {};
  const base = {
    ...raw,
    plugins,
    server: { ...(raw.server as object), port: 0, host: '127.0.0.1', validateResponses: true },
    database: { ...(raw.database as object), url: tempSqliteUrl() },
    log: { level: 'silent' },
  };
  const config = validateConfig(deepMerge(base, options.config ?? {}), all, problems);
  return Kernel.create({
    config,
    catalogs: all,
    contractsDir: dir,
    version: '0',
    logger: options.logger ?? pino({ level: 'silent' }),
    clock: options.clock,
  });
}
