import { defineAdapter } from '../../kernel/ports/adapter.ts';
import { redisConnectionProperties } from '../shared/redis.ts';
import type { RateLimiter } from '../../kernel/ports/rateLimiter.ts';
import type { RedisRateLimiterOptions } from './redisClient.ts';

export type { RedisRateLimiterOptions };

export default defineAdapter<RateLimiter, RedisRateLimiterOptions>({
  port: 'rateLimiter',
  name: 'redis',
  description:
    'GCRA or a sliding log in one Lua script on Redis time: one limit shared by all instances; falls back to an in-memory limiter while Redis is down.',
  optionsSchema: {
    type: 'object',
    additionalProperties: false,
    required: ['url'],
    properties: {
      ...redisConnectionProperties({ keyPrefix: 'rl:', commandTimeoutMs: 500 }),
      insurance: {
        type: 'object',
        additionalProperties: false,
        default: {},
        properties: {
          enabled: { type: 'boolean', default: true },
          divisor: {
            type: 'integer',
            minimum: 1,
            default: 1,
            description: 'Each instance allows ceil(limit/divisor) while Redis is down: set it to the instance count.',
          },
        },
      },
    },
  },
  // The client library loads only when a deployment picks this adapter.
  create: async (options, ctx) => (await import('./redisClient.ts')).createRedisRateLimiter(options, ctx),
});
