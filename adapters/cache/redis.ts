import { defineAdapter } from '../../kernel/ports/adapter.ts';
import { redisConnectionProperties } from '../shared/redis.ts';
import type { Cache } from '../../kernel/ports/cache.ts';
import type { RedisCacheOptions } from './redisClient.ts';

export type { RedisCacheOptions };

export default defineAdapter<Cache, RedisCacheOptions>({
  port: 'cache',
  name: 'redis',
  description: 'Redis (ioredis): shared between processes, atomic counters, SCAN-based prefix deletes.',
  optionsSchema: {
    type: 'object',
    additionalProperties: false,
    required: ['url'],
    properties: {
      ...redisConnectionProperties({ keyPrefix: '', commandTimeoutMs: 2000 }),
    },
  },
  // The client library loads only when a deployment picks this adapter.
  create: async (options, ctx) => (await import('./redisClient.ts')).createRedisCache(options, ctx),
});
