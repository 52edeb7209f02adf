import { spawnSync } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { Redis } from 'ioredis';
import pino from 'pino';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ManualClock, systemClock, type Clock } from '../../kernel/ports/clock.ts';
import type { AdapterContext } from '../../kernel/ports/adapter.ts';
import type { RateLimitPolicy } from '../../kernel/ports/rateLimiter.ts';
import { isAppError } from '../../kernel/errors.ts';
import { emissionIntervalUs, gcra } from '../../adapters/rateLimiter/gcra.ts';
import memoryRateLimiter, { GcraStore } from '../../adapters/rateLimiter/memory.ts';
import { SlidingLogStore } from '../../adapters/rateLimiter/slidingLog.ts';
import redisRateLimiter from '../../adapters/rateLimiter/redis.ts';
import { serviceUrl, uniqueName } from '../helpers/services.ts';
import { assertGcraBound, assertSlidingBound, rateLimiterConformance, until } from './rateLimiter.suite.ts';
import { freePort, startRedis, listening, kill } from '../helpers/throwawayRedis.ts';

const context = (clock: Clock, logger = pino({ level: 'silent' })): AdapterContext => ({
  logger,
  clock,
  serviceName: 'kernel-test',
});

// ---------------------------------------------------------------- the algorithm

/** Deterministic PRNG (mulberry32): a failing seed can be replayed. */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const algo = suite('gcra');
const EPOCH_US = Date.UTC(2026, 0, 1) * 1000;

/*
 * Why the bound holds. Let allowed requests with costs c_k arrive at a <= t_1 <= ... <= t_n <= b.
 * Each allowed request sets TAT := max(TAT, t_k) + c_k*T, so after the last one
 * TAT >= a + T*sum(c_k). It was allowed, so TAT - t_n <= W = limit*T, hence
 * T*sum(c_k) <= t_n + W - a <= (b - a) + limit*T, i.e. sum(c_k) <= limit + floor((b - a)/T).
 * The bound is tight (next test), so in a window of length windowMs up to 2*limit - 1 pass.
 */
algo(
  'property: in any interval [a, b] at most limit + floor((b - a)/T) pass; refusals change nothing; retryAfter and remaining are exact',
  () => {
    for (let seed = 1; seed <= 300; seed++) {
      const rnd = random(seed);
      const limit = 1 + Math.floor(rnd() * 20);
      const windowMs = rnd() < 0.3 ? 1 + rnd() * 3000 : 1 + Math.floor(rnd() * 5000); // fractional windows too
      const policy: RateLimitPolicy = { limit, windowMs };
      const t = emissionIntervalUs(policy);
      let now = EPOCH_US + Math.floor(rnd() * 1e6);
      let tat: number | undefined;
      const passed: { at: number; cost: number }[] = [];
      for (let step = 0; step < 300; step++) {
        now += rnd() < 0.4 ? 0 : Math.floor(rnd() * 2 * t);
        const cost = rnd() < 0.7 ? 1 : Math.floor(rnd() * (limit + 1));
        const r = gcra(now, tat, policy, cost);
        const where = `seed ${seed}, step ${step}, ${limit}/${windowMs}ms, cost ${cost}`;
        if (r.allowed) {
          assert.is(r.retryAfterMs, 0, where);
          assert.ok(r.resetMs >= 0 && r.resetMs <= Math.ceil(windowMs) + 1, where);
          // remaining = the largest cost that would pass right now
          if (r.remaining > 0)
            assert.ok(
              gcra(now, r.newTat, policy, r.remaining).allowed,
              `${where}: remaining ${r.remaining} not available`,
            );
          if (r.remaining < limit)
            assert.not.ok(
              gcra(now, r.newTat, policy, r.remaining + 1).allowed,
              `${where}: more than remaining ${r.remaining} available`,
            );
          if (cost > 0) {
            tat = r.newTat;
            passed.push({ at: now, cost });
          }
        } else {
          assert.is(r.newTat, tat ?? now, `${where}: a refusal changed the TAT`);
          assert.is(r.remaining, 0, where);
          assert.ok(r.retryAfterMs > 0, where);
          // retryAfterMs is the first whole millisecond at which the same request passes
          assert.ok(
            gcra(now + r.retryAfterMs * 1000, tat, policy, cost).allowed,
            `${where}: still refused after retryAfterMs`,
          );
          assert.not.ok(
            gcra(now + (r.retryAfterMs - 1) * 1000, tat, policy, cost).allowed,
            `${where}: allowed before retryAfterMs`,
          );
        }
      }
      assertGcraBound(passed, limit, t);
    }
  },
);

