import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Writable } from 'node:stream';
import type { ServerResponse } from 'node:http';
import pino from 'pino';
import {
  definePlugin, type FinishedRequest, type HandlerRequest, type RequestContext, type RequestObserverDefinition,
} from '../../kernel/index.ts';
import type { Kernel } from '../../kernel/boot.ts';
import { observation } from '../../kernel/http/observers.ts';
import { bootCustom } from '../helpers/custom.ts';
import { request } from '../helpers/kernel.ts';

/** A logger whose lines the test can read. */
function capturingLogger() {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({ write(chunk, _enc, done) { lines.push(JSON.parse(chunk.toString())); done(); } });
  return { logger: pino({ level: 'warn' }, stream), lines };
}

/** Resolves when `n` observations have arrived (bounded by a deadline, not a sleep). */
function collector() {
  const seen: FinishedRequest[] = [];
  let waiters: Array<{ n: number; resolve: () => void }> = [];
  return {
    seen,
    push(r: FinishedRequest) {
      seen.push(r);
      waiters = waiters.filter((w) => (seen.length >= w.n ? (w.resolve(), false) : true));
    },
    until(n: number, ms = 5000): Promise<void> {
      if (seen.length >= n) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`only ${seen.length} of ${n} observations after ${ms} ms`)),
          ms,
        );
        waiters.push({ n, resolve: () => { clearTimeout(timer); resolve(); } });
      });
    },
  };
}

let lastResponse: ServerResponse | undefined;
const contract = {
  openapi: '3.1.0',
  info: { title: 'Watched', version: '1' },
  paths: {
    '/items/{id}': {
      post: {
        operationId: 'watched.touch',
        security: [{ bearerAuth: [] }, {}],
        'x-permissions': [],
        parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }],
        requestBody: { content: { 'application/json': { schema: { type: 'object' } } } },
        responses: {
          200: { description: 'Touched.', content: { 'application/json': { schema: { type: 'object' } } } },
        },
      },
    },
  },
};
const handlers = {
  'watched.touch': (req: HandlerRequest<unknown, unknown, { id: string }>, ctx: RequestContext) => {
    lastResponse = ctx.koa.res;
    return { id: req.params.id, ok: true };
  },
};
const authSchemes = {
  bearerAuth: () => async (input: { headers: Record<string, string | string[] | undefined> }) =>
    (input.headers.authorization === 'Bearer good' ? { type: 'user', id: 'user-1', permissions: [] } : undefined),
};

// ---- With observers.
const good = collector();
const finishedWhenObserved: boolean[] = [];
let releaseSlow: () => void = () => {};
const observers: RequestObserverDefinition[] = [
  { name: 'broken', create: () => () => { throw new Error('observer bug'); } },
  { name: 'rejecting', create: () => async () => { throw new Error('async observer bug'); } },
  { name: 'stuck', create: () => () => new Promise<void>((resolve) => { releaseSlow = resolve; }) },
  {
    name: 'recorder',
    create: (cradle) => {
      assert.type(cradle.logger, 'object', 'the observer is made from the plugin container');
      return (r) => { finishedWhenObserved.push(lastResponse?.writableFinished === true); good.push(r); };
    },
  },
];
const watched = definePlugin({ name: 'watched', version: '1', handlers, authSchemes, observers });

const s = suite<{ k: Kernel; url: string; lines: Array<Record<string, unknown>> }>('kernel: request observers');
s.before(async (ctx) => {
  const { logger, lines } = capturingLogger();
  ctx.lines = lines;
  ctx.k = await bootCustom({
    plugins: [watched],
    contracts: { watched: contract },
    logger,
    config: { log: { level: 'warn', requests: false } },
  });
  ctx.url = `http://127.0.0.1:${(await ctx.k.listen(0, '127.0.0.1')).port}`;
});
s.after(async (ctx) => { releaseSlow(); await ctx.k.stop(); });

