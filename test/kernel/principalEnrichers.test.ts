import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { startTestKernel, assertError } from '../kit/index.ts';
import { AppError, definePlugin } from '../../kernel/index.ts';

const seen: string[] = [];
const refused = new Set<string>();
// A plugin that serves nothing and only adjusts principals: the hook billing uses for the plan's tier.
const enricher = definePlugin({
  name: 'tierprobe',
  version: '1.0.0',
  contract: false,
  principalEnrichers: [() => (principal) => {
    seen.push(principal.id);
    if (refused.has(principal.id)) throw new AppError(402, 'PROBE_REFUSED', 'refused by the enricher');
    principal.tier = 'enterprise';
  }],
});

const s = suite('kernel: principal enrichers run after authentication, before rate limits');
s('an enricher sets the tier the rate limiter counts at, and may refuse the request', async () => {
  const k = await startTestKernel({
    plugins: [enricher],
    config: {
      plugins: { billing: { enabled: false }, metering: { enabled: false }, payments: { enabled: false },
        ai: { enabled: false }, aiapi: { enabled: false } },
      rateLimit: { enabled: true, tiers: { free: 50, premium: 500, enterprise: 5000 } },
    },
  });
  try {
    const u = await k.asUser();
    const me = await u.get('/v1/users/me');
    assert.is(me.status, 200, me.text);
    assert.is(me.headers.get('x-ratelimit-limit'), '5000');
    assert.ok(seen.includes(u.id));
    refused.add(u.id);
    assertError(await u.get('/v1/users/me'), 402, 'PROBE_REFUSED');
  } finally {
    await k.stop();
  }
});
s.run();
