import { suite } from 'uvu';
import { guarded } from '../helpers/guarded.ts';
import * as assert from 'uvu/assert';
import { v7 as uuidv7 } from 'uuid';
import type { DomainEvent, EventBus, Subscription } from '../../kernel/ports/eventBus.ts';
import { uniqueName } from '../helpers/services.ts';

export interface EventBusUnderTest {
  bus: EventBus;
  close: () => Promise<void>;
  /** How long an expected delivery may take before the test fails. Default 5000. */
  timeoutMs?: number;
  /**
   * Resolves once the bus has nothing more to deliver (memory: drain()). Without it, "nothing
   * more is coming" (to rule out duplicates) means no delivery for `quietMs` (default 500).
   */
  settle?: () => Promise<void>;
  quietMs?: number;
}

type Data = { n: number; tag?: string };

function makeEvent(topic: string, n: number, key?: string): DomainEvent<Data> {
  const event: DomainEvent<Data> = {
    id: uuidv7(),
    type: topic,
    occurredAt: new Date().toISOString(),
    data: { n, tag: `event ${n}` },
  };
  if (key !== undefined) event.key = key;
  return event;
}

function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Records what handlers saw and lets a test wait for a condition on it. */
class Recorder {
  readonly seen: { member: string; event: DomainEvent<Data> }[] = [];
  private waiters: { check: () => boolean; resolve: () => void }[] = [];
  private lastAt = Date.now();

  constructor(private timeoutMs: number) {}

  record(member: string, event: DomainEvent<Data>): void {
    this.seen.push({ member, event });
    this.lastAt = Date.now();
    this.waiters = this.waiters.filter((w) => (w.check() ? (w.resolve(), false) : true));
  }

  until(what: string, check: () => boolean): Promise<void> {
    if (check()) return Promise.resolve();
    let waiter!: { check: () => boolean; resolve: () => void };
    const reached = new Promise<void>((resolve) => { waiter = { check, resolve }; });
    this.waiters.push(waiter);
    return within(reached, this.timeoutMs, `${what} (${this.seen.length} deliveries seen)`).finally(() => {
      this.waiters = this.waiters.filter((w) => w !== waiter);
    });
  }

  /** Resolves once nothing has been recorded for `ms`. */
  async quiet(ms: number): Promise<void> {
    for (let left = ms; left > 0; left = this.lastAt + ms - Date.now()) {
      await new Promise((resolve) => setTimeout(resolve, left));
    }
  }

  ids(member?: string): string[] {
    return this.seen.filter((s) => member === undefined || s.member === member).map((s) => s.event.id);
  }

  countById(member?: string): Map<string, number> {
    const counts = new Map<string, number>();
    for (const id of this.ids(member)) counts.set(id, (counts.get(id) ?? 0) + 1);
    return counts;
  }
}

