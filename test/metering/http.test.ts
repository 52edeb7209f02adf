import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { definePlugin, errors, reply, type HandlerRequest, type RequestContext } from '../../kernel/index.ts';
import { enforce, entitlementError, type MeteringExports } from '../../plugins/metering/api.ts';
import { startMetering, type MeteringKit } from './helpers.ts';

type Ctx = RequestContext<MeteringExports>;

/** A caller of metering's exports, the way a tool or chat plugin would use them. */
const spender = definePlugin({
  name: 'spender',
  version: '1.0.0',
  requires: ['metering'],
  handlers: {
    'spender.spend': async ({ body }: HandlerRequest<{ tokens: number }>, { principal, services, em }: Ctx) => {
      if (!principal) throw errors.unauthorized();
      const headers = enforce(await services.limits.check(principal.id, { tokens: body.tokens }));
      services.metering.record(em, {
        userId: principal.id, kind: 'tool', subject: 'spend', tokensIn: body.tokens, tokensOut: 0, costMicros: 0,
      });
      await em.flush();
      return reply(200, { ok: true }, headers);
    },
    'spender.premium': async (_req: HandlerRequest, { principal, services }: Ctx) => {
      const e = await services.entitlements.check(principal!.id, 'tools');
      if (!e.ok) throw entitlementError('tools', e.plans);
      return { ok: true };
    },
  },
});
const json = { 'application/json': { schema: { type: 'object' } } };
const contract = {
  openapi: '3.1.0',
  info: { title: 'Spender', version: '1' },
  paths: {
    '/spend': {
      post: {
        operationId: 'spender.spend', security: [{ bearerAuth: [] }], 'x-permissions': [],
        requestBody: { required: true, content: { 'application/json': { schema: {
          type: 'object', required: ['tokens'], properties: { tokens: { type: 'integer', minimum: 0 } },
        } } } },
        responses: { 200: { description: 'Spent.', content: json } },
      },
    },
    '/premium': {
      get: {
        operationId: 'spender.premium', security: [{ bearerAuth: [] }], 'x-permissions': [],
        responses: { 200: { description: 'Allowed.', content: json } },
      },
    },
  },
};

const test = suite('metering over HTTP: a caller\'s 402s and warning header, and request metering');
let k: MeteringKit;

test.before(async () => {
  k = await startMetering({ plugins: [spender], contracts: { spender: contract } });
});
test.after(async () => { await k?.stop(); });

test('X-Usage-Warning from 80%, then 402 USAGE_LIMIT_EXCEEDED in the error format', async () => {
  const u = await k.asUser();
  const first = await u.post('/v1/spend', { tokens: 7000 });
  assert.is(first.status, 200, first.text);
  assert.is(first.headers.get('x-usage-warning'), null);
  const second = await u.post('/v1/spend', { tokens: 2000 });
  assert.is(second.status, 200);
  assert.match(second.headers.get('x-usage-warning') ?? '', /90% of your tokensPerDay limit/);
  const third = await u.post('/v1/spend', { tokens: 2000 });
  assert.is(third.status, 402, third.text);
  assert.is(third.body.error.code, 'USAGE_LIMIT_EXCEEDED');
  assert.is(third.body.error.details.limit, 'tokensPerDay');
  assert.equal(third.body.error.details.plans, ['premium', 'enterprise']);
  assert.ok(Date.parse(third.body.error.details.resetAt) > Date.now());
});

test('402 SUBSCRIPTION_REQUIRED with the plans that include the feature', async () => {
  const u = await k.asUser();
  const res = await u.get('/v1/premium');
  assert.is(res.status, 402, res.text);
  assert.is(res.body.error.code, 'SUBSCRIPTION_REQUIRED');
  assert.equal(res.body.error.details.plans, ['premium', 'enterprise']);
});

/** Observers run after the response is sent: wait until this many of the user's requests were seen. */
async function seen(id: string, n: number) {
  for (let i = 0; i < 200; i++) {
    const mine = k.cradle.requestMeter.unflushed(id) as Array<{ tally: { total: number } }>;
    if (mine.reduce((s, m) => s + m.tally.total, 0) >= n) return;
    await new Promise((r) => setImmediate(r));
  }
  throw new Error(`the observer did not see ${n} requests`);
}

test('GET /usage/requests: counts, bytes, operations and routes; flushed without double counting', async () => {
  const u = await k.asUser();
  await u.post('/v1/spend', { tokens: 1 });
  await u.post('/v1/spend', { tokens: 1 });
  const bad = await u.post('/v1/spend', { tokens: -1 });
  assert.is(bad.status, 400);
  await u.get('/v1/usage/summary');
  await seen(u.id, 4);
  const stats = await u.get('/v1/usage/requests');
  assert.is(stats.status, 200, stats.text);
  const s = stats.body;
  assert.is(s.userId, u.id);
  assert.is(s.totalRequests, 4);
  assert.is(s.successfulRequests, 3);
  assert.is(s.failedRequests, 1);
  assert.equal(s.operationCounts, { 'spender.spend': 3, 'metering.summary': 1 });
  assert.equal(s.endpointCounts, { '/v1/spend': 3, '/v1/usage/summary': 1 });
  assert.ok(s.bytesIn > 0 && s.bytesOut > 0);
  assert.ok(s.averageResponseTimeMs > 0);
  assert.ok(Date.parse(s.firstRequestTime) <= Date.parse(s.lastRequestTime));
  await seen(u.id, 5);
  await k.cradle.requestMeter.flush();
  assert.equal(k.cradle.requestMeter.unflushed(u.id), []);
  const rows = await k.kernel.orm!.em.fork().find('MeteringRequestStat', { principalId: u.id });
  assert.is(rows.length, 1);
  const again = await u.get('/v1/usage/requests');
  assert.is(again.body.totalRequests, 5, 'the flushed row and nothing twice');
  assert.is(again.body.operationCounts['metering.requests'], 1);
});

test('two instances\' flushes on one row add up (compare-and-set); a flush during a flush misses nothing', async () => {
  const u = await k.asUser();
  const meter = k.cradle.requestMeter;
  const request = { requestId: 'r', method: 'GET', operationId: 'x.y', route: '/x', principalId: u.id,
    principalType: 'user', status: 200, bytesIn: 1, bytesOut: 2, durationMs: 1, aborted: false };
  for (let i = 0; i < 10; i++) meter.observe(request);
  const other = new (meter.constructor as any)(k.kernel.orm, k.kernel.root.cradle.clock, k.kernel.logger);
  for (let i = 0; i < 7; i++) other.observe(request);
  const racing = Promise.all([meter.flush(), other.flush()]);
  for (let i = 0; i < 3; i++) meter.observe(request); // while the flush runs
  await meter.flush(); // waits for the running one, then writes these
  await racing;
  const rows = await k.kernel.orm!.em.fork().find<{ total: number; operations: Record<string, number> }>(
    'MeteringRequestStat', { principalId: u.id } as never);
  assert.is(rows.length, 1);
  assert.is(Number(rows[0].total), 20);
  assert.is(rows[0].operations['x.y'], 20);
});

test.run();
