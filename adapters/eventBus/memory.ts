import { defineAdapter, type AdapterContext, type AdapterLifecycle } from '../../kernel/ports/adapter.ts';
import type {
  DomainEvent,
  EventBus,
  EventHandler,
  SubscribeOptions,
  Subscription,
} from '../../kernel/ports/eventBus.ts';

export interface MemoryEventBusOptions {
  maxAttempts?: number;
  retryDelayMs?: number;
  closeTimeoutMs?: number;
}

/** The in-process bus, with extras for tests. */
export interface MemoryEventBus extends EventBus, AdapterLifecycle {
  /** Resolves when no handler runs, no retry waits and no group with members has events queued. */
  drain(): Promise<void>;
}

interface Delivery {
  /** JSON text of the event: each delivery parses its own copy, as a broker would. */
  json: string;
  id: string;
  /** Events with one ordering key are handled one at a time, in publish order. */
  orderKey: string;
  attempts: number;
}

interface Member {
  handler: EventHandler<any>;
  active: boolean;
  /** The handler runs in progress (at most `concurrency` at a time, never two with one ordering key). */
  runs: Set<Promise<void>>;
  concurrency: number;
}

interface Group {
  topic: string;
  name: string;
  members: Member[];
  nextMember: number;
  queue: Delivery[];
  /** Ordering keys with a delivery being handled or waiting for its retry. */
  lockedKeys: Set<string>;
}

