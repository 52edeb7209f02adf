import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { guarded } from '../helpers/guarded.ts';
import type { PubSub } from '../../kernel/ports/pubsub.ts';
import { uniqueName } from '../helpers/services.ts';

export interface PubSubUnderTest {
  /** Two handles on one world: for memory the same instance, for a service two connections. */
  a: PubSub;
  b: PubSub;
  close: () => Promise<void>;
}

/** Collects messages; `next(n)` resolves once n have arrived (or fails after a deadline). */
function collector() {
  const got: Array<{ message: string; channel: string }> = [];
  let waiters: Array<() => void> = [];
  return {
    got,
    handler: (message: string, channel: string) => {
      got.push({ message, channel });
      waiters.splice(0).forEach((w) => w());
    },
    async until(n: number, deadlineMs = 3000) {
      const deadline = Date.now() + deadlineMs;
      while (got.length < n) {
        if (Date.now() > deadline) throw new Error(`timed out: ${got.length} of ${n} messages`);
        await new Promise<void>((resolve) => {
          waiters.push(resolve);
          setTimeout(resolve, 50);
        });
        waiters = [];
      }
    },
  };
}

export function pubsubConformance(name: string, make: () => Promise<PubSubUnderTest>): void {
  const test = guarded(suite(`pubsub conformance: ${name}`));
  const ns = uniqueName('ps');
  let made: Promise<PubSubUnderTest> | undefined;
  const get = () => (made ??= make());
  test.after(async () => {
    const subject = await made?.catch(() => undefined);
    await subject?.close().catch((err) => console.error('close failed:', err));
  });

  test('a message reaches every subscriber of its channel, on either handle', async () => {
    const { a, b } = await get();
    const one = collector();
    const two = collector();
    const offOne = await a.subscribe(`${ns}:x`, one.handler);
    const offTwo = await b.subscribe(`${ns}:x`, two.handler);
    await a.publish(`${ns}:x`, 'hello');
    await Promise.all([one.until(1), two.until(1)]);
    assert.equal(one.got, [{ message: 'hello', channel: `${ns}:x` }]);
    assert.equal(two.got, [{ message: 'hello', channel: `${ns}:x` }]);
    await offOne();
    await offTwo();
  });

  test('messages from one publisher arrive in publish order', async () => {
    const { a, b } = await get();
    const c = collector();
    const off = await b.subscribe(`${ns}:order`, c.handler);
    await Promise.all(Array.from({ length: 200 }, (_, i) => a.publish(`${ns}:order`, String(i))));
    await c.until(200);
    assert.equal(c.got.map((m) => Number(m.message)), Array.from({ length: 200 }, (_, i) => i));
    await off();
  });

  test('a prefix pattern matches its channels only, and reports the channel', async () => {
    const { a, b } = await get();
    const c = collector();
    const off = await b.subscribe(`${ns}:job:*`, c.handler);
    await a.publish(`${ns}:user:1`, 'no');
    await a.publish(`${ns}:job:1`, 'one');
    await a.publish(`${ns}:jobx`, 'no');
    await a.publish(`${ns}:job:2`, 'two');
    await c.until(2);
    await new Promise((r) => setTimeout(r, 50)); // room for a wrong extra delivery to show
    assert.equal(c.got, [
      { message: 'one', channel: `${ns}:job:1` },
      { message: 'two', channel: `${ns}:job:2` },
    ]);
    await off();
  });

  test('glob characters in a pattern or channel are literal', async () => {
    const { a, b } = await get();
    const c = collector();
    const off = await b.subscribe(`${ns}:a?[b]*`, c.handler);
    await a.publish(`${ns}:aX[b]1`, 'no');
    await a.publish(`${ns}:a?[b]1`, 'yes');
    await c.until(1);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(c.got.map((m) => m.message), ['yes']);
    await off();
  });

  test('after unsubscribe nothing more arrives; other subscribers of the channel keep theirs', async () => {
    const { a, b } = await get();
    const gone = collector();
    const kept = collector();
    const off = await b.subscribe(`${ns}:u`, gone.handler);
    const offKept = await b.subscribe(`${ns}:u`, kept.handler);
    await off();
    await a.publish(`${ns}:u`, 'after');
    await kept.until(1);
    await new Promise((r) => setTimeout(r, 50));
    assert.is(gone.got.length, 0);
    await offKept();
  });

  test('a message nobody listens to is gone: no history', async () => {
    const { a, b } = await get();
    await a.publish(`${ns}:h`, 'before');
    const c = collector();
    const off = await b.subscribe(`${ns}:h`, c.handler);
    await a.publish(`${ns}:h`, 'after');
    await c.until(1);
    assert.equal(c.got.map((m) => m.message), ['after']);
    await off();
  });

  test('a throwing handler does not stop the others', async () => {
    const { a, b } = await get();
    const c = collector();
    const offBad = await b.subscribe(`${ns}:t`, () => { throw new Error('boom'); });
    const off = await b.subscribe(`${ns}:t`, c.handler);
    await a.publish(`${ns}:t`, '1');
    await a.publish(`${ns}:t`, '2');
    await c.until(2);
    assert.equal(c.got.map((m) => m.message), ['1', '2']);
    await offBad();
    await off();
  });

  test('invalid channels and patterns are refused', async () => {
    const { a } = await get();
    for (const bad of ['', 'a b', 'x*y', 'x'.repeat(201)]) {
      let threw = false;
      try { await a.publish(bad, 'm'); } catch { threw = true; }
      assert.ok(threw, `publish ${JSON.stringify(bad.slice(0, 10))} refused`);
    }
    let threw = false;
    try { await a.subscribe('a*b*', () => {}); } catch { threw = true; }
    assert.ok(threw, 'a * inside a pattern is refused');
  });

  test.run();
}
