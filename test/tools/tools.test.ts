import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { startTestKernel, assertError, type SignedInClient, type TestKit } from '../kit/index.ts';
import { startToolServer, type ToolServer } from './toolServer.ts';
import { stubMetering } from './stubMetering.ts';

const s = suite('tools: registry, invocation through egress, the invocation log');
let k: TestKit;
let server: ToolServer;
let admin: SignedInClient;
let meter: ReturnType<typeof stubMetering>;

s.before(async () => {
  server = await startToolServer();
  meter = stubMetering();
  k = await startTestKernel({
    plugins: [meter.plugin],
    config: {
      plugins: { tools: {} },
      adapters: { egress: { use: 'undici', allowCidrs: ['127.0.0.1/32'] } },
      rateLimit: { enabled: false },
    },
  });
  admin = await k.asAdmin();
});
s.after(async () => {
  await k?.stop();
  await server?.close();
});

async function tool(path: string, extra: Record<string, unknown> = {}) {
  const res = await admin.post('/v1/admin/tools', {
    name: `${path.slice(1)}-${Math.random().toString(36).slice(2, 8)}`,
    description: 'A test tool', usageInfo: 'Send {input}', endpointUrl: `${server.url}${path}`, ...extra,
  });
  assert.is(res.status, 201, res.text);
  return res.body as { id: string; name: string };
}

async function entitledUser(): Promise<SignedInClient> {
  const u = await k.asUser();
  meter.state.entitled.add(u.id);
  return u;
}

s('an admin registers a tool: header values are sealed, never returned, and sent to the endpoint', async () => {
  const t = await tool('/echo', { headers: { 'X-Tool-Key': 'tk_live_secret' }, tokensPath: 'usage.total_tokens' });
  const shown = await admin.get(`/v1/tools/${t.id}`);
  assert.equal(shown.body.headerNames, ['X-Tool-Key']);
  assert.not.match(shown.text, 'tk_live_secret');
  const stored = await k.kernel.root.cradle.orm.em.fork().getConnection().execute(
    'select headers from tools_tools where id = ?', [t.id]);
  assert.not.match(JSON.stringify(stored), 'tk_live_secret', 'sealed at rest');
  const user = await entitledUser();
  const res = await user.post(`/v1/tools/${t.id}/invoke`, { input: { q: 'hi' } });
  assert.is(res.status, 200, res.text);
  assert.equal(res.body.output, { result: { q: 'hi' }, usage: { total_tokens: 42 } });
  assert.is(res.body.tokensUsed, 42);
  assert.is(res.body.tokensSource, 'reported');
  assert.is(server.seen.at(-1)!.headers['x-tool-key'], 'tk_live_secret');
  const userView = await user.get(`/v1/tools/${t.id}`);
  assert.is(userView.body.endpointUrl, undefined, 'users do not see the endpoint');
});

s('a tool that reports no tokens is counted with the tokenizer', async () => {
  const t = await tool('/plain');
  const res = await (await entitledUser()).post(`/v1/tools/${t.id}/invoke`, { input: 'count me' });
  assert.is(res.status, 200, res.text);
  assert.is(res.body.tokensSource, 'estimated');
  assert.ok(res.body.tokensUsed > 5 && res.body.tokensUsed < 40, String(res.body.tokensUsed));
});

s('no plan feature: 402 SUBSCRIPTION_REQUIRED with the plans that include it; the tool is not called', async () => {
  const t = await tool('/echo');
  const before = server.seen.length;
  const res = await (await k.asUser()).post(`/v1/tools/${t.id}/invoke`, { input: 1 });
  assertError(res, 402, 'SUBSCRIPTION_REQUIRED');
  assert.equal(res.body.error.details.plans, ['pro', 'enterprise']);
  assert.is(server.seen.length, before);
});

