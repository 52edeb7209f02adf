import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import pino from 'pino';
import { definePlugin, errors, reply, type HandlerRequest } from '../../kernel/index.ts';
import type { Kernel } from '../../kernel/boot.ts';
import { ManualClock } from '../../kernel/ports/clock.ts';
import type { Cache } from '../../kernel/ports/cache.ts';
import memoryCache from '../../adapters/cache/memory.ts';
import { bootCustom } from '../helpers/custom.ts';
import { signedIn } from '../helpers/signedIn.ts';
import { assertError, request, startKernel, type TestKernel, type TestResponse } from '../helpers/kernel.ts';
import { serviceUrl, uniqueName } from '../helpers/services.ts';
import { sharedCacheAdapter } from './customKernel.ts';

// ---- On the example plugin: notes.create is marked x-idempotent in contracts/notes.yaml.
const notes = suite<{ k: TestKernel }>('http: idempotency keys on notes.create');
notes.before(async (ctx) => { ctx.k = await signedIn(await startKernel()); });
notes.after(async (ctx) => { await ctx.k.stop(); });

const post = (k: TestKernel, key: string | undefined, body: unknown) =>
  k.request('POST', '/v1/notes', { body, headers: key === undefined ? {} : { 'Idempotency-Key': key } });
const countTitled = async (k: TestKernel, title: string) =>
  (await k.request('GET', '/v1/notes?limit=100')).body.data.filter((n: { title: string }) => n.title === title).length;

notes('a replay returns the first response, marked, and creates nothing', async ({ k }) => {
  const first = await post(k, 'create-1', { title: 'once', body: 'x' });
  assert.is(first.status, 201, first.text);
  assert.is(first.headers.get('idempotent-replayed'), null);
  const again = await post(k, 'create-1', { body: 'x', title: 'once' }); // key order does not matter
  assert.is(again.status, 201, again.text);
  assert.is(again.headers.get('idempotent-replayed'), 'true');
  assert.match(again.headers.get('content-type') ?? '', /application\/json/);
  assert.equal(again.body, first.body);
  assert.is(await countTitled(k, 'once'), 1);
});

notes('the same key with another body is 422; other keys and no key are independent', async ({ k }) => {
  assert.is((await post(k, 'create-2', { title: 'two' })).status, 201);
  assertError(await post(k, 'create-2', { title: 'not two' }), 422, 'IDEMPOTENCY_KEY_REUSED');
  assert.is((await post(k, 'create-3', { title: 'two' })).status, 201);
  assert.is((await post(k, undefined, { title: 'two' })).status, 201);
  assert.is((await post(k, undefined, { title: 'two' })).status, 201);
  assert.is(await countTitled(k, 'two'), 4);
});

notes('keys are checked: too long or with spaces is 400', async ({ k }) => {
  const long = await post(k, 'k'.repeat(256), { title: 'bad key' });
  assertError(long, 400, 'VALIDATION_ERROR');
  assert.is(long.body.error.details[0].field, 'header.idempotency-key');
  assertError(await post(k, 'has space', { title: 'bad key' }), 400, 'VALIDATION_ERROR');
  assert.is((await post(k, 'k'.repeat(255), { title: 'bad key' })).status, 201);
  assert.is(await countTitled(k, 'bad key'), 1);
});

notes('validation failures are not stored: the key stays usable', async ({ k }) => {
  assertError(await post(k, 'create-4', { title: 42 }), 400, 'VALIDATION_ERROR');
  assert.is((await post(k, 'create-4', { title: 'valid now' })).status, 201);
});

notes.run();

// ---- A plugin whose handlers the test controls.
let calls = 0;
let entered: () => void = () => {};
let gate: Promise<void> = Promise.resolve();
let open: () => void = () => {};
function closeGate(): Promise<void> {
  gate = new Promise((resolve) => { open = resolve; });
  return new Promise((resolve) => { entered = resolve; });
}

