import pino from 'pino';
import { ManualClock, systemClock, type Clock } from '../../kernel/ports/clock.ts';
import type { AdapterContext } from '../../kernel/ports/adapter.ts';
import memoryCache from '../../adapters/cache/memory.ts';
import redisCache from '../../adapters/cache/redis.ts';
import { serviceUrl, uniqueName } from '../helpers/services.ts';
import { cacheConformance } from './cache.suite.ts';

const context = (clock: Clock): AdapterContext => ({
  logger: pino({ level: 'silent' }),
  clock,
  serviceName: 'kernel-test',
});

cacheConformance('memory', async () => {
  const clock = new ManualClock();
  const cache = await memoryCache.create({}, context(clock));
  return { cache, close: async () => {}, advance: (ms) => clock.advance(ms) };
});

{
  // The memory adapter evicts the oldest keys past maxEntries: pinned ones are exempt.
  const { suite } = await import('uvu');
  const assert = await import('uvu/assert');
  const s = suite('memory cache: eviction spares pinned entries');
  s('past maxEntries, plain keys go and pinned keys stay until their ttl', async () => {
    const clock = new ManualClock();
    const cache = await memoryCache.create({ maxEntries: 10 }, context(clock));
    await cache.set('revoked-sid:a', 'logout', { ttlMs: 60_000, pinned: true });
    await cache.set('plain', 1, { ttlMs: 60_000 });
    for (let i = 0; i < 100; i++) await cache.set(`login-fail:${i}`, i, { ttlMs: 60_000 });
    assert.is(await cache.has('plain'), false, 'a plain entry was evicted');
    assert.is(await cache.get('revoked-sid:a'), 'logout', 'the pinned entry stayed');
    assert.is(await cache.increment('login-fail:99', 1), 100, 'counters still work');
    clock.advance(60_001);
    assert.is(await cache.has('revoked-sid:a'), false, 'a pinned entry still expires');
  });
  s.run();
}

const redisUrl = serviceUrl('REDIS_URL', 'cache conformance: redis');
if (redisUrl) {
  cacheConformance('redis', async () => {
    const cache = await redisCache.create({ url: redisUrl, keyPrefix: `${uniqueName('kt')}:` }, context(systemClock));
    return { cache, close: () => cache.close!() };
  });
}
