import kafkajs, {
  Kafka,
  Partitioners,
  logLevel,
  type Admin,
  type Consumer,
  type EachMessagePayload,
  type LogEntry,
  type Producer,
} from 'kafkajs';
import type { Logger } from 'pino';
import type { AdapterContext, AdapterLifecycle } from '../../kernel/ports/adapter.ts';
import type {
  DomainEvent,
  EventBus,
  EventHandler,
  SubscribeOptions,
  Subscription,
} from '../../kernel/ports/eventBus.ts';
import { errors, isAppError } from '../../kernel/errors.ts';

export interface KafkaEventBusOptions {
  brokers: string | string[];
  clientId?: string;
  groupPrefix?: string;
  fromBeginning?: boolean;
  connectionTimeoutMs?: number;
  requestTimeoutMs?: number;
  numPartitions?: number;
  sessionTimeoutMs?: number;
  maxAttempts?: number;
  subscribeTimeoutMs?: number;
}

/**
 * Thrown out of eachMessage when a handler fails. Being a retriable KafkaJSError matters:
 * kafkajs then re-fetches from the failed offset (redelivery) instead of crashing for good,
 * as it would for a handler's TypeError, and it does not log the failure a second time.
 */
class HandlerFailed extends kafkajs.KafkaJSError {
  constructor(cause: unknown) {
    super(cause instanceof Error ? cause : String(cause), { retriable: true });
    Object.assign(this, { name: 'HandlerFailed', cause });
  }
}

/** kafkajs messages (or error texts) that describe normal operation, not trouble. */
const ROUTINE = new Set([
  'The group is rebalancing, re-joining',
  'The group is rebalancing, so a rejoin is needed',
  // Producer retries are bounded on purpose, so that publish fails instead of hanging.
  'Limiting retries for the idempotent producer may invalidate EoS guarantees',
]);

function kafkaLogCreator(logger: Logger) {
  const log = logger.child({ component: 'kafkajs' });
  return () => ({ namespace, level, log: { message, timestamp: _ts, logger: _l, ...extra } }: LogEntry) => {
    const fields = { namespace, ...extra };
    if (ROUTINE.has(message) || ROUTINE.has(String(extra.error))) log.debug(fields, message);
    else if (level <= logLevel.ERROR) log.error(fields, message);
    else if (level === logLevel.WARN) log.warn(fields, message);
    else log.debug(fields, message);
  };
}

