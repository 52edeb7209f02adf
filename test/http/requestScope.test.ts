import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { asFunction, asValue, createContainer, InjectionMode } from 'awilix';
import { RequestScope, type RequestNames } from '../../kernel/http/requestScope.ts';

/** A plugin container like pluginContainers.ts makes: strict, PROXY injection, ports, a singleton, scoped services. */
function pluginContainer() {
  const container = createContainer({ injectionMode: InjectionMode.PROXY, strict: true });
  let made = 0;
  container.register({
    clock: asValue('the clock'),
    shared: asFunction(() => ({ made: ++made })).singleton(),
    greeter: asFunction((c: { requestId: string; shared: { made: number } }) => ({ id: c.requestId, shared: c.shared }))
      .scoped(),
    uses: asFunction((c: { greeter: object; clock: string }) => ({ greeter: c.greeter, clock: c.clock })).scoped(),
    loopA: asFunction((c: { loopB: unknown }) => c.loopB).scoped(),
    loopB: asFunction((c: { loopA: unknown }) => c.loopA).scoped(),
  });
  return container;
}
const request = (requestId: string): RequestNames =>
  ({ lazyEm: () => 'em', db: 'db', principal: undefined, requestId, log: 'log', publish: 'publish' });

test('a scoped service is made once per request, with the request names; singletons and ports are shared', () => {
  const container = pluginContainer();
  const one = new RequestScope(request('r1'), container).cradle as Record<string, any>;
  const two = new RequestScope(request('r2'), container).cradle as Record<string, any>;
  assert.is(one.greeter, one.greeter);
  assert.is(one.uses.greeter, one.greeter);
  assert.is(one.greeter.id, 'r1');
  assert.is(two.greeter.id, 'r2');
  assert.is.not(one.greeter, two.greeter);
  assert.is(one.greeter.shared, two.greeter.shared);
  assert.is(one.uses.clock, 'the clock');
  assert.is(one.em, 'em');
  assert.ok('greeter' in one && 'em' in one && !('nothing' in one));
  assert.ok(Object.keys(one).includes('greeter'));
});

test('a cycle and an unknown name fail as in awilix, and the cradle cannot be assigned', () => {
  const cradle = new RequestScope(request('r'), pluginContainer()).cradle as Record<string, unknown>;
  assert.throws(() => cradle.loopA, /Cyclic dependencies/);
  assert.throws(() => cradle.nothing, /Could not resolve 'nothing'/);
  assert.throws(() => { cradle.greeter = 1; }, /not allowed/);
  // The failed cycle left nothing behind: the scope still resolves.
  assert.is((cradle.greeter as { id: string }).id, 'r');
});

test.run();
