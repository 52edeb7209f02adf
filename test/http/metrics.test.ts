import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { getMetricsFromIterator, type PromHistogramData, type PromData, type PromMetrics } from 'prom2javascript';
import {
  definePlugin,
  type PluginMetrics,
  type HandlerRequest,
  type RequestContext,
  type Counter,
} from '../../kernel/index.ts';
import { defineAdapter } from '../../kernel/ports/adapter.ts';
import type { Cache } from '../../kernel/ports/cache.ts';
import { ManualClock } from '../../kernel/ports/clock.ts';
import type { Kernel } from '../../kernel/boot.ts';
import { BootError } from '../../kernel/config/problems.ts';
import memoryCache from '../../adapters/cache/memory.ts';
import { assertError, request, startKernel, tempSqliteUrl, type TestKernel } from '../helpers/kernel.ts';
import { signedIn } from '../helpers/signedIn.ts';
import { createKernel, loadConfig } from '../../scripts/kernel.ts';
import pino from 'pino';
import { bootCustom } from '../helpers/custom.ts';
import { testDatabases } from '../helpers/databases.ts';

const TOKEN = 'metrics-token-0123456789abcdef';
const auth = { authorization: `Bearer ${TOKEN}` };

/** Scrapes and parses with a Prometheus text-format parser. */
async function scrape(url: string, headers: Record<string, string> = auth): Promise<PromMetrics> {
  const res = await request(url, 'GET', '/metrics', { headers });
  assert.is(res.status, 200, res.text.slice(0, 300));
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  const lines = res.text.split('\n');
  // The parser reads no NaN; only event-loop statistics may be NaN (no sample since the last scrape).
  const nan = lines.filter((l) => / NaN$/.test(l));
  for (const l of nan) assert.match(l, /^nodejs_eventloop_lag_\w+ NaN$/);
  return getMetricsFromIterator(lines.filter((l) => !nan.includes(l))[Symbol.iterator]());
}
const histogram = (m: PromMetrics, name: string) => (m[name]?.data ?? []) as PromHistogramData[];
const samples = (m: PromMetrics, name: string) => (m[name]?.data ?? []) as PromData[];
const countOf = (m: PromMetrics, name: string, labels: Record<string, string>) =>
  histogram(m, name)
    .filter((d) => Object.entries(labels).every(([k, v]) => d.labels[k] === v))
    .reduce((n, d) => n + d.count, 0);
const valueOf = (m: PromMetrics, name: string, labels: Record<string, string> = {}) =>
  samples(m, name).find((d) => Object.entries(labels).every(([k, v]) => d.labels[k] === v))?.value;

// ---- The embedded default with metrics on and a token.
const s = suite<{ k: TestKernel }>('http: /metrics on the default deployment');
s.before(async (ctx) => {
  ctx.k = await signedIn(await startKernel({ metrics: { enabled: true, token: TOKEN } }));
});
s.after(async (ctx) => { await ctx.k.stop(); });

s('the token is enforced: none or a wrong one is 401 with a Bearer challenge', async ({ k }) => {
  const none = await k.request('GET', '/metrics');
  assertError(none, 401, 'UNAUTHORIZED');
  assert.match(none.headers.get('www-authenticate') ?? '', /^Bearer/);
  assertError(await k.request('GET', '/metrics', { headers: { authorization: `Bearer ${TOKEN}x` } }), 401);
  assertError(await k.request('GET', '/metrics', { headers: { authorization: TOKEN } }), 401);
  assert.is((await k.request('GET', '/metrics', { headers: auth })).status, 200);
});

s('HTTP duration histograms by route template, operationId and status move with traffic', async ({ k }) => {
  const labels = { operation: 'notes.create', route: '/v1/notes', status: '201', method: 'POST' };
  const before = countOf(await scrape(k.url), 'http_request_duration_seconds', labels);
  await Promise.all(Array.from({ length: 5 }, (_, i) => k.request('POST', '/v1/notes', { body: { title: `m${i}` } })));
  await k.request('GET', '/v1/notes/0193d1f2-0000-7000-8000-000000000000'); // a 404 on a templated route
  const after = await scrape(k.url);
  assert.is(countOf(after, 'http_request_duration_seconds', labels), before + 5);
  assert.is(
    countOf(after, 'http_request_duration_seconds', { operation: 'notes.get', route: '/v1/notes/{id}', status: '404' }),
    1,
  );
  const data = histogram(after, 'http_request_duration_seconds').find(
    (d) => d.labels.operation === 'notes.create' && d.labels.status === '201',
  )!;
  assert.is(data.buckets['+Inf'], data.count, 'buckets are cumulative up to +Inf');
  assert.ok((data.sum ?? 0) > 0);
});

