import type { Logger } from 'pino';
import { loadRawConfig } from '../kernel/config/load.ts';
import { validateConfig } from '../kernel/config/validate.ts';
import type { KernelConfig } from '../kernel/config/schema.ts';
import type { Kernel } from '../kernel/boot.ts';
import { planKernel } from '../kernel/plan.ts';
import type { Clock } from '../kernel/ports/clock.ts';
import { catalogs } from './catalog.ts';
import { CONFIG_DIR, CONTRACTS_DIR, VERSION } from './paths.ts';

export interface ConfigSource {
  file?: string;
  env?: NodeJS.ProcessEnv;
  overrides?: Record<string, unknown>;
}

/** default.yaml <- deployment file <- environment <- overrides, validated against every schema. */
export function loadConfig(source: ConfigSource = {}): KernelConfig {
  const { raw, problems } = loadRawConfig({
    configDir: CONFIG_DIR,
    file: source.file,
    env: source.env,
    overrides: source.overrides,
  });
  return validateConfig(raw, catalogs, problems);
}

export function planDeployment(config: KernelConfig) {
  return planKernel(config, catalogs, { contractsDir: CONTRACTS_DIR, version: VERSION });
}

/** Boots a kernel. The runtime is imported here, not at the top, so config errors print fast. */
export async function createKernel(
  config: KernelConfig,
  extra: { logger?: Logger; clock?: Clock; maintenance?: boolean; configFile?: string } = {},
): Promise<Kernel> {
  const { Kernel } = await import('../kernel/boot.ts');
  return Kernel.create({ config, catalogs, contractsDir: CONTRACTS_DIR, version: VERSION, ...extra });
}
