import { defineAdapter } from '../../kernel/ports/adapter.ts';
import type { EventBus } from '../../kernel/ports/eventBus.ts';
import type { KafkaEventBusOptions } from './kafkaClient.ts';

export type { KafkaEventBusOptions };

export default defineAdapter<EventBus, KafkaEventBusOptions>({
  port: 'eventBus',
  name: 'kafka',
  description: 'Kafka (kafkajs): topic per event type, one consumer group per subscription group and topic.',
  optionsSchema: {
    type: 'object',
    additionalProperties: false,
    required: ['brokers'],
    properties: {
      brokers: {
        oneOf: [
          { type: 'string', minLength: 1 },
          { type: 'array', minItems: 1, items: { type: 'string', minLength: 1 } },
        ],
      },
      clientId: { type: 'string', minLength: 1 },
      groupPrefix: { type: 'string', default: '' },
      fromBeginning: { type: 'boolean', default: true },
      connectionTimeoutMs: { type: 'integer', minimum: 1, default: 3000 },
      requestTimeoutMs: { type: 'integer', minimum: 1, default: 10_000 },
      numPartitions: { type: 'integer', minimum: 1, default: 3 },
      sessionTimeoutMs: { type: 'integer', minimum: 1000, default: 10_000 },
      maxAttempts: {
        type: 'integer',
        minimum: 0,
        default: 5,
        description: 'Handler attempts per event before it is dead-lettered (logged and skipped); 0 retries for ever.',
      },
      subscribeTimeoutMs: { type: 'integer', minimum: 1, default: 60_000 },
    },
  },
  // The client library loads only when a deployment picks this adapter.
  create: async (options, ctx) => (await import('./kafkaClient.ts')).createKafkaEventBus(options, ctx),
});