s('limits: a warning header at 80%, 402 USAGE_LIMIT_EXCEEDED at 100%, a grace period lets it through', async () => {
  const t = await tool('/echo');
  const user = await entitledUser();
  try {
    const message = 'You have used 85% of your daily tokens';
    meter.state.decision = { outcome: 'warn', message, limit: 'tokensPerDay' };
    const warned = await user.post(`/v1/tools/${t.id}/invoke`, { input: 1 });
    assert.is(warned.status, 200);
    assert.is(warned.headers.get('x-usage-warning'), 'You have used 85% of your daily tokens');
    const reset = '2026-12-02T00:00:00.000Z';
    meter.state.decision = { outcome: 'deny', code: 'USAGE_LIMIT_EXCEEDED', limit: 'tokensPerDay', resetAt: reset,
      plans: ['enterprise'] };
    const denied = await user.post(`/v1/tools/${t.id}/invoke`, { input: 1 });
    assertError(denied, 402, 'USAGE_LIMIT_EXCEEDED');
    const details = { limit: 'tokensPerDay', resetAt: reset, plans: ['enterprise'], upgrade: true };
    assert.equal(denied.body.error.details, details);
    meter.state.decision = { ...meter.state.decision, grace: true };
    const grace = await user.post(`/v1/tools/${t.id}/invoke`, { input: 1 });
    assert.is(grace.status, 200);
    assert.match(grace.headers.get('x-usage-warning') ?? '', 'grace');
  } finally {
    meter.state.decision = { outcome: 'ok' };
  }
});

s('a failing or hanging endpoint: 503 TOOL_UNAVAILABLE with Retry-After, logged with 0 tokens', async () => {
  const user = await entitledUser();
  for (const [path, extra] of [['/fail', {}], ['/hang', { timeoutMs: 300 }]] as const) {
    const t = await tool(path, extra);
    const res = await user.post(`/v1/tools/${t.id}/invoke`, { input: 1 });
    assertError(res, 503, 'TOOL_UNAVAILABLE');
    assert.is(res.headers.get('retry-after'), '30');
    const log = await user.get(`/v1/invocations?toolId=${t.id}`);
    assert.is(log.body.data.length, 1);
    assert.is(log.body.data[0].status, 'unavailable');
    assert.is(log.body.data[0].tokensUsed, 0);
  }
  const rejected = await user.post(`/v1/tools/${(await tool('/reject')).id}/invoke`, { input: 1 });
  assertError(rejected, 502, 'TOOL_ERROR');
  assert.is(rejected.body.error.details.status, 422);
  assertError(await user.post(`/v1/tools/${(await tool('/notjson')).id}/invoke`, { input: 1 }), 502, 'TOOL_ERROR');
});

s('every one of 60 concurrent invocations is logged, and the summary adds up (SC-008)', async () => {
  const [a, b] = [await tool('/echo', { tokensPath: 'usage.total_tokens' }), await tool('/fail')];
  const user = await entitledUser();
  const recordedBefore = meter.state.recorded.length;
  const results = await Promise.all(Array.from({ length: 60 }, (_, i) =>
    user.post(`/v1/tools/${(i % 3 ? a : b).id}/invoke`, { input: i })));
  assert.is(results.filter((r) => r.status === 200).length, 40);
  assert.is(results.filter((r) => r.status === 503).length, 20);
  const summary = await user.get('/v1/invocations/summary');
  assert.is(summary.body.invocations, 60);
  assert.is(summary.body.totalTokens, 40 * 42);
  const perTool = Object.fromEntries(summary.body.perTool.map((t: any) => [t.toolId, t]));
  assert.equal([perTool[a.id].invocations, perTool[a.id].failures], [40, 0]);
  assert.equal([perTool[b.id].invocations, perTool[b.id].failures], [20, 20]);
  assert.is(meter.state.recorded.length - recordedBefore, 60, 'a usage event per invocation');
  let rows = 0;
  for (let cursor: string | null = ''; cursor !== null;) {
    const page = await user.get(`/v1/invocations?limit=25${cursor ? `&cursor=${cursor}` : ''}`);
    rows += page.body.data.length;
    cursor = page.body.pagination.nextCursor;
  }
  assert.is(rows, 60);
  const tomorrow = new Date(Date.now() + 86_400_000).toISOString();
  const yesterday = new Date(Date.now() - 86_400_000).toISOString();
  const q = (from: string, to = '') => `/v1/invocations/summary?from=${from}${to ? `&to=${to}` : ''}`;
  assert.is((await user.get(q(tomorrow))).body.invocations, 0, 'a range after the calls is empty');
  assert.is((await user.get(q(yesterday, tomorrow))).body.invocations, 60);
  assert.is((await user.get(`/v1/invocations?from=${tomorrow}`)).body.data.length, 0);
  const stats = await admin.get('/v1/admin/tool-stats');
  assert.is(stats.status, 200, stats.text);
  assert.ok(stats.body.invocations >= 60);
  assert.ok(stats.body.topUsers.some((u: any) => u.userId === user.id && u.invocations === 60));
});