algo(
  'the bound is tight: a burst then one per T puts 2*limit - 1 into one windowMs (GCRA is not a strict sliding window)',
  () => {
    const policy = { limit: 10, windowMs: 1000 };
    const t = emissionIntervalUs(policy);
    let tat: number | undefined;
    let count = 0;
    for (let now = EPOCH_US; now < EPOCH_US + 1000 * 1000; now += 1000) {
      for (let r = gcra(now, tat, policy, 1); r.allowed; r = gcra(now, tat, policy, 1)) {
        tat = r.newTat;
        count++;
      }
    }
    assert.is(t, 100_000);
    assert.is(count, 10 + 9, 'within [0, 999] ms: the burst of 10, then one at 100, 200, ... 900 ms');
  },
);

algo('a burst of exactly `limit` passes when windowMs/limit is not a whole number of µs', () => {
  for (const [limit, windowMs] of [[3, 1000], [7, 1], [9, 1000.5], [1000, 333], [100_000, 60_000]]) {
    const policy = { limit, windowMs };
    let tat: number | undefined;
    for (let i = 0; i < limit; i++) {
      const r = gcra(EPOCH_US, tat, policy, 1);
      assert.ok(r.allowed, `${limit}/${windowMs}: request ${i + 1} refused`);
      assert.is(r.remaining, limit - i - 1);
      tat = r.newTat;
    }
    assert.not.ok(gcra(EPOCH_US, tat, policy, 1).allowed, `${limit}/${windowMs}: burst above limit`);
  }
});

algo('a TAT in the past is the same as no TAT', () => {
  const policy = { limit: 5, windowMs: 1000 };
  assert.equal(gcra(EPOCH_US, EPOCH_US - 1, policy, 2), gcra(EPOCH_US, undefined, policy, 2));
});

algo('sliding log property: decisions, remaining and retryAfter match a brute-force log over random traffic', () => {
  for (let seed = 1; seed <= 200; seed++) {
    const rnd = random(seed);
    const limit = 1 + Math.floor(rnd() * 12);
    const windowMs = 1 + Math.floor(rnd() * 2000);
    const policy: RateLimitPolicy = { limit, windowMs, algorithm: 'sliding-window' };
    const store = new SlidingLogStore(100_000);
    const log: { at: number; cost: number }[] = [];
    let nowMs = Date.UTC(2026, 0, 1);
    for (let step = 0; step < 300; step++) {
      nowMs += rnd() < 0.4 ? 0 : Math.floor(rnd() * windowMs / limit * 2);
      const cost = rnd() < 0.7 ? 1 : Math.floor(rnd() * (limit + 1));
      const live = log.filter((e) => e.at + windowMs > nowMs);
      const used = live.reduce((n, e) => n + e.cost, 0);
      const d = store.consume('k', policy, cost, nowMs * 1000);
      const where = `seed ${seed}, step ${step}, ${limit}/${windowMs}ms, cost ${cost}, used ${used}`;
      assert.is(d.allowed, used + cost <= limit, where);
      if (d.allowed) {
        assert.is(d.remaining, limit - used - cost, where);
        if (cost > 0) log.push({ at: nowMs, cost });
      } else {
        // The first time at which enough of the window has left for this cost.
        let freed = 0;
        let at = 0;
        for (const e of live) { freed += e.cost; at = e.at + windowMs; if (used - freed + cost <= limit) break; }
        assert.is(d.retryAfterMs, at - nowMs, where);
      }
      assertSlidingBound(log, limit, windowMs);
    }
  }
});

