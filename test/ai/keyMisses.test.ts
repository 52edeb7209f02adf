import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { DefaultKeyMisses } from '../../plugins/aiapi/keyMisses.ts';

const clockAt = (t: { now: number }) => ({ now: () => t.now, date: () => new Date(t.now) }) as never;

test('an absence is remembered for the TTL, per user and vendor', () => {
  const t = { now: 1_000 };
  const misses = new DefaultKeyMisses(clockAt(t), 5000);
  misses.add('u1', 'openai', misses.mark());
  assert.ok(misses.has('u1', 'openai'));
  assert.not.ok(misses.has('u1', 'anthropic'));
  assert.not.ok(misses.has('u2', 'openai'));
  t.now += 4999;
  assert.ok(misses.has('u1', 'openai'));
  t.now += 1;
  assert.not.ok(misses.has('u1', 'openai'), 'gone after the TTL');
});

test('drop forgets the user at once, and a read begun before it does not bring the absence back', () => {
  const t = { now: 0 };
  const misses = new DefaultKeyMisses(clockAt(t));
  misses.add('u1', 'openai', misses.mark());
  misses.add('u2', 'openai', misses.mark());
  const before = misses.mark(); // a read that began before the key was created...
  misses.drop('u1');
  assert.not.ok(misses.has('u1', 'openai'));
  assert.ok(misses.has('u2', 'openai'), 'other users are kept');
  misses.add('u1', 'openai', before); // ...and found no row: not remembered, the new key may be there
  assert.not.ok(misses.has('u1', 'openai'));
  misses.add('u1', 'openai', misses.mark());
  assert.ok(misses.has('u1', 'openai'));
});

test('bounded: the oldest user goes first', () => {
  const misses = new DefaultKeyMisses(clockAt({ now: 0 }), 5000, 2);
  for (const u of ['a', 'b', 'c']) misses.add(u, 'openai', misses.mark());
  assert.not.ok(misses.has('a', 'openai'));
  assert.ok(misses.has('b', 'openai') && misses.has('c', 'openai'));
});

test.run();