s('unmatched paths share one series, so scanners cannot add series', async ({ k }) => {
  await Promise.all(['/a', '/b', '/c/d'].map((p) => k.request('GET', p)));
  const m = await scrape(k.url);
  const unmatched = histogram(m, 'http_request_duration_seconds').filter(
    (d) => d.labels.route === 'none' && d.labels.status === '404',
  );
  assert.is(unmatched.length, 1);
  assert.ok(unmatched[0].count >= 3);
});

s('requests in flight, event-loop lag, process memory and CPU are there', async ({ k }) => {
  const m = await scrape(k.url);
  assert.is(valueOf(m, 'http_requests_in_flight'), 1, 'the scrape itself is in flight');
  for (const name of [
    'nodejs_eventloop_lag_seconds',
    'process_resident_memory_bytes',
    'process_cpu_user_seconds_total',
    'nodejs_heap_size_used_bytes',
  ]) {
    assert.type(valueOf(m, name), 'number', name);
  }
});

s('adapter call durations are recorded through the decorators', async ({ k }) => {
  const labels = { port: 'cache', adapter: 'memory', method: 'set', outcome: 'ok' };
  const before = countOf(await scrape(k.url), 'kernel_adapter_call_duration_seconds', labels);
  // An idempotent create stores its key and response in the cache port.
  await k.request('POST', '/v1/notes', { body: { title: 'cached' }, headers: { 'Idempotency-Key': 'metrics-1' } });
  assert.ok(countOf(await scrape(k.url), 'kernel_adapter_call_duration_seconds', labels) >= before + 1);
});

s.run();

// ---- Outbox gauges, on every database driver that is available.
for (const make of await testDatabases('metrics: outbox gauges')) {
  const db = await make();
  const o = suite(`http: /metrics outbox gauges (${db.driver})`);
  o('outbox pending rows and relay lag are read from the outbox table', async () => {
    const clock = new ManualClock(Date.now());
    const config = { database: { driver: db.driver, url: db.url }, metrics: { enabled: true, token: TOKEN } };
    const k = await signedIn(await startKernel(config, { clock }));
    try {
      await k.kernel.outbox!.idle();
      let m = await scrape(k.url);
      assert.is(valueOf(m, 'kernel_outbox_pending_events'), 0);
      assert.is(valueOf(m, 'kernel_outbox_lag_seconds'), 0);
      await k.kernel.outbox!.stop(); // the relay is down: events wait in the outbox
      await k.request('POST', '/v1/notes', { body: { title: 'queued 1' } });
      await k.request('POST', '/v1/notes', { body: { title: 'queued 2' } });
      clock.advance(7_000);
      m = await scrape(k.url);
      assert.is(valueOf(m, 'kernel_outbox_pending_events'), 2);
      assert.is(valueOf(m, 'kernel_outbox_lag_seconds'), 7);
    } finally {
      await k.stop();
      await db.drop();
    }
  });
  o.run();
}

// ---- Off, and network rules.
const n = suite('http: /metrics access rules');

n('off by default: 404', async () => {
  const k = await startKernel();
  try {
    assertError(await k.request('GET', '/metrics'), 404, 'NOT_FOUND');
  } finally {
    await k.stop();
  }
});

n('enabled with neither token nor networks: loopback only', async () => {
  const k = await startKernel({ metrics: { enabled: true }, server: { trustProxy: true } });
  try {
    assert.is((await k.request('GET', '/metrics')).status, 200);
    assertError(
      await k.request('GET', '/metrics', { headers: { 'x-forwarded-for': '203.0.113.7' } }),
      403,
      'FORBIDDEN',
    );
  } finally {
    await k.stop();
  }
});

n('allowCidrs: only those networks; with a token as well, both are required', async () => {
  const k = await startKernel({
    metrics: { enabled: true, allowCidrs: ['10.0.0.0/8', '2001:db8::/32'], token: TOKEN },
    server: { trustProxy: true },
  });
  try {
    assertError(await k.request('GET', '/metrics', { headers: auth }), 403, 'FORBIDDEN'); // 127.0.0.1 is not listed
    assertError(await k.request('GET', '/metrics', { headers: { 'x-forwarded-for': '10.1.2.3' } }), 401);
    assert.is(
      (await k.request('GET', '/metrics', { headers: { ...auth, 'x-forwarded-for': '10.1.2.3' } })).status,
      200,
    );
    assert.is(
      (await k.request('GET', '/metrics', { headers: { ...auth, 'x-forwarded-for': '2001:db8::5' } })).status,
      200,
    );
    assertError(await k.request('GET', '/metrics', { headers: { ...auth, 'x-forwarded-for': '11.0.0.1' } }), 403);
  } finally {
    await k.stop();
  }
});