function parseEvent(value: Buffer | null): DomainEvent | undefined {
  try {
    const event = JSON.parse(value?.toString('utf8') ?? '');
    return typeof event?.id === 'string' && typeof event?.type === 'string' ? event : undefined;
  } catch {
    return undefined;
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export function createKafkaEventBus(options: KafkaEventBusOptions, ctx: AdapterContext): EventBus & AdapterLifecycle {
  const brokers = (Array.isArray(options.brokers) ? options.brokers : options.brokers.split(','))
    .map((b) => b.trim())
    .filter(Boolean);
  const groupPrefix = options.groupPrefix ?? '';
  const fromBeginning = options.fromBeginning ?? true;
  const connectionTimeout = options.connectionTimeoutMs ?? 3000;
  const numPartitions = options.numPartitions ?? 3;
  const sessionTimeout = options.sessionTimeoutMs ?? 10_000;
  const maxAttempts = options.maxAttempts ?? 5;
  const subscribeTimeout = options.subscribeTimeoutMs ?? 60_000;
  const log = ctx.logger;

  const kafka = new Kafka({
    clientId: options.clientId ?? ctx.serviceName,
    brokers,
    connectionTimeout,
    requestTimeout: options.requestTimeoutMs ?? 10_000,
    // Bounded everywhere, so that a down broker makes calls fail rather than retry for ever.
    retry: { retries: 5, initialRetryTime: 100, maxRetryTime: 2000 },
    logLevel: logLevel.WARN,
    logCreator: kafkaLogCreator(log),
  });

  const producer: Producer = kafka.producer({
    idempotent: true,
    createPartitioner: Partitioners.DefaultPartitioner,
    retry: { retries: 5, initialRetryTime: 100, maxRetryTime: 2000 },
  });
  const admin: Admin = kafka.admin();
  const consumers = new Set<Consumer>();
  let closed = false;

  /** Connects once; a failed attempt is forgotten so that the next call tries again. */
  function lazily(connect: () => Promise<void>): () => Promise<void> {
    let connecting: Promise<void> | undefined;
    return () => (connecting ??= connect().catch((err) => { connecting = undefined; throw err; }));
  }
  const adminReady = lazily(() => admin.connect());
  const producerReady = lazily(() => producer.connect());

  const ensured = new Map<string, Promise<void>>();
  function ensureTopic(topic: string): Promise<void> {
    let done = ensured.get(topic);
    if (!done) {
      done = (async () => {
        await adminReady();
        // false means it already existed, which is just as good.
        await admin.createTopics({ topics: [{ topic, numPartitions }], waitForLeaders: true });
      })();
      done.catch(() => ensured.delete(topic));
      ensured.set(topic, done);
    }
    return done;
  }

  const unavailable = (err: unknown) =>
    err instanceof Error && err.name.startsWith('KafkaJS') ? errors.unavailable('eventBus', 5, err) : err;

  async function subscribe<T>(
    topic: string,
    { group, concurrency = 1 }: SubscribeOptions,
    handler: EventHandler<T>,
  ): Promise<Subscription> {
    if (closed) throw new Error('event bus is closed');
    const groupId = `${groupPrefix}${group}::${topic}`;
    const consumer = kafka.consumer({
      groupId,
      sessionTimeout,
      // Rebalances are noticed on heartbeats and after fetches, so keep both short.
      heartbeatInterval: Math.min(1000, Math.floor(sessionTimeout / 3)),
      maxWaitTimeInMs: 1000,
      allowAutoTopicCreation: false,
      // Handler failures come back as retriable errors; once these retries run out the
      // consumer restarts (rejoins) rather than stopping for good.
      retry: {
        retries: Math.max(maxAttempts, 5),
        initialRetryTime: 300,
        maxRetryTime: 10_000,
        restartOnFailure: async () => true,
      },
    });
    const where = { topic, groupId };
    // Failed attempts per partition:offset, to give up on an event after maxAttempts.
    // Entries go on success or dead-lettering; they survive rebalances and consumer restarts.
    const attempts = new Map<string, number>();

    // Live means: joined the group with partitions assigned and, for a group that starts at
    // the latest offset, those offsets resolved (first fetch); a later publish then arrives.
    const live = new Promise<void>((resolve, reject) => {
      let joined = false;
      consumer.on(consumer.events.GROUP_JOIN, () => {
        joined = true;
        if (fromBeginning) resolve();
      });
      consumer.on(consumer.events.FETCH, () => {
        if (joined) resolve();
      });
      consumer.on(consumer.events.CRASH, ({ payload }) => {
        log.error({ ...where, err: payload.error, restart: payload.restart }, 'kafka consumer crashed');
        if (!payload.restart) reject(payload.error);
      });
    });

    const eachMessage = async ({ partition, message, heartbeat }: EachMessagePayload) => {
      const event = parseEvent(message.value);
      if (!event) {
        log.error({ ...where, partition, offset: message.offset }, 'undecodable message skipped');
        return;
      }
      const slot = `${partition}:${message.offset}`;
      // Heartbeats while a slow handler runs keep the member in the group.
      const beat = setInterval(() => heartbeat().catch(() => {}), 1000);
      try {
        await handler(event as DomainEvent<T>);
        attempts.delete(slot);
      } catch (err) {
        const attempt = (attempts.get(slot) ?? 0) + 1;
        const details = { ...where, eventId: event.id, partition, offset: message.offset, attempt, err };
        if (maxAttempts > 0 && attempt >= maxAttempts) {
          attempts.delete(slot);
          log.error(details, 'event dead-lettered: handler kept failing');
          return;
        }
        attempts.set(slot, attempt);
        log.warn(details, 'event handler failed; will redeliver');
        throw new HandlerFailed(err);
      } finally {
        clearInterval(beat);
      }
    };

    live.catch(() => {}); // a crash after a timeout must not become an unhandled rejection

    try {
      await ensureTopic(topic);
      await consumer.connect();
      await consumer.subscribe({ topics: [topic], fromBeginning });
      consumers.add(consumer);
      // A key's events share a partition, which kafkajs hands to one eachMessage at a time: they stay in order.
      await consumer.run({ eachMessage, partitionsConsumedConcurrently: Math.max(1, concurrency) });
      await withTimeout(live, subscribeTimeout, `joining consumer group ${groupId}`);
    } catch (err) {
      consumers.delete(consumer);
      await consumer.disconnect().catch(() => {});
      throw unavailable(err);
    }

    let stopped: Promise<void> | undefined;
    return {
      unsubscribe: () =>
        (stopped ??= consumer.disconnect().finally(() => {
          consumers.delete(consumer);
        })),
    };
  }

  return {
    async publish<T>(event: DomainEvent<T>) {
      if (closed) throw new Error('event bus is closed');
      const value = JSON.stringify(event);
      try {
        await ensureTopic(event.type);
        await producerReady();
        await producer.send({ topic: event.type, acks: -1, messages: [{ key: event.key ?? event.id, value }] });
      } catch (err) {
        throw isAppError(err) ? err : unavailable(err);
      }
    },

    subscribe,

    async health() {
      try {
        await withTimeout(
          (async () => {
            await adminReady();
            await admin.describeCluster();
          })(),
          connectionTimeout,
          'kafka health check',
        );
      } catch (err) {
        throw errors.unavailable('eventBus', 5, err);
      }
    },

    async close() {
      if (closed) return;
      closed = true;
      const settle = (what: string, p: Promise<void>) =>
        p.catch((err) => log.warn({ err }, `kafka ${what} did not disconnect cleanly`));
      await Promise.all([...consumers].map((c) => settle('consumer', c.disconnect())));
      consumers.clear();
      await settle('producer', producer.disconnect());
      await settle('admin', admin.disconnect());
    },
  };
}
