import { rmSync } from 'node:fs';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { loadRawConfig } from '../../kernel/config/load.ts';
import { validateConfig } from '../../kernel/config/validate.ts';
import { BootError } from '../../kernel/config/problems.ts';
import { deepMerge } from '../../kernel/config/merge.ts';
import { createLogger } from '../../kernel/boot.ts';
import { catalogs } from '../../scripts/catalog.ts';
import { CONFIG_DIR } from '../../scripts/paths.ts';
import { createKernel } from '../../scripts/kernel.ts';
import { capturingDestination, tempSqliteUrl } from '../helpers/kernel.ts';

const s = suite('kernel: rate limiting is off only when the deployment says so, and the boot warns');

async function boot(options: { withLimiter: boolean; rateLimit?: Record<string, unknown> }) {
  const { raw } = loadRawConfig({ configDir: CONFIG_DIR, env: {} });
  const adapters = { ...(raw.adapters as Record<string, unknown>) };
  if (!options.withLimiter) delete adapters.rateLimiter;
  const merged = deepMerge(
    { ...raw, adapters },
    {
      server: { port: 0 },
      database: { url: tempSqliteUrl() },
      log: { level: 'info' },
      rateLimit: options.rateLimit ?? {},
    },
  );
  const config = validateConfig(merged, catalogs);
  const lines: string[] = [];
  const kernel = await createKernel(config, { logger: createLogger(config, capturingDestination(lines)) });
  await kernel.stop();
  rmSync(config.database.url.replace(/^file:/, ''), { force: true });
  return lines.map((l) => JSON.parse(l) as { level: number; msg: string });
}

s('no rate limiter and no explicit rateLimit.enabled: false fails the boot, saying what to do', async () => {
  try {
    await boot({ withLimiter: false });
    assert.unreachable('booted without a rate limiter');
  } catch (e) {
    assert.instance(e, BootError);
    assert.match((e as BootError).problems.join('\n'), /rateLimit\.enabled: true, but adapters\.rateLimiter is not configured.*rateLimit\.enabled: false/);
  }
});

s('rateLimit.enabled: false boots and warns at boot', async () => {
  for (const withLimiter of [false, true]) {
    const lines = await boot({ withLimiter, rateLimit: { enabled: false } });
    assert.ok(lines.some((l) => l.level === 40 && /rate limiting is off/.test(l.msg)), JSON.stringify(lines.map((l) => l.msg)));
  }
});

s('the default (memory limiter, enabled) boots without that warning', async () => {
  const lines = await boot({ withLimiter: true });
  assert.not.ok(lines.some((l) => /rate limiting is off/.test(l.msg)));
});

s.run();
