import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { RateLimitAlgorithm, RateLimiter, RateLimitPolicy } from '../../kernel/ports/rateLimiter.ts';
import { uniqueName } from '../helpers/services.ts';

export interface RateLimiterUnderTest {
  limiter: RateLimiter;
  close: () => Promise<void>;
  /**
   * Makes `ms` pass for the limiter (a ManualClock that starts on a whole second). Without it
   * the limiter runs on real time and the suite polls with deadlines.
   */
  advance?: (ms: number) => void;
}

export async function until(
  what: string,
  check: () => Promise<boolean>,
  deadlineMs = 2000,
  everyMs = 5,
): Promise<void> {
  const deadline = Date.now() + deadlineMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${deadlineMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * What GCRA guarantees: the cost allowed within any closed interval [a, b] is at most
 * limit + floor((b - a) / T). `at` and `intervalT` in one unit; `slack` widens each interval
 * (real clocks: the client's timestamps are not the limiter's).
 */
export function assertGcraBound(
  passed: { at: number; cost: number }[],
  limit: number,
  intervalT: number,
  slack = 0,
): void {
  for (let i = 0; i < passed.length; i++) {
    let sum = 0;
    for (let j = i; j < passed.length; j++) {
      sum += passed[j].cost;
      const span = passed[j].at - passed[i].at;
      const bound = limit + Math.floor((span + slack) / intervalT);
      if (sum > bound)
        assert.unreachable(
          `${sum} passed within ${span} (from ${passed[i].at}): more than ${bound} (limit ${limit}, T ${intervalT})`,
        );
    }
  }
}

/**
 * Strict sliding window: within any half-open window [a, a + W) at most `limit` pass.
 * `slack` shortens each window (real clocks).
 */
export function assertSlidingBound(
  passed: { at: number; cost: number }[],
  limit: number,
  windowMs: number,
  slack = 0,
): void {
  for (let i = 0; i < passed.length; i++) {
    let sum = 0;
    for (let j = i; j < passed.length && passed[j].at - passed[i].at < windowMs - slack; j++) sum += passed[j].cost;
    if (sum > limit) assert.unreachable(`${sum} passed within ${windowMs} ms from ${passed[i].at}: more than ${limit}`);
  }
}

export function rateLimiterConformance(
  name: string,
  make: () => Promise<RateLimiterUnderTest>,
  algorithm: RateLimitAlgorithm = 'gcra',
): void {
  const test = suite(`rateLimiter conformance: ${name} (${algorithm})`);
  const sliding = algorithm === 'sliding-window';
  /** The policy under the algorithm being tested. */
  const P = (limit: number, windowMs: number): RateLimitPolicy => ({ limit, windowMs, algorithm });
  const ns = uniqueName('rl-test');
  const key = (k: string) => `${ns}:${k}`;
  // uvu swallows errors thrown by `before` hooks, so the adapter is built lazily by the first test.
  let made: Promise<RateLimiterUnderTest> | undefined;
  // Time advanced so far: with a clock that started on a whole second, `now mod 1000` is known.
  let advanced = 0;
  const get = () =>
    (made ??= make().then((s) =>
      s.advance
        ? {
            ...s,
            advance: (ms: number) => {
              advanced += ms;
              s.advance!(ms);
            },
          }
        : s,
    ));
  const limiter = async () => (await get()).limiter;
  // T = 20 s: nothing recovers by itself during a test, whatever the clock.
  const slow = P(3, 60_000);

  test.after(async () => {
    const subject = await made?.catch(() => undefined);
    await subject?.close().catch((err) => console.error('close failed:', err));
  });

  test('the first request is allowed with limit - 1 remaining', async () => {
    const d = await (await limiter()).consume(key('first'), P(10, 60_000));
    assert.is(d.allowed, true);
    assert.is(d.limit, 10);
    assert.is(d.remaining, 9);
    assert.is(d.retryAfterMs, 0);
    // GCRA: back to full after T = 6 s; sliding log: once this request leaves the window.
    const full = sliding ? 60_000 : 6000;
    assert.ok(d.resetMs > 0 && d.resetMs <= full, `resetMs ${d.resetMs} should be about ${full}`);
  });

  test('exactly `limit` pass in a burst; the next is refused with retryAfterMs in (0, T]', async () => {
    const l = await limiter();
    const policy = P(5, 60_000);
    const decisions = [];
    for (let i = 0; i < 6; i++) decisions.push(await l.consume(key('burst'), policy));
    assert.equal(
      decisions.map((d) => d.allowed),
      [true, true, true, true, true, false],
    );
    assert.equal(
      decisions.map((d) => d.remaining),
      [4, 3, 2, 1, 0, 0],
    );
    const refused = decisions[5];
    assert.is(refused.limit, 5);
    const wait = sliding ? 60_000 : 12_000; // the oldest leaves the window / one T
    assert.ok(refused.retryAfterMs > 0 && refused.retryAfterMs <= wait + 1, `retryAfterMs ${refused.retryAfterMs}`);
    assert.ok(refused.resetMs > 48_000 && refused.resetMs <= 60_000 + 1, `resetMs ${refused.resetMs}`);
  });

  test('keys are independent', async () => {
    const l = await limiter();
    for (let i = 0; i < 3; i++) assert.ok((await l.consume(key('a'), slow)).allowed);
    assert.is((await l.consume(key('a'), slow)).allowed, false);
    const b = await l.consume(key('b'), slow);
    assert.is(b.allowed, true);
    assert.is(b.remaining, 2);
  });

  test('reset restores the full allowance', async () => {
    const l = await limiter();
    for (let i = 0; i < 3; i++) await l.consume(key('reset'), slow);
    assert.is((await l.consume(key('reset'), slow)).allowed, false);
    await l.reset(key('reset'));
    await l.reset(key('never-used'));
    const d = await l.consume(key('reset'), slow);
    assert.is(d.allowed, true);
    assert.is(d.remaining, 2);
  });

  test('cost counts as several requests; a refused cost counts nothing', async () => {
    const l = await limiter();
    const policy = P(10, 60_000);
    assert.is((await l.consume(key('cost'), policy, 4)).remaining, 6);
    const over = await l.consume(key('cost'), policy, 7);
    assert.is(over.allowed, false);
    assert.ok(
      over.retryAfterMs > 0 && over.retryAfterMs <= (sliding ? 60_000 : 6000) + 1,
      `retryAfterMs ${over.retryAfterMs}`,
    );
    const exact = await l.consume(key('cost'), policy, 6);
    assert.is(exact.allowed, true);
    assert.is(exact.remaining, 0);
    assert.is((await l.consume(key('cost'), policy, 1)).allowed, false);
    const peek = await l.consume(key('cost-peek'), policy, 0);
    assert.is(peek.allowed, true);
    assert.is(peek.remaining, 10);
  });

  test('invalid policies and costs throw before counting', async () => {
    const l = await limiter();
    for (const [policy, cost] of [
      [P(0, 1000), 1],
      [P(1.5, 1000), 1],
      [P(5, 0), 1],
      [P(5, 1000), -1],
      [P(5, 1000), 6],
      [P(5, 1000), 0.5],
      [{ limit: 5, windowMs: 1000, algorithm: 'fixed-window' as RateLimitAlgorithm }, 1],
    ] as const) {
      try {
        await l.consume(key('invalid'), policy, cost);
        assert.unreachable(`${JSON.stringify(policy)} cost ${cost} should throw`);
      } catch (err) {
        assert.instance(err, RangeError);
      }
    }
  });

  test('50 concurrent calls with limit 10: exactly 10 allowed', async () => {
    const l = await limiter();
    const policy = P(10, 60_000);
    const decisions = await Promise.all(Array.from({ length: 50 }, () => l.consume(key('race'), policy)));
    assert.is(decisions.filter((d) => d.allowed).length, 10);
    assert.equal(
      decisions
        .filter((d) => d.allowed)
        .map((d) => d.remaining)
        .sort((a, b) => a - b),
      [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    );
  });

  test('refused calls do not push the retry time out', async () => {
    const l = await limiter();
    for (let i = 0; i < 3; i++) await l.consume(key('hammer'), slow);
    let last;
    for (let i = 0; i < 20; i++) last = await l.consume(key('hammer'), slow);
    assert.is(last!.allowed, false);
    assert.ok(last!.retryAfterMs <= (sliding ? 60_000 : 20_000) + 1, `retryAfterMs grew to ${last!.retryAfterMs}`);
  });

  if (sliding) {
    test('sliding: each request frees its slot exactly windowMs after it was counted, not before', async () => {
      const subject = await get();
      const l = subject.limiter;
      const k = key('slide');
      if (subject.advance) {
        const policy = P(3, 1000);
        assert.ok((await l.consume(k, policy)).allowed); // t = 0
        subject.advance(100);
        assert.ok((await l.consume(k, policy, 2)).allowed); // t = 100, cost 2
        subject.advance(400);
        const refused = await l.consume(k, policy); // t = 500
        assert.is(refused.allowed, false);
        assert.is(refused.retryAfterMs, 500, 'the t = 0 request leaves at t = 1000');
        assert.is(refused.resetMs, 600, 'all leave at t = 1100');
        assert.is((await l.consume(k, policy, 2)).retryAfterMs, 600, 'cost 2 waits for the t = 100 pair too');
        subject.advance(499);
        assert.is((await l.consume(k, policy)).allowed, false, 't = 999: still in the window');
        subject.advance(1);
        const freed = await l.consume(k, policy); // t = 1000
        assert.is(freed.allowed, true, 't = 1000: exactly one slot freed');
        assert.is(freed.remaining, 0);
        assert.is((await l.consume(k, policy)).allowed, false);
        subject.advance(100); // t = 1100: the pair leaves
        assert.is((await l.consume(k, policy, 0)).remaining, 2);
        subject.advance(1000);
        assert.is((await l.consume(k, policy, 0)).remaining, 3, 'back to the full allowance');
        return;
      }
      const policy = P(2, 200);
      assert.ok((await l.consume(k, policy)).allowed);
      assert.ok((await l.consume(k, policy)).allowed);
      const refused = await l.consume(k, policy);
      const refusedAt = Date.now();
      assert.is(refused.allowed, false);
      assert.ok(refused.retryAfterMs > 0 && refused.retryAfterMs <= 201, `retryAfterMs ${refused.retryAfterMs}`);
      await until(
        'the full allowance to come back',
        async () => (await l.consume(k, policy, 0)).remaining === 2,
        2000,
        5,
      );
      const waited = Date.now() - refusedAt;
      assert.ok(
        waited >= refused.retryAfterMs - 10,
        `allowed again after ${waited} ms, before retryAfterMs ${refused.retryAfterMs}`,
      );
      assert.ok((await l.consume(k, policy)).allowed);
      assert.ok((await l.consume(k, policy)).allowed);
      assert.is((await l.consume(k, policy)).allowed, false);
    });

    test('sliding: a greedy client never gets more than limit into any window (no boundary burst)', async () => {
      const subject = await get();
      const l = subject.limiter;
      const k = key('sliding-bound');
      const passed: { at: number; cost: number }[] = [];
      if (subject.advance) {
        const policy = P(5, 1000);
        subject.advance(999 - (advanced % 1000)); // 1 ms before a whole second: a fixed window's boundary
        for (let t = 0; t < 3000; t++, subject.advance(1)) {
          while ((await l.consume(k, policy)).allowed) passed.push({ at: t, cost: 1 });
        }
        assert.is(passed.filter((p) => p.at <= 1).length, 5, 'N pass at the boundary, not 2N');
        assertSlidingBound(passed, 5, 1000);
        assert.equal(
          passed.map((p) => p.at),
          [0, 0, 0, 0, 0, 1000, 1000, 1000, 1000, 1000, 2000, 2000, 2000, 2000, 2000],
        );
        return;
      }
      const policy = P(4, 300);
      const end = Date.now() + 700;
      while (Date.now() < end) {
        const d = await l.consume(k, policy);
        if (d.allowed) passed.push({ at: Date.now(), cost: 1 });
        else await sleep(3);
      }
      assert.ok(passed.length >= 8, `a greedy client got only ${passed.length} in 700 ms`);
      assertSlidingBound(passed, 4, 300, 10);
    });

    test.run();
    return;
  }

  test('after waiting T, exactly one more passes; after the window, all of them', async () => {
    const subject = await get();
    const l = subject.limiter;
    const k = key('recover');
    if (subject.advance) {
      const policy = P(4, 1000); // T = 250 ms
      for (let i = 0; i < 4; i++) assert.ok((await l.consume(k, policy)).allowed);
      const refused = await l.consume(k, policy);
      assert.is(refused.retryAfterMs, 250);
      subject.advance(249);
      assert.is((await l.consume(k, policy)).allowed, false);
      subject.advance(1);
      assert.is((await l.consume(k, policy)).allowed, true);
      assert.is((await l.consume(k, policy)).allowed, false);
      subject.advance(1000);
      const passed = [];
      for (let i = 0; i < 5; i++) passed.push((await l.consume(k, policy)).allowed);
      assert.equal(passed, [true, true, true, true, false]);
      return;
    }
    const policy = P(2, 200); // T = 100 ms
    assert.ok((await l.consume(k, policy)).allowed);
    assert.ok((await l.consume(k, policy)).allowed);
    const refused = await l.consume(k, policy);
    const refusedAt = Date.now();
    assert.is(refused.allowed, false);
    assert.ok(refused.retryAfterMs > 0 && refused.retryAfterMs <= 101, `retryAfterMs ${refused.retryAfterMs}`);
    await until('a request to pass again', async () => (await l.consume(k, policy)).allowed, 2000, 5);
    const waited = Date.now() - refusedAt;
    assert.ok(
      waited >= refused.retryAfterMs - 10,
      `allowed again after ${waited} ms, before retryAfterMs ${refused.retryAfterMs}`,
    );
    assert.is((await l.consume(k, policy)).allowed, false, 'only one passes per T');
    // A cost-0 peek counts nothing: poll it until the key is back to its full allowance.
    await until(
      'the full allowance to come back',
      async () => (await l.consume(k, policy, 0)).remaining === 2,
      2000,
      10,
    );
    assert.ok((await l.consume(k, policy)).allowed);
    assert.ok((await l.consume(k, policy)).allowed);
  });

  // A fixed window lets `limit` through just before its boundary and `limit` more just after:
  // 2N within 1 ms. GCRA never lets more than N through within T, nor more than N + floor(L/T)
  // within any L. (It is not a strict sliding window: see the gcra tests for 2N - 1 within W.)
  test('no burst at a window boundary: a greedy client gets at most limit + floor(L/T) in any L', async () => {
    const subject = await get();
    const l = subject.limiter;
    const k = key('boundary');
    const passed: { at: number; cost: number }[] = [];
    if (subject.advance) {
      const policy = P(5, 1000); // T = 200 ms
      subject.advance(999 - (advanced % 1000)); // 1 ms before a whole second: a fixed window's boundary
      let t = 0;
      for (; t < 2500; t++, subject.advance(1)) {
        while ((await l.consume(k, policy)).allowed) passed.push({ at: t, cost: 1 });
      }
      assert.is(passed.filter((p) => p.at <= 1).length, 5, 'N pass at the boundary, not 2N');
      assertGcraBound(passed, 5, 200);
      // Steady state afterwards: one per T.
      assert.is(passed.filter((p) => p.at >= 1000 && p.at < 2000).length, 5);
      return;
    }
    const policy = P(4, 400); // T = 100 ms
    const end = Date.now() + 900;
    while (Date.now() < end) {
      const d = await l.consume(k, policy);
      if (d.allowed) passed.push({ at: Date.now(), cost: 1 });
      else await sleep(3);
    }
    assert.ok(passed.length >= 4 + 7, `a greedy client got only ${passed.length} in 900 ms`);
    assertGcraBound(passed, 4, 100, 10);
  });

  test.run();
}
