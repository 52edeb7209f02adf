import { defineAdapter } from '../../kernel/ports/adapter.ts';
import { redisConnectionProperties } from '../shared/redis.ts';
import type { PubSub } from '../../kernel/ports/pubsub.ts';
import type { RedisPubSubOptions } from './redisClient.ts';

export type { RedisPubSubOptions };

export default defineAdapter<PubSub, RedisPubSubOptions>({
  port: 'pubsub',
  name: 'redis',
  description: 'Redis PUBLISH / SUBSCRIBE / PSUBSCRIBE (ioredis): fan-out across instances, at most once.',
  optionsSchema: {
    type: 'object',
    additionalProperties: false,
    required: ['url'],
    properties: {
      ...redisConnectionProperties({ keyPrefix: '', commandTimeoutMs: 2000 }),
    },
  },
  // The client library loads only when a deployment picks this adapter.
  create: async (options, ctx) => (await import('./redisClient.ts')).createRedisPubSub(options, ctx),
});