function createMemoryEventBus(options: MemoryEventBusOptions, ctx: AdapterContext): MemoryEventBus {
  const maxAttempts = options.maxAttempts ?? 5;
  const retryDelayMs = options.retryDelayMs ?? 50;
  const closeTimeoutMs = options.closeTimeoutMs ?? 5000;
  const log = ctx.logger;

  const topics = new Map<string, Map<string, Group>>();
  const retryTimers = new Set<NodeJS.Timeout>();
  const running = new Set<Promise<void>>();
  const scheduled = new Set<Group>();
  let idleWaiters: (() => void)[] = [];
  let closed = false;

  function allGroups(): Group[] {
    return [...topics.values()].flatMap((groups) => [...groups.values()]);
  }

  function isIdle(): boolean {
    return (
      closed ||
      (running.size === 0 && retryTimers.size === 0 && scheduled.size === 0 &&
        allGroups().every((g) => g.members.length === 0 || g.queue.length === 0))
    );
  }

  function checkIdle(): void {
    if (idleWaiters.length === 0 || !isIdle()) return;
    const waiters = idleWaiters;
    idleWaiters = [];
    waiters.forEach((resolve) => resolve());
  }

  /** Dispatch always happens on a later turn of the event loop, never inside publish's stack. */
  function schedule(group: Group): void {
    if (closed || scheduled.has(group)) return;
    scheduled.add(group);
    setImmediate(() => {
      scheduled.delete(group);
      dispatch(group);
    });
  }

  function idleMember(group: Group): Member | undefined {
    const n = group.members.length;
    for (let i = 0; i < n; i++) {
      const member = group.members[(group.nextMember + i) % n];
      if (member.runs.size < member.concurrency) {
        group.nextMember = (group.nextMember + i + 1) % n;
        return member;
      }
    }
    return undefined;
  }

  function dispatch(group: Group): void {
    for (let i = 0; i < group.queue.length && !closed; ) {
      const delivery = group.queue[i];
      if (group.lockedKeys.has(delivery.orderKey)) {
        i++;
        continue;
      }
      const member = idleMember(group);
      if (!member) break;
      group.queue.splice(i, 1);
      group.lockedKeys.add(delivery.orderKey);
      run(group, member, delivery);
    }
    checkIdle();
  }

  function run(group: Group, member: Member, delivery: Delivery): void {
    delivery.attempts++;
    const done = (async () => {
      try {
        await member.handler(JSON.parse(delivery.json));
        group.lockedKeys.delete(delivery.orderKey);
      } catch (err) {
        failed(group, delivery, err);
      }
    })();
    member.runs.add(done);
    running.add(done);
    void done.finally(() => {
      member.runs.delete(done);
      running.delete(done);
      schedule(group);
    });
  }

  function failed(group: Group, delivery: Delivery, err: unknown): void {
    const where = { eventId: delivery.id, topic: group.topic, group: group.name, attempt: delivery.attempts };
    if (delivery.attempts >= maxAttempts || closed) {
      log.error({ ...where, err }, 'event dead-lettered: handler kept failing');
      group.lockedKeys.delete(delivery.orderKey);
      return;
    }
    log.warn({ ...where, err }, 'event handler failed; will redeliver');
    const delay = Math.min(retryDelayMs * 2 ** (delivery.attempts - 1), 30_000);
    const timer = setTimeout(() => {
      retryTimers.delete(timer);
      // Its key stayed locked meanwhile, so later events with that key waited; it goes first.
      group.lockedKeys.delete(delivery.orderKey);
      group.queue.unshift(delivery);
      schedule(group);
    }, delay);
    retryTimers.add(timer);
  }

  return {
    async publish<T>(event: DomainEvent<T>) {
      if (closed) throw new Error('event bus is closed');
      const json = JSON.stringify(event);
      const orderKey = event.key ?? event.id;
      for (const group of topics.get(event.type)?.values() ?? []) {
        group.queue.push({ json, id: event.id, orderKey, attempts: 0 });
        schedule(group);
      }
    },

    async subscribe<T>(
      topic: string,
      { group: name, concurrency = 1 }: SubscribeOptions,
      handler: EventHandler<T>,
    ): Promise<Subscription> {
      if (closed) throw new Error('event bus is closed');
      let groups = topics.get(topic);
      if (!groups) topics.set(topic, (groups = new Map()));
      let group = groups.get(name);
      if (!group) {
        group = { topic, name, members: [], nextMember: 0, queue: [], lockedKeys: new Set() };
        groups.set(name, group);
      }
      const member: Member = {
        handler: handler as EventHandler<any>, active: true, runs: new Set(), concurrency: Math.max(1, concurrency),
      };
      group.members.push(member);
      schedule(group); // a group left without members keeps its backlog for the next one
      const g = group;
      return {
        async unsubscribe() {
          if (!member.active) return;
          member.active = false;
          g.members = g.members.filter((m) => m !== member);
          g.nextMember = 0;
          await Promise.allSettled([...member.runs]); // a failure requeues the event for the others
          checkIdle();
        },
      };
    },

    drain() {
      if (isIdle()) return Promise.resolve();
      return new Promise<void>((resolve) => idleWaiters.push(resolve));
    },

    async close() {
      if (closed) return;
      closed = true;
      const awaitingRetry = retryTimers.size;
      retryTimers.forEach(clearTimeout);
      retryTimers.clear();
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), closeTimeoutMs);
      });
      const outcome = await Promise.race([Promise.allSettled([...running]), timeout]);
      clearTimeout(timer);
      if (outcome === 'timeout') log.warn({ running: running.size }, 'event bus closed with handlers still running');
      const dropped = allGroups().reduce((n, g) => n + g.queue.length, awaitingRetry);
      if (dropped > 0) log.warn({ dropped }, 'event bus closed with undelivered events');
      checkIdle(); // nothing more will happen
    },
  };
}

export default defineAdapter<MemoryEventBus, MemoryEventBusOptions>({
  port: 'eventBus',
  name: 'memory',
  local: true,
  description: 'In-process bus with consumer groups and bounded redelivery; events are lost on restart.',
  optionsSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      maxAttempts: { type: 'integer', minimum: 1, default: 5 },
      retryDelayMs: { type: 'integer', minimum: 0, default: 50 },
      closeTimeoutMs: { type: 'integer', minimum: 0, default: 5000 },
    },
  },
  create: (options, ctx) => createMemoryEventBus(options ?? {}, ctx),
});