const gated = definePlugin({
  name: 'gated', version: '1',
  handlers: {
    'gated.start': async ({ body }: HandlerRequest<{ name?: string } | undefined>) => {
      const run = ++calls;
      entered();
      await gate;
      return reply(201, { run, name: body?.name ?? null }, { 'X-Run': String(run) });
    },
    'gated.flaky': async () => {
      if (++calls === 1) throw new Error('boom');
      return { run: calls, name: null };
    },
    'gated.missing': async () => {
      calls++;
      throw errors.notFound('thing');
    },
  },
});
const runSchema = {
  type: 'object',
  required: ['run'],
  properties: { run: { type: 'integer' }, name: { type: ['string', 'null'] } },
};
const gatedContract = {
  openapi: '3.1.0',
  info: { title: 'Gated', version: '1' },
  paths: {
    '/runs': {
      post: {
        operationId: 'gated.start',
        'x-idempotent': true,
        requestBody: {
          content: { 'application/json': { schema: { type: 'object', properties: { name: { type: 'string' } } } } },
        },
        responses: { 201: { description: 'Ran.', content: { 'application/json': { schema: runSchema } } } },
      },
    },
    '/flaky': {
      post: {
        operationId: 'gated.flaky',
        'x-idempotent': true,
        responses: { 200: { description: 'Ran.', content: { 'application/json': { schema: runSchema } } } },
      },
    },
    '/missing': {
      post: { operationId: 'gated.missing', 'x-idempotent': true, responses: { 200: { description: 'Never.' } } },
    },
  },
};

interface Pair { a: Kernel; b: Kernel; urlA: string; urlB: string; clock?: ManualClock }
async function twoKernels(make: () => Promise<Kernel>, clock?: ManualClock): Promise<Pair> {
  const [a, b] = await Promise.all([make(), make()]);
  const [pa, pb] = await Promise.all([a.listen(0, '127.0.0.1'), b.listen(0, '127.0.0.1')]);
  return { a, b, urlA: `http://127.0.0.1:${pa.port}`, urlB: `http://127.0.0.1:${pb.port}`, clock };
}
const start = (url: string, key: string, name = 'job') =>
  request(url, 'POST', '/v1/runs', { body: { name }, headers: { 'Idempotency-Key': key } });

/** Runs on any pair of kernels sharing one cache. */
function sharedCacheTests(title: string, makePair: () => Promise<Pair>) {
  const s = suite<{ p: Pair }>(title);
  s.before(async (ctx) => { ctx.p = await makePair(); });
  s.after(async (ctx) => {
    open();
    await (ctx.p.a.root.cradle.cache as Cache).deletePrefix('kernel:idempotency:').catch(() => undefined);
    await Promise.all([ctx.p.a.stop(), ctx.p.b.stop()]);
  });
  s.before.each(() => { calls = 0; gate = Promise.resolve(); });

  s(
    'concurrent duplicates on both instances: one runs, the others get 409 while it runs, then replays',
    async ({ p }) => {
      const inHandler = closeGate();
      const first = start(p.urlA, 'dup-1');
      await inHandler;
      const duplicates = await Promise.all(
        Array.from({ length: 8 }, (_, i) => start(i % 2 ? p.urlA : p.urlB, 'dup-1')),
      );
      for (const d of duplicates) {
        assertError(d, 409, 'IDEMPOTENCY_IN_PROGRESS');
        assert.is(d.headers.get('retry-after'), '1');
      }
      open();
      const done = await first;
      assert.is(done.status, 201, done.text);
      assert.equal(done.body, { run: 1, name: 'job' });
      const replays = await Promise.all([start(p.urlA, 'dup-1'), start(p.urlB, 'dup-1')]);
      for (const r of replays) {
        assert.is(r.status, 201);
        assert.equal(r.body, done.body);
        assert.is(r.headers.get('x-run'), '1', 'headers the operation set are replayed');
        assert.is(r.headers.get('idempotent-replayed'), 'true');
        assert.is.not(
          r.headers.get('x-request-id'),
          done.headers.get('x-request-id'),
          'each delivery has its own request id',
        );
      }
      assert.is(calls, 1, 'the handler ran once');
    },
  );

  s('a burst of identical requests (Promise.all, no gate) runs the handler once', async ({ p }) => {
    const results: TestResponse[] = await Promise.all(
      Array.from({ length: 12 }, (_, i) => start(i % 2 ? p.urlA : p.urlB, 'burst-1')),
    );
    const ok = results.filter((r) => r.status === 201);
    assert.ok(ok.length >= 1, 'at least the first answered');
    assert.ok(results.every((r) => r.status === 201 || r.status === 409), results.map((r) => r.status).join(','));
    for (const r of ok) assert.equal(r.body, { run: 1, name: 'job' });
    assert.is(calls, 1);
  });

  s('a different body under the same key is 422, on either instance', async ({ p }) => {
    assert.is((await start(p.urlA, 'mismatch-1', 'one')).status, 201);
    assertError(await start(p.urlB, 'mismatch-1', 'two'), 422, 'IDEMPOTENCY_KEY_REUSED');
    assertError(
      await request(p.urlB, 'POST', '/v1/flaky', { headers: { 'Idempotency-Key': 'mismatch-1' } }),
      422,
      'IDEMPOTENCY_KEY_REUSED',
    );
    assert.is(calls, 1);
  });

  s('a 5xx is not stored: the key is released and a retry runs again', async ({ p }) => {
    const key = { 'Idempotency-Key': 'flaky-1' };
    assertError(await request(p.urlA, 'POST', '/v1/flaky', { headers: key }), 500, 'INTERNAL_ERROR');
    const retry = await request(p.urlB, 'POST', '/v1/flaky', { headers: key });
    assert.is(retry.status, 200, retry.text);
    assert.is(retry.body.run, 2);
    const replay = await request(p.urlA, 'POST', '/v1/flaky', { headers: key });
    assert.is(replay.headers.get('idempotent-replayed'), 'true');
    assert.is(calls, 2);
  });

  s('a 4xx the handler threw is stored and replayed', async ({ p }) => {
    const key = { 'Idempotency-Key': 'missing-1' };
    const first = await request(p.urlA, 'POST', '/v1/missing', { headers: key });
    assertError(first, 404, 'NOT_FOUND');
    const again = await request(p.urlB, 'POST', '/v1/missing', { headers: key });
    assertError(again, 404, 'NOT_FOUND');
    assert.is(again.headers.get('idempotent-replayed'), 'true');
    assert.equal(again.body, first.body);
    assert.is(calls, 1);
  });

  s('keys are per caller: the same key from another IP is another request', async ({ p }) => {
    // Behind a trusted proxy the client IP comes from X-Forwarded-For.
    const from = (ip: string) =>
      request(p.urlA, 'POST', '/v1/runs', {
        body: { name: 'ip' },
        headers: { 'Idempotency-Key': 'per-ip', 'X-Forwarded-For': ip },
      });
    assert.is((await from('198.51.100.1')).body.run, 1);
    assert.is((await from('198.51.100.2')).body.run, 2);
    assert.is((await from('198.51.100.1')).headers.get('idempotent-replayed'), 'true');
  });

  s.run();
}

