import { suite } from 'uvu';
import { guarded } from '../helpers/guarded.ts';
import * as assert from 'uvu/assert';
import type { Cache } from '../../kernel/ports/cache.ts';
import { uniqueName } from '../helpers/services.ts';

export interface CacheUnderTest {
  cache: Cache;
  close: () => Promise<void>;
  /**
   * Makes `ms` pass for the cache. With a ManualClock this advances it; without one, leave it
   * out and the suite polls (with a deadline) for real expiry.
   */
  advance?: (ms: number) => void;
}

async function until(what: string, check: () => Promise<boolean>, deadlineMs = 2000): Promise<void> {
  const deadline = Date.now() + deadlineMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${deadlineMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

export function cacheConformance(name: string, make: () => Promise<CacheUnderTest>): void {
  const test = guarded(suite(`cache conformance: ${name}`));
  const ns = uniqueName('cache-test');
  const key = (k: string) => `${ns}:${k}`;
  // uvu swallows errors thrown by `before` hooks, so the adapter is built lazily by the first test.
  let made: Promise<CacheUnderTest> | undefined;
  const get = () => (made ??= make());
  const cache = async () => (await get()).cache;

  // Hooks must not throw: uvu reports a suite whose hook throws as passing.
  test.after(async () => {
    const subject = await made?.catch(() => undefined);
    if (!subject) return;
    await subject.cache.deletePrefix(`${ns}:`).catch(() => undefined);
    await subject.close().catch((err) => console.error('close failed:', err));
  });

  test('get of a missing key is undefined', async () => {
    assert.is(await (await cache()).get(key('missing')), undefined);
  });

  test('set/get round-trips JSON values', async () => {
    const c = await cache();
    const values: unknown[] = [
      { a: 1, nested: { b: [1, 'two', null] } },
      'text',
      '',
      42,
      -1.5,
      0,
      true,
      false,
      null,
      [1, { x: 'y' }],
      [],
    ];
    for (const [i, value] of values.entries()) {
      assert.is(await c.set(key(`v${i}`), value), true);
      assert.equal(await c.get(key(`v${i}`)), value, `value #${i}`);
    }
  });

  test('stored values are copies', async () => {
    const c = await cache();
    const value = { list: [1, 2], inner: { n: 1 } };
    await c.set(key('copy'), value);
    value.list.push(3);
    value.inner.n = 99;
    const read = await c.get<typeof value>(key('copy'));
    assert.equal(read, { list: [1, 2], inner: { n: 1 } });
    read!.inner.n = 7;
    assert.equal(await c.get(key('copy')), { list: [1, 2], inner: { n: 1 } });
  });

  test('set overwrites', async () => {
    const c = await cache();
    await c.set(key('over'), 1);
    assert.is(await c.set(key('over'), 2), true);
    assert.is(await c.get(key('over')), 2);
  });

  test('delete reports whether a key went', async () => {
    const c = await cache();
    await c.set(key('del'), 'x');
    assert.is(await c.delete(key('del')), true);
    assert.is(await c.delete(key('del')), false);
    assert.is(await c.get(key('del')), undefined);
  });

  test('has', async () => {
    const c = await cache();
    assert.is(await c.has(key('has')), false);
    await c.set(key('has'), null);
    assert.is(await c.has(key('has')), true);
  });

  test('ifAbsent sets only a missing key', async () => {
    const c = await cache();
    assert.is(await c.set(key('nx'), 'first', { ifAbsent: true }), true);
    assert.is(await c.set(key('nx'), 'second', { ifAbsent: true }), false);
    assert.is(await c.get(key('nx')), 'first');
  });

  test('ifAbsent is atomic under concurrency', async () => {
    const c = await cache();
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => c.set(key('nx-race'), i, { ifAbsent: true })),
    );
    assert.is(results.filter(Boolean).length, 1);
  });

  test('increment creates at 0 and adds', async () => {
    const c = await cache();
    assert.is(await c.increment(key('n')), 1);
    assert.is(await c.increment(key('n'), 5), 6);
    assert.is(await c.increment(key('n'), -2), 4);
    assert.is(await c.get(key('n')), 4);
    assert.is(await c.increment(key('m'), 10), 10);
  });

  test('increment is atomic under 50 concurrent calls', async () => {
    const c = await cache();
    await Promise.all(Array.from({ length: 50 }, () => c.increment(key('race'))));
    assert.is(await c.get(key('race')), 50);
  });

  test('ttl: undefined when missing, null without expiry, (0, ttlMs] with one', async () => {
    const c = await cache();
    assert.is(await c.ttl(key('ttl-missing')), undefined);
    await c.set(key('ttl-none'), 1);
    assert.is(await c.ttl(key('ttl-none')), null);
    await c.set(key('ttl-some'), 1, { ttlMs: 60_000 });
    const left = await c.ttl(key('ttl-some'));
    assert.type(left, 'number');
    assert.ok(left! > 0 && left! <= 60_000, `ttl was ${left}`);
  });

  test('increment applies its ttl only when it creates the key', async () => {
    const c = await cache();
    await c.increment(key('inc-ttl'), 1, { ttlMs: 60_000 });
    const left = await c.ttl(key('inc-ttl'));
    assert.ok(typeof left === 'number' && left > 0 && left <= 60_000, `ttl was ${left}`);
    await c.increment(key('inc-nottl'));
    await c.increment(key('inc-nottl'), 1, { ttlMs: 60_000 });
    assert.is(await c.ttl(key('inc-nottl')), null);
  });

  test('increment with refreshTtl restarts the ttl on every call, by 0 included', async () => {
    const c = await cache();
    await c.increment(key('inc-refresh'), 1, { ttlMs: 1000 });
    await c.increment(key('inc-refresh'), 0, { ttlMs: 60_000, refreshTtl: true });
    const left = await c.ttl(key('inc-refresh'));
    assert.ok(typeof left === 'number' && left > 1000 && left <= 60_000, `ttl was ${left}`);
    assert.is(await c.get(key('inc-refresh')), 1);
    await c.increment(key('inc-keep'), 1, { ttlMs: 60_000 });
    await c.increment(key('inc-keep'), 1, { ttlMs: 1000 });
    const kept = await c.ttl(key('inc-keep'));
    assert.ok(typeof kept === 'number' && kept > 1000, `without refreshTtl the first ttl stays (was ${kept})`);
  });

  test('a pinned entry needs a ttl and otherwise behaves like any entry', async () => {
    const c = await cache();
    let threw = false;
    try { await c.set(key('pin-forever'), 1, { pinned: true }); } catch (e) { threw = e instanceof RangeError; }
    assert.ok(threw, 'pinned without ttlMs is a RangeError');
    assert.is(await c.set(key('pin'), 'revoked', { ttlMs: 60_000, pinned: true }), true);
    assert.is(await c.get(key('pin')), 'revoked');
    assert.is(await c.has(key('pin')), true);
    assert.is(await c.set(key('pin'), 'again', { ttlMs: 60_000, pinned: true, ifAbsent: true }), false);
    const left = await c.ttl(key('pin'));
    assert.ok(typeof left === 'number' && left > 0 && left <= 60_000);
    assert.is(await c.deletePrefix(key('pin')), 1);
    assert.is(await c.has(key('pin')), false);
    await c.set(key('pin2'), 1, { ttlMs: 60_000, pinned: true });
    assert.is(await c.delete(key('pin2')), true);
    assert.is(await c.get(key('pin2')), undefined);
  });

  test('a pinned entry survives a flood of other keys', async () => {
    const c = await cache();
    await c.set(key('pin-flood'), 'revoked', { ttlMs: 60_000, pinned: true });
    await Promise.all(Array.from({ length: 2000 }, (_, i) => c.set(key(`flood:${i}`), i, { ttlMs: 60_000 })));
    assert.is(await c.get(key('pin-flood')), 'revoked');
  });

  test('a key with a short ttl expires', async () => {
    const subject = await get();
    const c = subject.cache;
    await c.set(key('short'), 'soon gone', { ttlMs: 30 });
    await c.set(key('long'), 'stays');
    await c.increment(key('short-counter'), 1, { ttlMs: 30 });
    if (subject.advance) {
      subject.advance(29);
      assert.is(await c.has(key('short')), true);
      subject.advance(2);
    }
    await until('the key to expire', async () => !(await c.has(key('short'))));
    await until('the counter to expire', async () => !(await c.has(key('short-counter'))));
    assert.is(await c.get(key('short')), undefined);
    assert.is(await c.ttl(key('short')), undefined);
    assert.is(await c.get(key('long')), 'stays');
    assert.is(await c.increment(key('short-counter')), 1);
  });

  test('deletePrefix removes only matching keys and counts them', async () => {
    const c = await cache();
    const p = key('dp');
    await c.set(`${p}:a`, 1);
    await c.set(`${p}:b`, 2);
    await c.set(`${p}:c:d`, 3);
    await c.set(`${p}x`, 4);
    await c.set(`${p}*:e`, 5); // glob characters are plain text
    assert.is(await c.deletePrefix(`${p}:`), 3);
    assert.is(await c.has(`${p}:a`), false);
    assert.is(await c.has(`${p}:c:d`), false);
    assert.is(await c.get(`${p}x`), 4);
    assert.is(await c.deletePrefix(`${p}*`), 1);
    assert.is(await c.get(`${p}x`), 4);
    assert.is(await c.deletePrefix(`${p}:`), 0);
  });

  test('deletePrefix handles many keys', async () => {
    const c = await cache();
    const p = key('many:');
    await Promise.all(Array.from({ length: 1200 }, (_, i) => c.set(`${p}${i}`, i)));
    assert.is(await c.deletePrefix(p), 1200);
    assert.is(await c.has(`${p}7`), false);
  });

  test('values that are not JSON are refused', async () => {
    const c = await cache();
    try {
      await c.set(key('bad'), undefined);
      assert.unreachable('set(undefined) should throw');
    } catch (err) {
      assert.instance(err, TypeError);
    }
  });

  // Leases: compareAndSet / compareAndDelete.
  test('compareAndSet replaces only the expected value', async () => {
    const c = await cache();
    assert.is(await c.compareAndSet(key('cas-missing'), 'a', 'b'), false, 'a missing key holds nothing');
    assert.is(await c.has(key('cas-missing')), false);
    await c.set(key('cas'), { owner: 'a', n: 1 });
    assert.is(await c.compareAndSet(key('cas'), { owner: 'b', n: 1 }, 'stolen'), false);
    assert.equal(await c.get(key('cas')), { owner: 'a', n: 1 });
    assert.is(await c.compareAndSet(key('cas'), { owner: 'a', n: 1 }, { done: true }), true);
    assert.equal(await c.get(key('cas')), { done: true });
  });

  test('compareAndSet sets the given ttl (renewal) or none', async () => {
    const c = await cache();
    await c.set(key('cas-ttl'), 'lease', { ttlMs: 1000 });
    assert.is(await c.compareAndSet(key('cas-ttl'), 'lease', 'lease', { ttlMs: 60_000 }), true);
    const left = await c.ttl(key('cas-ttl'));
    assert.ok(typeof left === 'number' && left > 1000 && left <= 60_000, `ttl was ${left}`);
    assert.is(await c.compareAndSet(key('cas-ttl'), 'lease', 'kept'), true);
    assert.is(await c.ttl(key('cas-ttl')), null);
  });

  test('compareAndSet is atomic: one of 20 concurrent claimants wins', async () => {
    const c = await cache();
    await c.set(key('cas-race'), 'free');
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => c.compareAndSet(key('cas-race'), 'free', `owner-${i}`)),
    );
    assert.is(results.filter(Boolean).length, 1);
  });

  test('compareAndDelete deletes only the expected value', async () => {
    const c = await cache();
    await c.set(key('cad'), 'mine');
    assert.is(await c.compareAndDelete(key('cad'), 'yours'), false);
    assert.is(await c.get(key('cad')), 'mine');
    assert.is(await c.compareAndDelete(key('cad'), 'mine'), true);
    assert.is(await c.has(key('cad')), false);
    assert.is(await c.compareAndDelete(key('cad'), 'mine'), false);
  });

  test('an expired lease cannot be renewed', async () => {
    const subject = await get();
    const c = subject.cache;
    await c.set(key('lease-exp'), 'token', { ttlMs: 30, ifAbsent: true });
    if (subject.advance) subject.advance(31);
    await until('the lease to expire', async () => !(await c.has(key('lease-exp'))));
    assert.is(await c.compareAndSet(key('lease-exp'), 'token', 'token', { ttlMs: 30 }), false);
    assert.is(
      await c.set(key('lease-exp'), 'other', { ttlMs: 1000, ifAbsent: true }),
      true,
      'someone else can take it',
    );
  });

  test.run();
}
