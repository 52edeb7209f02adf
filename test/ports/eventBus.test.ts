import pino from 'pino';
import { systemClock } from '../../kernel/ports/clock.ts';
import type { AdapterContext } from '../../kernel/ports/adapter.ts';
import memoryEventBus from '../../adapters/eventBus/memory.ts';
import kafkaEventBus from '../../adapters/eventBus/kafka.ts';
import { serviceUrl, uniqueName } from '../helpers/services.ts';
import { eventBusConformance } from './eventBus.suite.ts';

const context: AdapterContext = { logger: pino({ level: 'silent' }), clock: systemClock, serviceName: 'kernel-test' };

eventBusConformance('memory', async () => {
  const bus = await memoryEventBus.create({ retryDelayMs: 10 }, context);
  return { bus, close: () => bus.close!(), settle: () => bus.drain() };
});

const brokers = serviceUrl('KAFKA_BROKERS', 'eventBus conformance: kafka');
if (brokers) {
  eventBusConformance('kafka', async () => {
    const bus = await kafkaEventBus.create({ brokers, groupPrefix: `${uniqueName('kt')}.` }, context);
    return { bus, close: () => bus.close!(), timeoutMs: 20_000, quietMs: 1500 };
  });
}
