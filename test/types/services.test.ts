import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { defineServices } from '../../kernel/index.ts';

test('defineServices lists exactly the specs the kernel registers, with their lifetimes', () => {
  const dispose = () => {};
  const services = defineServices()
    .singleton('a', () => 1, { dispose })
    .scoped('b', ({ a }) => a + 1);
  assert.equal(Object.keys(services), ['a', 'b'], 'the builder methods are not enumerable');
  assert.is(services.a.lifetime, 'singleton');
  assert.is(services.a.dispose, dispose);
  assert.is(services.b.lifetime, 'scoped');
  assert.is(services.b.factory({ a: 41 } as unknown as Parameters<typeof services.b.factory>[0]), 42);
});

test('a service listed twice, or named like a builder method, is refused', () => {
  const one = defineServices().singleton('a', () => 1);
  assert.throws(() => one.singleton('a', () => 2), /"a" is listed twice/);
  assert.throws(() => defineServices().scoped('scoped', () => 1), /reserved/);
});

test.run();