algo.run();

// ---------------------------------------------------------------- memory

const store = suite('rateLimiter memory: key eviction');

store('maxKeys caps the map; keys whose TAT has passed are swept as new ones come', () => {
  const capped = new GcraStore(3);
  const policy = { limit: 2, windowMs: 1000 };
  for (let i = 0; i < 10; i++) capped.consume(`k${i}`, policy, 1, EPOCH_US);
  assert.is(capped.size, 3);

  const swept = new GcraStore(100_000);
  for (let i = 0; i < 1000; i++) swept.consume(`k${i}`, policy, 1, EPOCH_US);
  assert.is(swept.size, 1000);
  const later = EPOCH_US + 1000 * 1000;
  for (let i = 0; i < 10; i++) swept.consume(`fresh${i}`, policy, 1, later);
  assert.ok(swept.size <= 10, `expired keys were kept: ${swept.size}`);
  // A refused or peeking call on an expired key forgets it too.
  swept.consume('fresh0', policy, 0, later + 10_000_000);
  assert.ok(swept.size <= 9);
});

store.run();

for (const algorithm of ['gcra', 'sliding-window'] as const) {
  rateLimiterConformance('memory', async () => {
    const clock = new ManualClock();
    const limiter = await memoryRateLimiter.create({}, context(clock));
    return { limiter, close: async () => {}, advance: (ms) => clock.advance(ms) };
  }, algorithm);
}

// ---------------------------------------------------------------- redis

const redisUrl = serviceUrl('REDIS_URL', 'rateLimiter conformance: redis');
if (redisUrl) {
  for (const algorithm of ['gcra', 'sliding-window'] as const) {
    rateLimiterConformance('redis', async () => {
      const limiter = await redisRateLimiter.create(
        { url: redisUrl, keyPrefix: `${uniqueName('rl')}:` },
        context(systemClock),
      );
      return { limiter, close: () => limiter.close!() };
    }, algorithm);
  }

  const shared = suite('rateLimiter redis: instances share one limit');

  shared('two instances (one with a skewed clock) on one Redis allow exactly `limit` in total', async () => {
    const keyPrefix = `${uniqueName('rl-shared')}:`;
    const a = await redisRateLimiter.create({ url: redisUrl, keyPrefix }, context(systemClock));
    // Redis TIME is the clock: an instance whose own clock is 26 years off counts the same.
    const b = await redisRateLimiter.create({ url: redisUrl, keyPrefix }, context(new ManualClock(0)));
    try {
      const policy = { limit: 10, windowMs: 60_000 };
      const decisions = await Promise.all(Array.from({ length: 50 }, (_, i) => (i % 2 ? a : b).consume('k', policy)));
      assert.is(decisions.filter((d) => d.allowed).length, 10);
      await a.reset('k');
      const d = await b.consume('k', policy);
      assert.is(d.remaining, 9, 'a reset through one instance is seen by the other');
    } finally {
      await a.close!();
      await b.close!();
    }
  });

  shared('one key under both algorithms: counted apart (no clash in Redis), reset forgets both', async () => {
    const limiter = await redisRateLimiter.create(
      { url: redisUrl, keyPrefix: `${uniqueName('rl-both')}:` },
      context(systemClock),
    );
    try {
      const gcraPolicy = { limit: 2, windowMs: 60_000 };
      const slidingPolicy = { limit: 3, windowMs: 60_000, algorithm: 'sliding-window' as const };
      assert.is((await limiter.consume('k', gcraPolicy)).remaining, 1);
      assert.is((await limiter.consume('k', slidingPolicy)).remaining, 2);
      assert.is((await limiter.consume('k', slidingPolicy)).remaining, 1);
      assert.is((await limiter.consume('k', gcraPolicy)).remaining, 0);
      await limiter.reset('k');
      assert.is((await limiter.consume('k', gcraPolicy, 0)).remaining, 2);
      assert.is((await limiter.consume('k', slidingPolicy, 0)).remaining, 3);
    } finally {
      await limiter.close!();
    }
  });

  shared.run();
}