export function eventBusConformance(name: string, make: () => Promise<EventBusUnderTest>): void {
  const test = guarded(suite(`eventBus conformance: ${name}`));
  // uvu swallows errors thrown by `before` hooks, so the adapter is built lazily by the first test.
  let made: Promise<EventBusUnderTest> | undefined;
  const get = () => (made ??= make());
  let subscriptions: Subscription[] = [];

  async function setup() {
    const subject = await get();
    const timeoutMs = subject.timeoutMs ?? 5000;
    const rec = new Recorder(timeoutMs);
    const subscribe = async (
      topic: string,
      group: string,
      member: string,
      before?: (event: DomainEvent<Data>) => void,
    ) => {
      const subscription = await within(
        subject.bus.subscribe<Data>(topic, { group }, async (event) => {
          before?.(event);
          rec.record(member, event);
        }),
        timeoutMs,
        `subscribing ${member} to ${topic}`,
      );
      subscriptions.push(subscription);
      return subscription;
    };
    const settle = () =>
      subject.settle ? within(subject.settle(), timeoutMs, 'the bus to settle') : rec.quiet(subject.quietMs ?? 500);
    return { bus: subject.bus, rec, subscribe, settle, topic: uniqueName('topic'), group: uniqueName('group') };
  }

  // Hooks must not throw: uvu reports a suite whose hook throws as passing.
  test.after.each(async () => {
    const open = subscriptions;
    subscriptions = [];
    await Promise.all(open.map((s) => s.unsubscribe().catch((err) => console.error('unsubscribe failed:', err))));
  });

  test.after(async () => {
    const subject = await made?.catch(() => undefined);
    await subject?.close().catch((err) => console.error('close failed:', err));
  });

  test('a published event reaches a subscriber intact', async () => {
    const { bus, rec, subscribe, topic, group } = await setup();
    await subscribe(topic, group, 'a');
    const keyed = makeEvent(topic, 1, 'some-key');
    const plain = makeEvent(topic, 2);
    await bus.publish(keyed);
    await bus.publish(plain);
    await rec.until('both events', () => rec.ids().length >= 2);
    const byId = new Map(rec.seen.map((s) => [s.event.id, s.event]));
    assert.equal(byId.get(keyed.id), keyed);
    assert.equal(byId.get(plain.id), plain);
  });

  test('members of one group share the events and handle each once', async () => {
    const { bus, rec, subscribe, topic, group, settle } = await setup();
    await subscribe(topic, group, 'a');
    await subscribe(topic, group, 'b');
    const events = Array.from({ length: 40 }, (_, i) => makeEvent(topic, i));
    await Promise.all(events.map((e) => bus.publish(e)));
    await rec.until('all 40 events', () => rec.countById().size === 40);
    await settle();
    const counts = rec.countById();
    for (const e of events) assert.is(counts.get(e.id), 1, `event ${e.data.n} handled ${counts.get(e.id)} times`);
    assert.is(rec.seen.length, 40);
    assert.ok(
      rec.ids('a').length > 0 && rec.ids('b').length > 0,
      `a got ${rec.ids('a').length}, b got ${rec.ids('b').length}`,
    );
  });

  test('every group gets every event', async () => {
    const { bus, rec, subscribe, topic, group, settle } = await setup();
    await subscribe(topic, `${group}-1`, 'one');
    await subscribe(topic, `${group}-2`, 'two');
    const events = Array.from({ length: 10 }, (_, i) => makeEvent(topic, i));
    for (const e of events) await bus.publish(e);
    await rec.until(
      '10 events in each group',
      () => rec.countById('one').size === 10 && rec.countById('two').size === 10,
    );
    await settle();
    for (const member of ['one', 'two']) {
      const counts = rec.countById(member);
      for (const e of events)
        assert.is(counts.get(e.id), 1, `${member}: event ${e.data.n} handled ${counts.get(e.id)} times`);
    }
  });

  test('a failing handler gets the event again until it succeeds', async () => {
    const { bus, rec, subscribe, topic, group } = await setup();
    const attempts = new Map<string, number>();
    await subscribe(topic, group, 'a', (event) => {
      const n = (attempts.get(event.id) ?? 0) + 1;
      attempts.set(event.id, n);
      if (n === 1) throw new TypeError(`first attempt at ${event.id} fails`);
    });
    const events = Array.from({ length: 3 }, (_, i) => makeEvent(topic, i));
    for (const e of events) await bus.publish(e);
    await rec.until('all 3 events handled', () => rec.countById().size === 3);
    for (const e of events) assert.ok(attempts.get(e.id)! >= 2, `event ${e.data.n}: ${attempts.get(e.id)} attempts`);
  });

  test('unsubscribe stops delivery; the group picks up where it left off', async () => {
    const { bus, rec, subscribe, topic, group, settle } = await setup();
    const a = await subscribe(topic, group, 'a');
    await subscribe(topic, `${group}-witness`, 'witness');
    const first = makeEvent(topic, 1);
    await bus.publish(first);
    await rec.until(
      'the first event in both groups',
      () => rec.ids('a').includes(first.id) && rec.ids('witness').includes(first.id),
    );
    await a.unsubscribe();
    const second = makeEvent(topic, 2);
    await bus.publish(second);
    await rec.until('the second event for the witness', () => rec.ids('witness').includes(second.id));
    await settle();
    assert.not.ok(rec.ids('a').includes(second.id), 'delivered after unsubscribe');
    await subscribe(topic, group, 'b');
    await rec.until('the second event for the next member of the group', () => rec.ids('b').includes(second.id));
  });

  test('events with one key keep their order, also across a redelivery', async () => {
    const { bus, rec, subscribe, topic, group } = await setup();
    let failedOnce = false;
    const fail = (event: DomainEvent<Data>) => {
      if (event.key === 'k1' && event.data.n === 5 && !failedOnce) {
        failedOnce = true;
        throw new Error('fails once');
      }
    };
    await subscribe(topic, group, 'a', fail);
    await subscribe(topic, group, 'b', fail);
    for (let n = 0; n < 20; n++) {
      await bus.publish(makeEvent(topic, n, 'k1'));
      if (n % 2 === 0) await bus.publish(makeEvent(topic, n / 2, 'k2'));
    }
    await rec.until('all 30 events', () => rec.countById().size === 30);
    const order = (key: string) => rec.seen.filter((s) => s.event.key === key).map((s) => s.event.data.n);
    assert.equal(order('k1'), Array.from({ length: 20 }, (_, n) => n));
    assert.equal(order('k2'), Array.from({ length: 10 }, (_, n) => n));
    assert.ok(failedOnce);
  });

  test('concurrency: a member handles events of different keys at once, never two of one key, keys in order',
    async () => {
      const { bus, rec, topic, group } = await setup();
      const subject = await get();
      const concurrency = 3;
      let inFlight = 0;
      let most = 0;
      const busyKeys = new Set<string>();
      const overlaps: string[] = [];
      // Each handler stays in flight for a few turns of the event loop, so handlers the bus runs at once overlap.
      const turns = async (n: number) => { for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r)); };
      const subscription = await within(subject.bus.subscribe<Data>(topic, { group, concurrency }, async (event) => {
        const key = event.key!;
        if (busyKeys.has(key)) overlaps.push(key);
        busyKeys.add(key);
        most = Math.max(most, ++inFlight);
        try {
          await turns(20);
          rec.record('a', event);
        } finally {
          inFlight--;
          busyKeys.delete(key);
        }
      }), subject.timeoutMs ?? 5000, 'subscribing with concurrency');
      subscriptions.push(subscription);
      const keys = Array.from({ length: 8 }, (_, i) => `key-${i}`);
      for (let n = 0; n < 5; n++) for (const key of keys) await bus.publish(makeEvent(topic, n, key));
      await rec.until('all 40 events', () => rec.countById().size === 40);
      assert.ok(most >= 2 && most <= concurrency, `at most ${concurrency} at once, and more than one: ${most}`);
      assert.equal(overlaps, [], 'two events of one key at once');
      for (const key of keys) {
        assert.equal(rec.seen.filter((s) => s.event.key === key).map((s) => s.event.data.n), [0, 1, 2, 3, 4], key);
      }
    });

  test.run();
}
