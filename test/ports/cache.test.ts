import pino from 'pino';
import { ManualClock, systemClock, type Clock } from '../../kernel/ports/clock.ts';
import type { AdapterContext } from '../../kernel/ports/adapter.ts';
import memoryCache from '../../adapters/cache/memory.ts';
import redisCache from '../../adapters/cache/redis.ts';
import { serviceUrl, uniqueName } from '../helpers/services.ts';
import { cacheConformance } from './cache.suite.ts';

const context = (clock: Clock): AdapterContext => ({ logger: pino({ level: 'silent' }), clock, serviceName: 'kernel-test' });

cacheConformance('memory', async () => {
  const clock = new ManualClock();
  const cache = await memoryCache.create({}, context(clock));
  return { cache, close: async () => {}, advance: (ms) => clock.advance(ms) };
});

const redisUrl = serviceUrl('REDIS_URL', 'cache conformance: redis');
if (redisUrl) {
  cacheConformance('redis', async () => {
    const cache = await redisCache.create({ url: redisUrl, keyPrefix: `${uniqueName('kt')}:` }, context(systemClock));
    return { cache, close: () => cache.close!() };
  });
}