// A throwaway redis-server of our own, so that killing it touches nobody else.
const insurance = suite('rateLimiter redis: insurance while Redis is down');

const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];

insurance(
  'consume keeps resolving and limiting on the insurance limiter; health fails; Redis is used again once back',
  async () => {
    const port = await freePort();
    const url = `redis://127.0.0.1:${port}`;
    let server = startRedis(port);
    const logs: { level: number; msg: string }[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => logs.push(JSON.parse(line)) });
    const made: { close?: () => Promise<void> }[] = [];
    const raw = new Redis(url, { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0 });
    raw.on('error', () => {});
    try {
      await until('the throwaway redis-server to listen', () => listening(port), 5000, 20);
      await raw.connect();
      const limiter = await redisRateLimiter.create({ url, keyPrefix: 'ins:' }, context(systemClock, logger));
      const halved = await redisRateLimiter.create(
        { url, keyPrefix: 'ins:', insurance: { divisor: 2 } },
        context(systemClock),
      );
      const strict = await redisRateLimiter.create(
        { url, keyPrefix: 'ins:', insurance: { enabled: false } },
        context(systemClock),
      );
      made.push(limiter, halved, strict);
      const policy = { limit: 5, windowMs: 60_000 };

      for (let i = 0; i < 3; i++) assert.ok((await limiter.consume('before', policy)).allowed);
      assert.is(await raw.exists('ins:before'), 1, 'counted in Redis while it is up');
      await limiter.health!();

      await kill(server);

      const latencies: number[] = [];
      const allowed: boolean[] = [];
      for (let i = 0; i < 7; i++) {
        const started = performance.now();
        const d = await limiter.consume('down', policy);
        latencies.push(performance.now() - started);
        allowed.push(d.allowed);
        if (!d.allowed) assert.ok(d.retryAfterMs > 0 && d.retryAfterMs <= 12_001, `retryAfterMs ${d.retryAfterMs}`);
      }
      assert.equal(allowed, [true, true, true, true, true, false, false], 'the insurance limiter enforces the limit');
      const many: number[] = [];
      for (let i = 0; i < 2000; i++) {
        const started = performance.now();
        await limiter.consume(`many${i % 100}`, policy);
        many.push(performance.now() - started);
      }
      console.log(
        `  [insurance] fallback consume latency: first calls ${latencies.map((ms) => ms.toFixed(2)).join(', ')} ms; ` +
          `2000 calls median ${median(many).toFixed(3)} ms, max ${Math.max(...many).toFixed(2)} ms`,
      );
      assert.ok(Math.max(...latencies, ...many) < 250, 'fallback is fast, not a command timeout per request');

      const split = [];
      for (let i = 0; i < 4; i++) split.push(await halved.consume('down', policy));
      assert.equal(
        split.map((d) => d.allowed),
        [true, true, true, false],
        'divisor 2: ceil(5/2) = 3 per instance',
      );
      assert.is(split[0].limit, 3);

      try {
        await limiter.health!();
        assert.unreachable('health should fail while Redis is down');
      } catch (err) {
        assert.ok(isAppError(err) && err.status === 503, `health failed with ${err}`);
      }
      try {
        await strict.consume('down', policy);
        assert.unreachable('without insurance, consume should fail while Redis is down');
      } catch (err) {
        assert.ok(isAppError(err) && err.status === 503, `consume failed with ${err}`);
      }
      await limiter.reset('down'); // resolves, and forgets the key in the insurance map
      assert.ok((await limiter.consume('down', policy)).allowed);
      const warnings = logs.filter((l) => l.level === 40 && /insurance/.test(l.msg));
      assert.is(warnings.length, 1, `${warnings.length} insurance warnings for ${2000 + 10} fallback calls`);

      server = startRedis(port);
      await until(
        'health to pass again',
        () =>
          limiter.health!().then(
            () => true,
            () => false,
          ),
        15_000,
        50,
      );
      await until(
        'consume to count in Redis again',
        async () => {
          await limiter.consume('after', policy);
          return (await raw.exists('ins:after').catch(() => 0)) === 1;
        },
        15_000,
        50,
      );
      assert.ok(
        logs.some((l) => l.level === 30 && /available again/.test(l.msg)),
        'logs that Redis is back',
      );
      // Shared again: the other instance sees the count made through this one.
      const before = await halved.consume('after', policy, 0);
      await limiter.consume('after', policy);
      assert.is((await halved.consume('after', policy, 0)).remaining, before.remaining - 1);
    } finally {
      for (const m of made) await m.close?.().catch(() => undefined);
      raw.disconnect();
      await kill(server);
    }
  },
);