s('an observer gets operationId, route template, principal, status, bytes and duration', async ({ url }) => {
  const before = good.seen.length;
  const body = JSON.stringify({ note: 'x'.repeat(100) });
  const res = await fetch(`${url}/v1/items/abc`, {
    method: 'POST',
    body,
    headers: { 'content-type': 'application/json', authorization: 'Bearer good' },
  });
  const text = await res.text();
  assert.is(res.status, 200);
  await good.until(before + 1);
  const r = good.seen[before];
  assert.is(r.operationId, 'watched.touch');
  assert.is(r.route, '/v1/items/{id}');
  assert.is(r.method, 'POST');
  assert.is(r.principalId, 'user-1');
  assert.is(r.principalType, 'user');
  assert.is(r.status, 200);
  assert.is(r.bytesIn, Buffer.byteLength(body));
  assert.is(r.bytesOut, Buffer.byteLength(text));
  assert.ok(r.durationMs > 0 && r.durationMs < 5000, `duration ${r.durationMs}`);
  assert.is(r.requestId, res.headers.get('x-request-id'));
  assert.is(r.aborted, false);
});

s('anonymous and unmatched requests are observed too, with nulls', async ({ url }) => {
  const before = good.seen.length;
  assert.is((await request(url, 'POST', '/v1/items/z', { body: {} })).status, 200);
  assert.is((await request(url, 'GET', '/nowhere')).status, 404);
  await good.until(before + 2);
  const [anon, unmatched] = good.seen.slice(before);
  assert.is(anon.principalId, null);
  assert.is(unmatched.operationId, null);
  assert.is(unmatched.route, null);
  assert.is(unmatched.status, 404);
});

s('a chunked request body is counted as read', async ({ url }) => {
  const before = good.seen.length;
  const payload = JSON.stringify({ data: 'y'.repeat(1000) });
  const stream = new ReadableStream({ start(c) { c.enqueue(new TextEncoder().encode(payload)); c.close(); } });
  const res = await fetch(`${url}/v1/items/c`, {
    method: 'POST',
    body: stream,
    headers: { 'content-type': 'application/json' },
    duplex: 'half',
  } as RequestInit);
  assert.is(res.status, 200, await res.text());
  await good.until(before + 1);
  const r = good.seen[before];
  assert.is(r.bytesIn, payload.length);
});

s(
  'observers run after the response is finished; throwing, rejecting and stuck ones are logged, not felt',
  async ({ url, lines }) => {
    const before = good.seen.length;
    // The `stuck` observer never settles: twenty requests in parallel still all answer.
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => request(url, 'POST', `/v1/items/p${i}`, { body: {} })),
    );
    assert.ok(results.every((r) => r.status === 200));
    await good.until(before + 20);
    assert.ok(finishedWhenObserved.every(Boolean), 'the response had finished when each observer ran');
    const threw = lines.filter((l) => l.msg === 'observer threw' && l.observer === 'watched.broken');
    const failed = lines.filter((l) => l.msg === 'observer failed' && l.observer === 'watched.rejecting');
    assert.ok(threw.length >= 20, `logged ${threw.length} throws`);
    assert.ok(failed.length >= 20, `logged ${failed.length} rejections`);
  },
);

s.run();

// ---- Without observers: nothing is built.
const quiet = definePlugin({ name: 'watched', version: '1', handlers, authSchemes });
const z = suite('kernel: no observers, no work');

z('with zero observers the observation builder never runs; with one it runs once per request', async () => {
  const original = observation.build;
  let built = 0;
  observation.build = (...args) => { built++; return original(...args); };
  try {
    const k = await bootCustom({ plugins: [quiet], contracts: { watched: contract } });
    const url = `http://127.0.0.1:${(await k.listen(0, '127.0.0.1')).port}`;
    try {
      await Promise.all(Array.from({ length: 10 }, (_, i) => request(url, 'POST', `/v1/items/q${i}`, { body: {} })));
      await new Promise((r) => setImmediate(r));
      assert.is(built, 0, 'no observation built without observers');
    } finally {
      await k.stop();
    }

    const seen = collector();
    const one = definePlugin({
      name: 'watched',
      version: '1',
      handlers,
      authSchemes,
      observers: [{ name: 'one', create: () => (r) => seen.push(r) }],
    });
    const k2 = await bootCustom({ plugins: [one], contracts: { watched: contract } });
    const url2 = `http://127.0.0.1:${(await k2.listen(0, '127.0.0.1')).port}`;
    try {
      await Promise.all(Array.from({ length: 10 }, (_, i) => request(url2, 'POST', `/v1/items/q${i}`, { body: {} })));
      await seen.until(10);
      assert.is(built, 10);
    } finally {
      await k2.stop();
    }
  } finally {
    observation.build = original;
  }
});

z.run();
