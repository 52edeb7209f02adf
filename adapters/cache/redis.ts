import { defineAdapter } from '../../kernel/ports/adapter.ts';
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
      url: { type: 'string', pattern: '^rediss?://' },
      keyPrefix: { type: 'string', default: '' },
      connectTimeoutMs: { type: 'integer', minimum: 1, default: 2000 },
      commandTimeoutMs: { type: 'integer', minimum: 1, default: 2000 },
    },
  },
  // The client library loads only when a deployment picks this adapter.
  create: async (options, ctx) => (await import('./redisClient.ts')).createRedisCache(options, ctx),
});
