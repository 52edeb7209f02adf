import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { defineAdapter } from '../../kernel/ports/adapter.ts';
import type { Cache } from '../../kernel/ports/cache.ts';
import { definePlugin, type HandlerRequest, type RequestContext } from '../../kernel/index.ts';
import memoryCache from '../../adapters/cache/memory.ts';
import { bootCustom } from '../helpers/custom.ts';
import { request, assertError } from '../helpers/kernel.ts';

const s = suite(
  'dependencies: timeouts and failures become 503 with a retry hint; readiness names the failing adapter',
);

/** A cache whose behaviour the test switches: it knows nothing of timeouts or HTTP. */
const mode = { value: 'ok' as 'ok' | 'hang' | 'refuse' };
const flaky = defineAdapter<Cache>({
  port: 'cache', name: 'flaky', optionsSchema: { type: 'object', additionalProperties: false, properties: {} },
  async create(_options, ctx) {
    const inner = await memoryCache.create({}, ctx) as Cache;
    return {
      ...inner,
      async get(key: string) {
        if (mode.value === 'hang') return new Promise(() => {});
        if (mode.value === 'refuse')
          throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6390'), { code: 'ECONNREFUSED' });
        return inner.get(key);
      },
      async health() { if (mode.value !== 'ok') throw new Error(`flaky is ${mode.value}`); },
    };
  },
});

const probe = definePlugin({
  name: 'probe', version: '1',
  handlers: { 'probe.read': async (_req: HandlerRequest, { services }: RequestContext<{ cache: Cache }>) =>
    ({ value: (await services.cache.get('k')) ?? null }) },
});
const probeContract = {
  openapi: '3.1.0',
  info: { title: 'probe', version: '1' },
  paths: {
    '/probe': {
      get: {
        operationId: 'probe.read',
        responses: {
          '200': { description: 'ok', content: { 'application/json': { schema: { type: 'object' } } } },
          '503': { $ref: '#/components/responses/Unavailable' },
        },
      },
    },
  },
};

s('hang -> DEPENDENCY_TIMEOUT, refused -> SERVICE_UNAVAILABLE, and /health/ready names the port', async () => {
  const kernel = await bootCustom({
    plugins: [probe],
    contracts: { probe: probeContract },
    adapters: { cache: { flaky } },
    config: { adapters: { cache: { use: 'flaky', timeoutMs: 200 } }, health: { readyCacheMs: 0 } },
  });
  const { port } = await kernel.listen();
  const base = `http://127.0.0.1:${port}`;
  try {
    mode.value = 'ok';
    assert.is((await request(base, 'GET', '/v1/probe')).status, 200);
    assert.is((await request(base, 'GET', '/health/ready')).status, 200);

    mode.value = 'hang';
    const slow = await request(base, 'GET', '/v1/probe');
    assertError(slow, 503, 'DEPENDENCY_TIMEOUT');
    assert.ok(slow.headers.get('retry-after'), 'Retry-After is set');

    mode.value = 'refuse';
    const down = await request(base, 'GET', '/v1/probe');
    assertError(down, 503, 'SERVICE_UNAVAILABLE');
    assert.is(down.body.error.details.dependency, 'cache');
    assert.type(down.body.error.details.retry_after, 'number');
    assert.not.match(down.text, /6390|ECONNREFUSED/, 'no internals in the response');

    const ready = await request(base, 'GET', '/health/ready');
    assertError(ready, 503, 'NOT_READY');
    assert.equal(ready.body.error.details.failing.map((f: { name: string }) => f.name), ['cache']);
    assert.is((await request(base, 'GET', '/health')).status, 200, 'liveness does not depend on adapters');
  } finally {
    mode.value = 'ok';
    await kernel.stop();
  }
});

s.run();
