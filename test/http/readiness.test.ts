import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Writable } from 'node:stream';
import pino from 'pino';
import { defineAdapter } from '../../kernel/ports/adapter.ts';
import type { Cache } from '../../kernel/ports/cache.ts';
import { ManualClock } from '../../kernel/ports/clock.ts';
import { HealthService, type HealthResult } from '../../kernel/health.ts';
import memoryCache from '../../adapters/cache/memory.ts';
import { bootCustom } from '../helpers/custom.ts';
import { request } from '../helpers/kernel.ts';

const s = suite('health: /health/ready is cached briefly, shared by concurrent probes, and says names and states only');

const state = { runs: 0, down: false };
/** A cache whose health check counts its runs and can fail with internals in its message. */
const counted = defineAdapter<Cache>({
  port: 'cache', name: 'counted', optionsSchema: { type: 'object', additionalProperties: false, properties: {} },
  async create(_options, ctx) {
    const inner = await memoryCache.create({}, ctx) as Cache;
    return {
      ...inner,
      async health() {
        state.runs++;
        await new Promise((r) => setImmediate(r));
        if (state.down) throw new Error('connect ECONNREFUSED 10.1.2.3:6379');
      },
    };
  },
});

const TOKEN = 'health-token-for-tests-0123456789';

s('concurrent probes share one run; results are reused within readyCacheMs', async () => {
  const kernel = await bootCustom({
    adapters: { cache: { counted } },
    config: { adapters: { cache: { use: 'counted' } }, health: { readyCacheMs: 60_000 } },
  });
  const { port } = await kernel.listen();
  const base = `http://127.0.0.1:${port}`;
  try {
    state.runs = 0;
    const answers = await Promise.all(Array.from({ length: 20 }, () => request(base, 'GET', '/health/ready')));
    assert.ok(answers.every((a) => a.status === 200), answers.map((a) => a.status).join());
    for (let i = 0; i < 5; i++) await request(base, 'GET', '/health/ready');
    assert.is(state.runs, 1, 'one check run for 25 probes');
    assert.equal(
      answers[0].body.checks.find((c: { name: string }) => c.name === 'cache'),
      { name: 'cache', ok: true },
      'names and states only',
    );
    assert.ok(answers[0].body.checks.every((c: object) => Object.keys(c).join() === 'name,ok'));
  } finally {
    await kernel.stop();
  }
});

s('a failing dependency: no internals in the answer, details for the health token holder only', async () => {
  const kernel = await bootCustom({
    adapters: { cache: { counted } },
    config: { adapters: { cache: { use: 'counted' } }, health: { readyCacheMs: 0, token: TOKEN } },
  });
  const { port } = await kernel.listen();
  const base = `http://127.0.0.1:${port}`;
  try {
    state.down = true;
    const open = await request(base, 'GET', '/health/ready');
    assert.is(open.status, 503);
    assert.equal(open.body.error.details.failing, [{ name: 'cache', ok: false }]);
    assert.not.match(open.text, /10\.1\.2\.3|ECONNREFUSED|6379/, 'no hosts or errors for anonymous callers');
    const wrong = await request(base, 'GET', '/health/ready', { headers: { 'x-health-token': 'nope' } });
    assert.not.match(wrong.text, /ECONNREFUSED/);
    const insider = await request(base, 'GET', '/health/ready', { headers: { 'x-health-token': TOKEN } });
    assert.is(insider.status, 503);
    assert.match(insider.body.error.details.failing[0].error, /ECONNREFUSED 10\.1\.2\.3/);
    assert.type(insider.body.error.details.failing[0].ms, 'number');
  } finally {
    state.down = false;
    await kernel.stop();
  }
});

s('liveness with `checks` in health.details answers 503 UNHEALTHY when a dependency is down', async () => {
  const kernel = await bootCustom({
    adapters: { cache: { counted } },
    config: { adapters: { cache: { use: 'counted' } }, health: { readyCacheMs: 0, details: ['version', 'checks'] } },
  });
  const { port } = await kernel.listen();
  const base = `http://127.0.0.1:${port}`;
  try {
    const up = await request(base, 'GET', '/health');
    assert.is(up.status, 200, up.text);
    assert.is(up.body.checks.cache, 'healthy');
    state.down = true;
    const down = await request(base, 'GET', '/health');
    assert.is(down.status, 503, down.text);
    assert.is(down.body.error.code, 'UNHEALTHY');
    assert.is(down.body.error.details.checks.cache, 'unhealthy');
    assert.ok(down.headers.get('retry-after'));
    assert.not.match(down.text, /ECONNREFUSED/);
  } finally {
    state.down = false;
    await kernel.stop();
  }
});

s('the cache expires on the clock; failures are logged with their error, once per run', async () => {
  const clock = new ManualClock();
  const lines: string[] = [];
  const logger = pino({ level: 'info' }, new Writable({ write(chunk, _e, cb) { lines.push(String(chunk)); cb(); } }));
  let runs = 0;
  const run = async (): Promise<HealthResult[]> => {
    runs++;
    return [{ name: 'database', ok: false, ms: 3, error: 'timeout talking to db.internal:5432' }];
  };
  const health = new HealthService({
    run,
    clock,
    logger,
    config: { path: '/health', okStatus: 'ok', details: [], readyCacheMs: 2000, checkNames: {} },
    info: { name: 'x', version: '1', startedAt: 0 },
    contributors: new Map(),
  });
  await Promise.all(Array.from({ length: 10 }, () => health.check()));
  clock.advance(1999);
  await health.check();
  assert.is(runs, 1);
  clock.advance(1);
  await health.check();
  assert.is(runs, 2);
  const logged = lines.filter((l) => l.includes('readiness checks failed'));
  assert.is(logged.length, 2);
  assert.match(logged[0], /db\.internal:5432/);
  assert.equal((await health.ready({})).checks, [{ name: 'database', ok: false }]);
});

s.run();
