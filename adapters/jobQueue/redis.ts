import { defineAdapter } from '../../kernel/ports/adapter.ts';
import type { JobQueue } from '../../kernel/ports/jobQueue.ts';
import { redisConnectionProperties } from '../shared/redis.ts';
import type { RedisJobQueueOptions } from './redisClient.ts';

export type { RedisJobQueueOptions };

export default defineAdapter<JobQueue, RedisJobQueueOptions>({
  port: 'jobQueue',
  name: 'redis',
  description: 'BullMQ on Redis (one queue per job type); jobs made in a unit of work enter Redis through an outbox.',
  optionsSchema: {
    type: 'object',
    additionalProperties: false,
    required: ['url'],
    properties: {
      ...redisConnectionProperties({ keyPrefix: 'kjobs', commandTimeoutMs: 5000 }),
      relayPollMs: { type: 'integer', minimum: 10, default: 200 },
    },
  },
  // BullMQ loads only when a deployment picks this adapter.
  create: async (options, ctx) => (await import('./redisClient.ts')).createRedisJobQueue(options, ctx),
});