const serverConfig = { server: { trustProxy: true } };

// Two kernels in one process, one memory cache, one manual clock: lease expiry is tested here.
const clock = new ManualClock(Date.now());
const shared = memoryCache.create({}, { logger: pino({ level: 'silent' }), clock, serviceName: 't' }) as Cache;
const memoryPair = () => twoKernels(() => bootCustom({
  plugins: [gated], contracts: { gated: gatedContract }, adapters: sharedCacheAdapter(shared), clock,
  config: { ...serverConfig, adapters: { cache: { use: 'shared' } }, idempotency: { leaseSeconds: 30 } },
}), clock);
sharedCacheTests('http: idempotency across two kernels sharing a memory cache', memoryPair);

const crash = suite<{ p: Pair }>('http: idempotency lease after a crash');
crash.before(async (ctx) => { ctx.p = await memoryPair(); });
crash.after(async (ctx) => { open(); await Promise.all([ctx.p.a.stop(), ctx.p.b.stop()]); });

crash('an instance that stops renewing its lease (a crash) frees the key when the lease expires', async ({ p }) => {
  calls = 0;
  const inHandler = closeGate();
  // Instance A takes the key and hangs, as if it had died mid-request: it renews only every
  // leaseSeconds/3 of real time (10 s), which this test never reaches.
  const stuck = start(p.urlA, 'crash-1');
  await inHandler;
  assertError(await start(p.urlB, 'crash-1'), 409, 'IDEMPOTENCY_IN_PROGRESS');
  p.clock!.advance(29_000);
  assertError(await start(p.urlB, 'crash-1'), 409, 'IDEMPOTENCY_IN_PROGRESS');
  p.clock!.advance(2_000);
  gate = Promise.resolve();
  const taken = await start(p.urlB, 'crash-1');
  assert.is(taken.status, 201, taken.text);
  assert.is(taken.body.run, 2, 'B ran it: the key was not stuck');
  open();
  assert.is((await stuck).status, 201, 'A still answers its own client');
  const replay = await start(p.urlA, 'crash-1');
  assert.is(replay.headers.get('idempotent-replayed'), 'true');
  assert.is(replay.body.run, 2, 'the stored response is the one whose lease held');
});

crash.run();

// The same on Redis, when REDIS_URL is set: two kernels, one Redis, a unique key prefix.
const redisUrl = serviceUrl('REDIS_URL', 'idempotency across two kernels on Redis');
if (redisUrl) {
  const keyPrefix = `${uniqueName('idem')}:`;
  sharedCacheTests('http: idempotency across two kernels on Redis', () => twoKernels(() => bootCustom({
    plugins: [gated], contracts: { gated: gatedContract },
    config: { ...serverConfig, adapters: { cache: { use: 'redis', url: redisUrl, keyPrefix } } },
  })));
}
