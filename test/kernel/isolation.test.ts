import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { definePlugin } from '../../kernel/index.ts';
import { bootCustom } from '../helpers/custom.ts';

const s = suite('kernel: a plugin resolves only what it declared');

s('own services, ports and required exports resolve; undeclared ones do not', async () => {
  const seen: Record<string, unknown> = {};
  const provider = definePlugin({
    name: 'provider', version: '1', contract: false,
    services: { greeter: () => ({ hello: (n: string) => `hello ${n}` }), secretHelper: () => 'internal' },
    exports: ['greeter'],
  });
  const consumer = definePlugin({
    name: 'consumer', version: '1', contract: false, requires: ['provider'],
    services: { mine: ({ greeter }: any) => greeter.hello('consumer') },
    onStart(cradle: any) {
      seen.mine = cradle.mine;
      seen.cache = typeof cradle.cache.get;
      for (const name of ['secretHelper', 'notAThing']) {
        try { void cradle[name]; seen[name] = 'resolved'; } catch (e) { seen[name] = (e as Error).name; }
      }
    },
  });
  const outsider = definePlugin({
    name: 'outsider', version: '1', contract: false,
    onStart(cradle: any) {
      try { void cradle.greeter; seen.outsider = 'resolved'; } catch (e) { seen.outsider = (e as Error).name; }
    },
  });
  const kernel = await bootCustom({ plugins: [provider, consumer, outsider] });
  await kernel.stop();
  assert.is(seen.mine, 'hello consumer');
  assert.is(seen.cache, 'function');
  assert.is(seen.secretHelper, 'AwilixResolutionError', 'a service not exported stays private');
  assert.is(seen.notAThing, 'AwilixResolutionError');
  assert.is(
    seen.outsider,
    'AwilixResolutionError',
    'a plugin that does not require the provider cannot see its exports',
  );
});

s('cache keys are namespaced per plugin', async () => {
  const values: Record<string, unknown> = {};
  const mk = (name: string) => definePlugin({
    name, version: '1', contract: false,
    async onStart(cradle: any) {
      await cradle.cache.set('shared-key', name);
      values[name] = await cradle.cache.get('shared-key');
    },
  });
  const kernel = await bootCustom({ plugins: [mk('one'), mk('two')] });
  const root = kernel.root.cradle.cache;
  assert.is(await root.get('one:shared-key'), 'one');
  assert.is(await root.get('two:shared-key'), 'two');
  await kernel.stop();
  assert.equal(values, { one: 'one', two: 'two' });
});

s.run();
