/**
 * The kernel side: the real boot path (`Kernel.create`) with the repo's catalogs plus the
 * bench plugin, the repo's config/ defaults (only the system and bench plugins enabled, so
 * no database; rate limiting off unless BENCH_RATE_LIMIT=on) and a temp contracts dir
 * holding the real common.yaml and system.yaml next to bench.yaml.
 */
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Kernel } from '../../kernel/boot.ts';
import { loadRawConfig } from '../../kernel/config/load.ts';
import { validateConfig, type Catalogs } from '../../kernel/config/validate.ts';
import { kernelConfigSchema } from '../../kernel/config/schema.ts';
import { catalogs as repoCatalogs } from '../catalog.ts';
import { CONFIG_DIR, CONTRACTS_DIR, VERSION } from '../paths.ts';
import benchPlugin from './benchPlugin.ts';
import { BENCH_CONTRACT, devNullLogger, type ReadyMessage } from './shared.ts';

export const benchCatalogs: Catalogs = {
  adapters: repoCatalogs.adapters,
  plugins: { ...repoCatalogs.plugins, bench: benchPlugin },
};

/**
 * default.yaml + these overrides; the environment is ignored so KERNEL_* in the shell cannot
 * skew a run. Only `system` and `bench` run: every other catalog plugin (notes, and whatever
 * is added later) is disabled, so no database is opened and no auth middleware is added.
 */
const OVERRIDES: Record<string, unknown> = {
  server: { host: '127.0.0.1', port: 0 },
  plugins: {
    ...Object.fromEntries(Object.keys(repoCatalogs.plugins).filter((name) => name !== 'system').map((name) => [name, { enabled: false }])),
    system: {},
    bench: {},
  },
  log: { level: 'info', requests: true },
};

/**
 * Rate limiting (on by default in the kernel: 60 requests a minute per IP) would answer the
 * benchmark with 429s, and bare has no limiter: off by default. BENCH_RATE_LIMIT=on keeps it
 * on with a limit no run reaches, to measure what the check costs per request.
 */
export const RATE_LIMIT: 'off' | 'on' | 'absent' = !(kernelConfigSchema.properties as Record<string, unknown>)?.rateLimit
  ? 'absent'
  : process.env.BENCH_RATE_LIMIT === 'on' ? 'on' : 'off';
if (RATE_LIMIT === 'off') OVERRIDES.rateLimit = { enabled: false };
if (RATE_LIMIT === 'on') OVERRIDES.rateLimit = { enabled: true, defaultTier: 'bench', tiers: { bench: 1_000_000_000 } };

export async function startKernel(): Promise<{ ready: Omit<ReadyMessage, 'kind' | 'pid'>; close(): Promise<void> }> {
  const { raw, problems } = loadRawConfig({ configDir: CONFIG_DIR, env: {}, overrides: OVERRIDES });
  const config = validateConfig(raw, benchCatalogs, problems);
  const contractsDir = mkdtempSync(join(tmpdir(), 'kernel-bench-contracts-'));
  let kernel: Kernel;
  try {
    for (const file of ['common.yaml', 'system.yaml']) copyFileSync(resolve(CONTRACTS_DIR, file), join(contractsDir, file));
    copyFileSync(BENCH_CONTRACT, join(contractsDir, 'bench.yaml'));
    // Contracts are read while planning, inside create(); the dir is not needed afterwards.
    // BENCH_KERNEL_LOGGER=default: the kernel's own logger (createLogger: name + redact paths), on stdout = /dev/null.
    const logger = process.env.BENCH_KERNEL_LOGGER === 'default' ? undefined : devNullLogger();
    kernel = await Kernel.create({ config, catalogs: benchCatalogs, contractsDir, version: VERSION, logger });
  } finally {
    rmSync(contractsDir, { recursive: true, force: true });
  }
  const running = kernel.plan.plugins.map((p) => p.name).sort().join(',');
  if (running !== 'bench,system' || kernel.orm) {
    await kernel.stop();
    throw new Error(`the bench kernel must run only the system and bench plugins without a database (runs: ${running}${kernel.orm ? ', with a database' : ''})`);
  }
  const address = await kernel.listen(0, '127.0.0.1');
  const route = (id: string) => {
    const r = kernel.plan.routes.find((x) => x.operationId === id);
    if (!r) throw new Error(`kernel serves no ${id}`);
    return r.path;
  };
  return {
    ready: { port: address.port, healthPath: route('system.health'), postPath: route('bench.createItem') },
    close: () => kernel.stop(),
  };
}