insurance(
  'a hung Redis (SIGSTOP): consume resolves after commandTimeoutMs at worst, then skips Redis until it answers again',
  async () => {
    const port = await freePort();
    const url = `redis://127.0.0.1:${port}`;
    const server = startRedis(port);
    const raw = new Redis(url, { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0 });
    raw.on('error', () => {});
    let limiter: Awaited<ReturnType<typeof redisRateLimiter.create>> | undefined;
    try {
      await until('the throwaway redis-server to listen', () => listening(port), 5000, 20);
      await raw.connect();
      limiter = await redisRateLimiter.create({ url, keyPrefix: 'hung:', commandTimeoutMs: 200 }, context(systemClock));
      const policy = { limit: 3, windowMs: 60_000 };
      assert.ok((await limiter.consume('k', policy)).allowed);
      server.kill('SIGSTOP');

      let started = performance.now();
      const first = await Promise.all(Array.from({ length: 5 }, () => limiter!.consume('hung', policy)));
      const firstMs = performance.now() - started;
      assert.equal(
        first.map((d) => d.allowed),
        [true, true, true, false, false],
        'the insurance limiter decided',
      );
      started = performance.now();
      await limiter.consume('hung2', policy);
      const nextMs = performance.now() - started;
      console.log(
        `  [hung] 5 concurrent consumes while Redis hangs: ${firstMs.toFixed(0)} ms (commandTimeoutMs 200); the next one: ${nextMs.toFixed(2)} ms`,
      );
      assert.ok(firstMs >= 150 && firstMs < 1000, `first calls took ${firstMs} ms`);
      assert.ok(nextMs < 50, `after a timeout Redis is skipped for a while: took ${nextMs} ms`);
      started = performance.now();
      const healthy = await limiter.health!().then(
        () => true,
        () => false,
      );
      assert.is(healthy, false, 'health fails on a hung Redis');
      assert.ok(performance.now() - started < 1000, 'health does not hang either');

      server.kill('SIGCONT');
      await until(
        'consume to count in Redis again',
        async () => {
          await limiter!.consume('after', policy);
          return (await raw.exists('hung:after').catch(() => 0)) === 1;
        },
        10_000,
        50,
      );
    } finally {
      await limiter?.close?.().catch(() => undefined);
      raw.disconnect();
      server.kill('SIGCONT');
      await kill(server);
    }
  },
);

if (spawnSync('redis-server', ['--version']).status === 0) insurance.run();
else if (process.env.REQUIRE_SERVICES === '1')
  throw new Error('rateLimiter insurance: redis-server is not installed and REQUIRE_SERVICES=1');
else console.log('  SKIPPED rateLimiter redis: insurance: the redis-server binary is not installed');
