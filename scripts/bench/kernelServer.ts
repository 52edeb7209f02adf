/**
 * The kernel side: the real boot path (`Kernel.create`) with the repo's catalogs plus the
 * bench plugin, the repo's config/ defaults and a temp contracts dir holding the real
 * common.yaml and system.yaml next to the suite's contracts. Per suite:
 *   basic     the system and bench plugins, no database.
 *   identity  the system and identity plugins on SQLite in a temp file (migrate: auto).
 * Every other catalog plugin (notes, oauth, and whatever is added later) is disabled.
 *
 * Rate limiting is on (the memory limiter, every tier 1e9 requests a minute: never reached;
 * /health is exempt by its contract); BENCH_RATE_LIMIT=off turns it off. The logger is the
 * kernel's own (createLogger's name, level and redact options) written to /dev/null;
 * BENCH_KERNEL_LOGGER=plain gives the kernel bare's plain pino logger instead.
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
import {
  BENCH_CONTRACT,
  devNullLogger,
  kernelLogger,
  RATE_LIMIT_ON,
  RATE_LIMIT_PER_WINDOW,
  RATE_LIMIT_TIER,
  RATE_LIMIT_WINDOW_MS,
  type ReadyMessage,
  type Suite,
} from './shared.ts';

export const benchCatalogs: Catalogs = {
  adapters: repoCatalogs.adapters,
  plugins: { ...repoCatalogs.plugins, bench: benchPlugin },
};

const SUITE_PLUGINS: Record<Suite, string[]> = { basic: ['bench', 'system'], identity: ['identity', 'system'] };

/** default.yaml + these overrides; the environment is ignored so KERNEL_* in the shell cannot skew a run. */
function overrides(suite: Suite, dbDir: string | undefined): Record<string, unknown> {
  const wanted = SUITE_PLUGINS[suite];
  const o: Record<string, unknown> = {
    server: { host: '127.0.0.1', port: 0 },
    plugins: {
      ...Object.fromEntries(
        Object.keys(benchCatalogs.plugins)
          .filter((name) => !wanted.includes(name))
          .map((name) => [name, { enabled: false }]),
      ),
      ...Object.fromEntries(wanted.map((name) => [name, {}])),
    },
    log: { level: 'info', requests: true },
  };
  if (dbDir) o.database = { driver: 'sqlite', url: `file:${join(dbDir, 'bench.db')}`, migrate: 'auto' };
  if (RATE_LIMIT === 'off') o.rateLimit = { enabled: false };
  if (RATE_LIMIT === 'on') {
    // Every built-in tier (signed-in users carry theirs in the token) gets the never-reached limit.
    const tiers = Object.fromEntries(
      ['free', 'premium', 'enterprise', RATE_LIMIT_TIER].map((t) => [t, RATE_LIMIT_PER_WINDOW]),
    );
    o.rateLimit = { enabled: true, windowMs: RATE_LIMIT_WINDOW_MS, defaultTier: RATE_LIMIT_TIER, tiers };
  }
  return o;
}

export const RATE_LIMIT: 'off' | 'on' | 'absent' = !(kernelConfigSchema.properties as Record<string, unknown>)
  ?.rateLimit
  ? 'absent'
  : RATE_LIMIT_ON
    ? 'on'
    : 'off';

export async function startKernel(
  suite: Suite,
): Promise<{ ready: Omit<ReadyMessage, 'kind' | 'pid'>; close(): Promise<void> }> {
  const dbDir = suite === 'identity' ? mkdtempSync(join(tmpdir(), 'kernel-bench-db-')) : undefined;
  const removeDb = () => {
    if (dbDir) rmSync(dbDir, { recursive: true, force: true });
  };
  const { raw, problems } = loadRawConfig({ configDir: CONFIG_DIR, env: {}, overrides: overrides(suite, dbDir) });
  const config = validateConfig(raw, benchCatalogs, problems);
  const contractsDir = mkdtempSync(join(tmpdir(), 'kernel-bench-contracts-'));
  const notes: string[] = [];
  let kernel: Kernel;
  try {
    for (const file of ['common.yaml', 'system.yaml', ...(suite === 'identity' ? ['identity.yaml'] : [])])
      copyFileSync(resolve(CONTRACTS_DIR, file), join(contractsDir, file));
    if (suite === 'basic') copyFileSync(BENCH_CONTRACT, join(contractsDir, 'bench.yaml'));
    let logger;
    if (process.env.BENCH_KERNEL_LOGGER === 'plain') {
      logger = devNullLogger();
      notes.push("logger: pino({ level: 'info' }) to /dev/null, the same as bare (BENCH_KERNEL_LOGGER=plain)");
    } else {
      const own = kernelLogger(config.name, config.log.level);
      logger = own.logger;
      notes.push(
        `logger: the kernel's createLogger options (name ${JSON.stringify(config.name)}, level ${config.log.level}, redact ${own.redact.paths.length} explicit paths, censor ${JSON.stringify(own.redact.censor)}) to /dev/null`,
      );
    }
    // Contracts are read while planning, inside create(); the dir is not needed afterwards.
    kernel = await Kernel.create({ config, catalogs: benchCatalogs, contractsDir, version: VERSION, logger });
  } catch (e) {
    removeDb();
    throw e;
  } finally {
    rmSync(contractsDir, { recursive: true, force: true });
  }
  const running = kernel.plan.plugins
    .map((p) => p.name)
    .sort()
    .join(',');
  const wantDb = suite === 'identity';
  if (running !== SUITE_PLUGINS[suite].join(',') || Boolean(kernel.orm) !== wantDb) {
    await kernel.stop();
    removeDb();
    throw new Error(
      `the ${suite} bench kernel must run only the ${SUITE_PLUGINS[suite].join(' and ')} plugins ${wantDb ? 'with' : 'without'} a database (runs: ${running}${kernel.orm ? ', with a database' : ''})`,
    );
  }
  notes.push(
    `rate limit: ${RATE_LIMIT === 'on' ? `on (${config.adapters.rateLimiter?.use ?? '?'} limiter, every tier ${RATE_LIMIT_PER_WINDOW} per ${RATE_LIMIT_WINDOW_MS / 1000} s; /health exempt by its contract)` : RATE_LIMIT === 'off' ? 'off (BENCH_RATE_LIMIT=off)' : 'absent from this kernel'}`,
  );
  if (wantDb)
    notes.push(`database: ${config.database.driver} ${config.database.url}, migrate ${config.database.migrate}`);
  const address = await kernel.listen(0, '127.0.0.1');
  const route = (id: string) => {
    const r = kernel.plan.routes.find((x) => x.operationId === id);
    if (!r) throw new Error(`kernel serves no ${id}`);
    return r.path;
  };
  return {
    ready:
      suite === 'basic'
        ? { suite, port: address.port, healthPath: route('system.health'), postPath: route('bench.createItem'), notes }
        : {
            suite,
            port: address.port,
            healthPath: route('system.health'),
            mePath: route('identity.me'),
            loginPath: route('identity.login'),
            registerPath: route('identity.register'),
            notes,
          },
    close: async () => {
      try {
        await kernel.stop();
      } finally {
        removeDb();
      }
    },
  };
}
