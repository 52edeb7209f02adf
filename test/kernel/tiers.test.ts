import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ConfigError } from '../../kernel/config/problems.ts';
import { validateConfig } from '../../kernel/config/validate.ts';
import { loadConfig } from '../../scripts/kernel.ts';
import { catalogs } from '../../scripts/catalog.ts';

const s = suite('config: rate-limit tier names belong to the deployment, not the kernel');

function problems(fn: () => unknown): string[] {
  try { fn(); } catch (e) { if (e instanceof ConfigError) return e.problems; throw e; }
  assert.unreachable('expected a ConfigError');
  return [];
}

s('the kernel schema alone names one neutral tier', () => {
  const config = validateConfig({}, catalogs);
  assert.equal(config.rateLimit.tiers, { default: 60 });
  assert.is(config.rateLimit.defaultTier, 'default');
});

s('config/default.yaml names the tiers (free, premium, enterprise) and the default one', () => {
  const config = loadConfig({ env: {} });
  assert.equal(config.rateLimit.tiers, { free: 60, premium: 300, enterprise: 1000 });
  assert.is(config.rateLimit.defaultTier, 'free');
});

s('a defaultTier that names no tier is a config error, unless rate limiting is off', () => {
  const found = problems(() => loadConfig({ env: {}, overrides: { rateLimit: { defaultTier: 'gold' } } }));
  assert.ok(
    found.some((p) => p.startsWith('rateLimit.defaultTier: "gold" is not one of rateLimit.tiers')),
    found.join('\n'),
  );
  const off = loadConfig({ env: {}, overrides: { rateLimit: { enabled: false, defaultTier: 'gold' } } });
  assert.is(off.rateLimit.defaultTier, 'gold');
  const named = loadConfig({ env: {}, overrides: { rateLimit: { defaultTier: 'gold', tiers: { gold: 5 } } } });
  assert.is(named.rateLimit.tiers.gold, 5);
});

s.run();