s('a tool\'s timeout is kept to the millisecond scale, not undici\'s one-second timer tick', async () => {
  const user = await entitledUser();
  const t = await tool('/gate', { timeoutMs: 150 });
  const started = Date.now();
  const res = await user.post(`/v1/tools/${t.id}/invoke`, { input: 1 });
  const took = Date.now() - started;
  server.release(); // the endpoint never answered in time
  assertError(res, 503, 'TOOL_UNAVAILABLE');
  assert.ok(took < 600, `answered after ${took} ms (undici's timers alone took 880-1000 ms here)`);
});

s('admin only: users cannot create, change or delete tools, nor read platform statistics', async () => {
  const user = await entitledUser();
  const t = await tool('/echo');
  assertError(await user.post('/v1/admin/tools', { name: 'x', description: 'x', endpointUrl: server.url }), 403);
  assertError(await user.patch(`/v1/admin/tools/${t.id}`, { description: 'y' }), 403);
  assertError(await user.delete(`/v1/admin/tools/${t.id}`), 403);
  assertError(await user.get('/v1/admin/tool-stats'), 403);
});

s('changes take effect at once; a deleted tool is gone but its log stays; a taken name is 409', async () => {
  const t = await tool('/plain');
  const user = await entitledUser();
  assert.is((await user.post(`/v1/tools/${t.id}/invoke`, { input: 1 })).status, 200);
  const changed = await admin.patch(`/v1/admin/tools/${t.id}`, { endpointUrl: `${server.url}/echo`,
    tokensPath: 'usage.total_tokens' });
  assert.is(changed.status, 200, changed.text);
  assert.is((await user.post(`/v1/tools/${t.id}/invoke`, { input: 1 })).body.tokensUsed, 42);
  assertError(await admin.post('/v1/admin/tools', { name: t.name, description: 'd', endpointUrl: server.url }), 409);
  assert.is((await admin.delete(`/v1/admin/tools/${t.id}`)).status, 204);
  assertError(await user.get(`/v1/tools/${t.id}`), 404);
  assertError(await user.post(`/v1/tools/${t.id}/invoke`, { input: 1 }), 404);
  assert.is((await user.get(`/v1/invocations?toolId=${t.id}`)).body.data.length, 2);
  assert.is((await admin.post('/v1/admin/tools', { name: t.name, description: 'd', endpointUrl: server.url })).status,
    201, 'the name is free again');
});

s('bad input is a 400, never a 500', async () => {
  assertError(await admin.post('/v1/admin/tools', { name: 'x', description: 'x', endpointUrl: 'ftp://x' }), 400);
  assertError(await admin.post('/v1/admin/tools', { name: 'x', description: 'x', endpointUrl: server.url,
    timeoutMs: 5 }), 400);
  const user = await entitledUser();
  assertError(await user.post(`/v1/tools/${(await tool('/echo')).id}/invoke`, { nope: 1 }), 400);
  assertError(await user.get('/v1/invocations?from=yesterday'), 400);
});

s.run();
