import pino from 'pino';
import { systemClock } from '../../kernel/ports/clock.ts';
import type { AdapterContext } from '../../kernel/ports/adapter.ts';
import memoryPubSub from '../../adapters/pubsub/memory.ts';
import redisPubSub from '../../adapters/pubsub/redis.ts';
import { serviceUrl, uniqueName } from '../helpers/services.ts';
import { pubsubConformance } from './pubsub.suite.ts';

const context: AdapterContext = { logger: pino({ level: 'silent' }), clock: systemClock, serviceName: 'kernel-test' };

pubsubConformance('memory', async () => {
  const ps = await memoryPubSub.create({}, context);
  return { a: ps, b: ps, close: () => ps.close!() };
});

const redisUrl = serviceUrl('REDIS_URL', 'pubsub conformance: redis');
if (redisUrl) {
  pubsubConformance('redis', async () => {
    const keyPrefix = `${uniqueName('kt')}:`;
    const a = await redisPubSub.create({ url: redisUrl, keyPrefix }, context);
    const b = await redisPubSub.create({ url: redisUrl, keyPrefix }, context);
    return { a, b, close: async () => { await a.close!(); await b.close!(); } };
  });
}
