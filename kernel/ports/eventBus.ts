/**
 * EventBus port: publish/subscribe with consumer groups and at-least-once delivery.
 * Each consumer group receives every event of a topic once (redelivered if its handler
 * fails); within a group, one member handles each event. An event is acknowledged only
 * after the handler resolves.
 * Adapters: adapters/eventBus/memory.ts, adapters/eventBus/kafka.ts.
 * Conformance: test/ports/eventBus.suite.ts.
 */
export interface DomainEvent<T = unknown> {
  /** UUIDv7, unique per event; consumers use it to de-duplicate. */
  id: string;
  /** The topic, e.g. `identity.user.registered`. */
  type: string;
  /** ISO-8601 UTC. */
  occurredAt: string;
  /** Optional ordering key (events with one key keep their order). */
  key?: string;
  data: T;
}

export type EventHandler<T = unknown> = (event: DomainEvent<T>) => Promise<void>;

export interface SubscribeOptions {
  /** Consumer group. Every group gets each event once. */
  group: string;
  /**
   * How many of the group's events this member may handle at once (default 1): events with one key are
   * still handled one at a time, in order. The memory bus runs up to this many handlers; Kafka consumes up to
   * this many partitions at once (a key's events share a partition).
   */
  concurrency?: number;
}

export interface Subscription {
  /** Stops consuming. Unacknowledged events are redelivered to other members or later. */
  unsubscribe(): Promise<void>;
}

export interface EventBus {
  /** Resolves once the event is durably accepted by the bus. */
  publish<T>(event: DomainEvent<T>): Promise<void>;
  /** Resolves once the subscription is live (a later publish will reach it). */
  subscribe<T>(topic: string, options: SubscribeOptions, handler: EventHandler<T>): Promise<Subscription>;
}
