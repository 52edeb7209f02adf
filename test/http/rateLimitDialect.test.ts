import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ManualClock } from '../../kernel/ports/clock.ts';
import { loadConfig } from '../../scripts/kernel.ts';
import { compileTemplate } from '../../kernel/http/rateLimitHeaders.ts';
import { startKernel, type TestKernel } from '../helpers/kernel.ts';
import { signedIn } from '../helpers/signedIn.ts';

const s = suite('rate limit dialect: algorithm, headers, warning template, 429 details');

const seed002 = {
  rateLimit: {
    enabled: true, algorithm: 'sliding-window', windowMs: 60_000, tiers: { free: 100, premium: 100, enterprise: 100 },
    headers: ['x-ratelimit'],
  },
};

async function withKernel(
  overrides: Record<string, unknown>,
  clock: ManualClock,
  run: (k: TestKernel) => Promise<void>,
) {
  const k = await signedIn(await startKernel(overrides, { clock }));
  try {
    await run(k);
  } finally {
    await k.stop();
  }
}

s(
  'seed 002: 100 per sliding 60 s: the 101st is refused, and exactly one slot frees as the window slides past each request',
  async () => {
    const clock = new ManualClock(Date.UTC(2026, 5, 1));
    await withKernel(seed002, clock, async (k) => {
      // One request every 100 ms: t = 0 ... 9.9 s.
      const warnings: (string | null)[] = [];
      for (let i = 0; i < 100; i++) {
        const res = await k.request('GET', '/v1/notes');
        assert.is(res.status, 200, `request ${i + 1}`);
        assert.is(res.headers.get('x-ratelimit-remaining'), String(99 - i));
        warnings.push(res.headers.get('x-ratelimit-warning'));
        clock.advance(100);
      }
      assert.is(warnings[88], null, '89 used: no warning yet');
      assert.is(warnings[89], 'Approaching rate limit (90/100 requests used)');
      assert.is(warnings[99], 'Approaching rate limit (100/100 requests used)');

      clock.set(Date.UTC(2026, 5, 1) + 59_999); // 1 ms before the first request leaves the window
      const refused = await k.request('GET', '/v1/notes');
      assert.is(refused.status, 429);
      assert.is(refused.headers.get('retry-after'), '1');
      assert.equal(refused.body.error.details, { limit: 100, window_seconds: 60, retry_after: 1 });
      assert.is(refused.headers.get('x-ratelimit-limit'), '100');
      assert.is(refused.headers.get('x-ratelimit-remaining'), '0');
      assert.is(refused.headers.get('ratelimit'), null, 'IETF headers are not configured');
      assert.is(refused.headers.get('ratelimit-policy'), null);
      assert.is(refused.headers.get('x-ratelimit-retryafter'), null);

      clock.advance(1); // t = 60.000 s: the t = 0 request leaves
      assert.is((await k.request('GET', '/v1/notes')).status, 200, 'one slot freed');
      assert.is((await k.request('GET', '/v1/notes')).status, 429, 'only one');
      clock.advance(99); // t = 60.099 s: the t = 0.1 s request is still in the window
      assert.is((await k.request('GET', '/v1/notes')).status, 429);
      clock.advance(1); // t = 60.100 s
      assert.is(
        (await k.request('GET', '/v1/notes')).status,
        200,
        'the next slot frees exactly 60 s after its request',
      );
      assert.is((await k.request('GET', '/v1/notes')).status, 429);
    });
  },
);

s('seed 003: X-RateLimit-* plus X-RateLimit-RetryAfter on a 429 (gcra)', async () => {
  const clock = new ManualClock(Date.UTC(2026, 5, 1));
  const config = {
    rateLimit: {
      enabled: true,
      tiers: { free: 2, premium: 2, enterprise: 2 },
      headers: ['x-ratelimit', 'x-ratelimit-retryafter'],
    },
  };
  await withKernel(config, clock, async (k) => {
    const ok = await k.request('GET', '/v1/notes');
    assert.is(ok.headers.get('x-ratelimit-limit'), '2');
    assert.is(ok.headers.get('x-ratelimit-retryafter'), null, 'only on refusals');
    await k.request('GET', '/v1/notes');
    const refused = await k.request('GET', '/v1/notes');
    assert.is(refused.status, 429);
    assert.is(refused.headers.get('x-ratelimit-retryafter'), refused.headers.get('retry-after'));
    assert.is(refused.headers.get('retry-after'), '30', 'GCRA: one request every 30 s');
    assert.is(refused.headers.get('ratelimit'), null);
  });
});

s('IETF headers only, a custom warning header and template, renamed 429 details', async () => {
  const clock = new ManualClock(Date.UTC(2026, 5, 1));
  const config = {
    rateLimit: {
      enabled: true,
      tiers: { free: 5, premium: 5, enterprise: 5 },
      headers: ['ietf'],
      warning: {
        threshold: 0.8,
        header: 'X-Usage-Warning',
        message: '{remaining} left of {limit} per {window_seconds} s ({unknown})',
      },
      details: { limit: 'max', windowSeconds: 'period', retryAfter: 'wait_seconds' },
    },
  };
  await withKernel(config, clock, async (k) => {
    const first = await k.request('GET', '/v1/notes');
    assert.is(first.headers.get('x-ratelimit-limit'), null, 'X-RateLimit-* not configured');
    assert.is(first.headers.get('ratelimit-policy'), '"free";q=5;w=60');
    assert.is(first.headers.get('ratelimit'), '"free";r=4;t=12');
    assert.is(first.headers.get('x-usage-warning'), null);
    for (let i = 0; i < 3; i++) await k.request('GET', '/v1/notes');
    const fourth = (await k.request('GET', '/v1/notes')).headers.get('x-usage-warning');
    assert.is(fourth, '0 left of 5 per 60 s ({unknown})');
    const refused = await k.request('GET', '/v1/notes');
    assert.is(refused.status, 429);
    assert.equal(refused.body.error.details, { max: 5, period: 60, wait_seconds: 12 });
    assert.is(refused.headers.get('x-usage-warning'), null, 'no warning on a refusal');
  });
});

s('config: defaults keep today\'s behaviour; unknown algorithm or header kind is a config error', () => {
  const cfg = loadConfig({ env: {}, overrides: {} });
  assert.is(cfg.rateLimit.algorithm, 'gcra');
  assert.equal(cfg.rateLimit.headers, ['x-ratelimit', 'ietf']);
  assert.is(cfg.rateLimit.warning.message, 'Approaching rate limit ({used}/{limit} requests used)');
  assert.equal(cfg.rateLimit.details, { limit: 'limit', windowSeconds: 'window_seconds', retryAfter: 'retry_after' });
  for (const bad of [
    { algorithm: 'fixed-window' },
    { headers: ['x-ratelimit', 'draft-7'] },
    { details: { retryAfter: '' } },
  ]) {
    try {
      loadConfig({ env: {}, overrides: { rateLimit: bad } });
      assert.unreachable(`${JSON.stringify(bad)} should be refused`);
    } catch (err) {
      assert.match(String((err as Error).message ?? err), /rateLimit/);
    }
  }
});

s('compileTemplate fills known placeholders only', () => {
  const t = compileTemplate('{used}/{limit} {nope} {} {used}');
  assert.is(t({ used: 3, limit: 10 }), '3/10 {nope} {} 3');
});

s.run();
