import type { EventSubscriber, FlushEventArgs, MikroORM, TransactionEventArgs } from '@mikro-orm/core';
import type { Logger } from 'pino';
import type { PubSub } from '../../kernel/index.ts';
import type { RealtimeEvent } from './api.ts';
import type { RealtimeEventRow } from './entities.ts';
import { toEvent } from './history.ts';

export type Listener = (event: RealtimeEvent) => void;

const PUBSUB_PREFIX = 'realtime:';

/**
 * Fan-out of committed events: this instance publishes each one on PubSub (`realtime:<channel>`)
 * once its transaction committed, and hands what PubSub delivers (its own included) to the local
 * listeners of the channel. Without a PubSub adapter it delivers locally only.
 */
export class Hub {
  private readonly listeners = new Map<string, Set<Listener>>();
  private unsubscribe?: () => Promise<void>;
  /** Events flushed inside a transaction that has not committed yet, by its root transaction. */
  private readonly pending = new Map<unknown, RealtimeEvent[]>();

  constructor(
    private readonly pubsub: PubSub | undefined,
    private readonly logger: Logger,
    private readonly afterCommit: (events: RealtimeEvent[]) => void,
  ) {}

  async start(orm: MikroORM): Promise<void> {
    orm.em.getEventManager().registerSubscriber(this.ormSubscriber());
    this.unsubscribe = await this.pubsub?.subscribe(`${PUBSUB_PREFIX}*`, (message) => this.received(message));
  }

  async stop(): Promise<void> {
    await this.unsubscribe?.().catch(() => {});
    this.unsubscribe = undefined;
    this.listeners.clear();
  }

  listen(channel: string, listener: Listener): () => void {
    let set = this.listeners.get(channel);
    if (!set) this.listeners.set(channel, (set = new Set()));
    set.add(listener);
    return () => {
      set.delete(listener);
      if (!set.size && this.listeners.get(channel) === set) this.listeners.delete(channel);
    };
  }

  get listening(): number {
    let n = 0;
    for (const set of this.listeners.values()) n += set.size;
    return n;
  }

  /** Publishes committed events, in order. */
  publish(events: RealtimeEvent[]): void {
    if (!events.length) return;
    this.afterCommit(events);
    for (const event of events) {
      if (!this.pubsub) {
        setImmediate(() => this.deliver(event));
        continue;
      }
      this.pubsub.publish(PUBSUB_PREFIX + event.channel, JSON.stringify(event)).catch((err) => {
        // Live delivery is best effort; the event is in the history and reaches resuming clients.
        this.logger.warn({ err, channel: event.channel }, 'realtime: pubsub publish failed');
      });
    }
  }

  private received(message: string): void {
    let event: RealtimeEvent;
    try {
      event = JSON.parse(message) as RealtimeEvent;
    } catch {
      this.logger.warn('realtime: a pubsub message was not JSON');
      return;
    }
    this.deliver(event);
  }

  private deliver(event: RealtimeEvent): void {
    for (const listener of [...(this.listeners.get(event.channel) ?? [])]) {
      try {
        listener(event);
      } catch (err) {
        this.logger.error({ err, channel: event.channel }, 'realtime: a listener threw');
      }
    }
  }

  /**
   * Sees every flush of every EntityManager: the RealtimeEvent rows it created are published once
   * committed (at once for a flush's own transaction, at the root commit inside `em.transactional`).
   */
  private ormSubscriber(): EventSubscriber {
    const pending = this.pending;
    const publish = (events: RealtimeEvent[]) => this.publish(events);
    return {
      // Only its rows' flushes concern it: other rows may take the kernel's insert path (kernel/storage/insertFlush).
      getSubscribedEntities: () => ['RealtimeEvent'],
      async afterFlush({ em, uow }: FlushEventArgs) {
        const created: RealtimeEvent[] = [];
        for (const cs of uow.getChangeSets()) {
          if (cs.type === 'create' && cs.meta.className === 'RealtimeEvent') {
            created.push(toEvent(cs.entity as unknown as RealtimeEventRow));
          }
        }
        if (!created.length) return;
        created.sort((a, b) => (a.cursor < b.cursor ? -1 : 1));
        if (!em.isInTransaction()) {
          publish(created);
          return;
        }
        const root = rootTransaction(em.getTransactionContext());
        pending.set(root, [...(pending.get(root) ?? []), ...created]);
      },
      async afterTransactionCommit({ transaction }: TransactionEventArgs) {
        const events = pending.get(transaction);
        if (!events) return;
        pending.delete(transaction);
        publish(events);
      },
      async afterTransactionRollback({ transaction }: TransactionEventArgs) {
        pending.delete(transaction);
      },
    };
  }
}

/** knex marks a savepoint's parent under a private symbol; the root is the one without. */
function rootTransaction(trx: unknown): unknown {
  let current = trx as Record<symbol, unknown> | undefined;
  for (let depth = 0; current && depth < 20; depth++) {
    const key = Object.getOwnPropertySymbols(current).find((s) => s.description === 'parentTransaction');
    const parent = key ? current[key] : undefined;
    if (!parent) return current;
    current = parent as Record<symbol, unknown>;
  }
  return current;
}