n('a bad CIDR fails the boot naming it', async () => {
  try {
    const config = loadConfig({
      env: {},
      overrides: {
        metrics: { enabled: true, allowCidrs: ['10.0.0.0/33'] },
        database: { url: tempSqliteUrl() },
        log: { level: 'silent' },
      },
    });
    const k = await createKernel(config, { logger: pino({ level: 'silent' }) });
    await k.stop();
    assert.unreachable('booted');
  } catch (err) {
    assert.instance(err, BootError);
    assert.match(String((err as BootError).message), /metrics\.allowCidrs\[0\]/);
  }
});

n.run();

// ---- Plugin metrics and adapter errors.
const failing = defineAdapter<Cache>({
  port: 'cache', name: 'failing', description: 'fails every get (tests)',
  optionsSchema: { type: 'object', additionalProperties: false, properties: {} },
  async create(_options, ctx) {
    const inner = (await memoryCache.create({}, ctx)) as Cache;
    return { ...inner, get: async () => { throw new Error('cache is down'); } };
  },
});

const metered = definePlugin({
  name: 'metered',
  version: '1',
  services: {
    hits: ({ metrics }: { metrics: PluginMetrics }) =>
      metrics.counter({ name: 'metered_hits_total', help: 'Hits by kind', labelNames: ['kind'] as const }),
  },
  handlers: {
    'metered.hit': async (
      _req: HandlerRequest,
      { services }: RequestContext<{ hits: Counter<'kind'>; cache: Cache }>,
    ) => {
      services.hits.inc({ kind: 'plain' });
      return { ok: true };
    },
    'metered.cached': async (_req: HandlerRequest, { services }: RequestContext<{ cache: Cache }>) => {
      await services.cache.get('x');
      return { ok: true };
    },
  },
});
const meteredContract = {
  openapi: '3.1.0',
  info: { title: 'Metered', version: '1' },
  paths: {
    '/hit': {
      post: {
        operationId: 'metered.hit',
        responses: {
          200: { description: 'Counted.', content: { 'application/json': { schema: { type: 'object' } } } },
        },
      },
    },
    '/cached': {
      get: {
        operationId: 'metered.cached',
        responses: { 200: { description: 'Read.', content: { 'application/json': { schema: { type: 'object' } } } } },
      },
    },
  },
};

const p = suite<{ k: Kernel; url: string }>('http: plugin metrics and adapter errors');
p.before(async (ctx) => {
  ctx.k = await bootCustom({
    plugins: [metered], contracts: { metered: meteredContract }, adapters: { cache: { failing } },
    config: { adapters: { cache: { use: 'failing' } }, metrics: { enabled: true, token: TOKEN } },
  });
  ctx.url = `http://127.0.0.1:${(await ctx.k.listen(0, '127.0.0.1')).port}`;
});
p.after(async (ctx) => { await ctx.k.stop(); });

p('a plugin adds its own metric through the `metrics` handle in its container', async ({ url }) => {
  await Promise.all(Array.from({ length: 3 }, () => request(url, 'POST', '/v1/hit')));
  assert.is(valueOf(await scrape(url), 'metered_hits_total', { kind: 'plain' }), 3);
});

p('plugin metric names must start with the plugin name; asking again returns the same metric', ({ k }) => {
  const handle = k.metrics.forPlugin('metered');
  assert.throws(() => handle.counter({ name: 'other_total', help: 'x' }), /metered_\*/);
  assert.is(
    handle.counter({ name: 'metered_hits_total', help: 'Hits by kind' }),
    k.runtimes.get('metered')!.container.cradle.hits,
  );
  assert.throws(() => handle.gauge({ name: 'metered_hits_total', help: 'x' }), /not a gauge/);
});

p('failed adapter calls are counted by port, adapter and method', async ({ url }) => {
  const r = await request(url, 'GET', '/v1/cached');
  assertError(r, 503);
  const m = await scrape(url);
  assert.is(valueOf(m, 'kernel_adapter_call_errors_total', { port: 'cache', adapter: 'failing', method: 'get' }), 1);
  assert.is(countOf(m, 'kernel_adapter_call_duration_seconds', { port: 'cache', method: 'get', outcome: 'error' }), 1);
});

p.run();
