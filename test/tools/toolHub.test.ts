import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { rmSync } from 'node:fs';
import { resolve } from 'node:path';
import pino from 'pino';
import { createKernel, loadConfig } from '../../scripts/kernel.ts';
import { CONFIG_DIR } from '../../scripts/paths.ts';
import { ManualClock } from '../../kernel/ports/clock.ts';
import type { Kernel } from '../../kernel/boot.ts';
import { assertError, request, tempSqliteUrl, type TestResponse } from '../helpers/kernel.ts';
import { ADMIN, PASSWORD } from '../identity/helpers.ts';
import { startToolServer, type ToolServer } from './toolServer.ts';
import { settle } from '../kit/index.ts';

/**
 * Seed 001's scenarios against config/tool-hub.yaml itself (billing, metering, tools, identity
 * as that deployment composes them), with snake_case on the wire and a tool endpoint on loopback.
 */
const s = suite('tool hub (seed 001): the deployment file, end to end');
const DAY = 86_400_000;
let kernel: Kernel;
let base: string;
let server: ToolServer;
let dbUrl: string;
const clock = new ManualClock(Date.parse('2026-12-01T10:00:00Z'));

type Call = (method: string, path: string, body?: unknown) => Promise<TestResponse>;
const as = (token?: string): Call => (method, path, body) =>
  request(base, method, `/v1${path}`, { body, headers: token ? { authorization: `Bearer ${token}` } : {} });
let admin: Call;
let seq = 0;

async function signUp(): Promise<{ call: Call; id: string; email: string }> {
  const email = `hub-${process.pid}-${seq++}@example.com`;
  const reg = await as()('POST', '/auth/register', { name: 'Hub User', email, password: PASSWORD });
  assert.is(reg.status, 201, reg.text);
  const login = await as()('POST', '/auth/login', { email, password: PASSWORD });
  assert.is(login.status, 200, login.text);
  return { call: as(login.body.access_token), id: reg.body.id, email };
}

async function tool(path: string, extra: Record<string, unknown> = {}): Promise<string> {
  const res = await admin('POST', '/admin/tools', {
    name: `hub${path.replace(/\W/g, '-')}-${seq++}`, description: 'Summarises text', usage_info: 'POST {input}',
    endpoint_url: `${server.url}${path}`, tokens_path: 'usage.total_tokens', ...extra,
  });
  assert.is(res.status, 201, res.text);
  return res.body.id;
}

s.before(async () => {
  server = await startToolServer();
  dbUrl = tempSqliteUrl();
  const config = loadConfig({
    file: resolve(CONFIG_DIR, 'tool-hub.yaml'),
    env: {},
    overrides: {
      server: { port: 0, host: '127.0.0.1', validateResponses: true },
      database: { url: dbUrl }, log: { level: 'silent' }, rateLimit: { enabled: false },
      plugins: { identity: { bootstrapAdmin: ADMIN } },
    },
  });
  kernel = await createKernel(config, { logger: pino({ level: 'silent' }), clock });
  base = `http://127.0.0.1:${(await kernel.listen()).port}`;
  const login = await as()('POST', '/auth/login', { email: ADMIN.email, password: ADMIN.password });
  admin = as(login.body.access_token);
});
s.after(async () => {
  await kernel?.stop();
  await server?.close();
  rmSync(dbUrl.replace(/^file:/, ''), { force: true });
});

s('registration enforces the password policy and a unique email; tokens refresh', async () => {
  const weak = await as()('POST', '/auth/register', { name: 'W', email: 'weak@example.com', password: 'password1' });
  assertError(weak, 400);
  const u = await signUp();
  const again = await as()('POST', '/auth/register', { name: 'X', email: u.email, password: PASSWORD });
  assertError(again, 409);
  const login = await as()('POST', '/auth/login', { email: u.email, password: PASSWORD });
  const refreshed = await as()('POST', '/auth/refresh', { refresh_token: login.body.refresh_token });
  assert.is(refreshed.status, 200, refreshed.text);
  assert.type(refreshed.body.access_token, 'string');
  const me = await u.call('GET', '/users/me');
  assert.ok('created_at' in me.body && me.body.role === 'user', me.text);
});

s('US2: the profile shows name, email, role and created_at; the name changes; API keys are made, used, revoked',
  async () => {
    const u = await signUp();
    const me = await u.call('GET', '/users/me');
    assert.equal([me.body.name, me.body.email, me.body.role], ['Hub User', u.email, 'user']);
    assert.ok(!Number.isNaN(Date.parse(me.body.created_at)), me.text);
    assert.is((await u.call('PATCH', '/users/me', { name: 'Renamed User' })).status, 200);
    assert.is((await u.call('GET', '/users/me')).body.name, 'Renamed User', 'reflected on the next request');
    const made = await u.call('POST', '/users/me/api-keys', { name: 'ci' });
    assert.is(made.status, 201, made.text);
    const other = await u.call('POST', '/users/me/api-keys', { name: 'ci-2' });
    assert.not.equal(other.body.key, made.body.key, 'unique');
    const withKey = (key: string) =>
      request(base, 'GET', '/v1/users/me', { headers: { 'x-api-key': key } });
    assert.is((await withKey(made.body.key)).body.id, u.id, 'the key authenticates as its owner');
    assert.is((await u.call('DELETE', `/users/me/api-keys/${made.body.id}`)).status, 204);
    assertError(await withKey(made.body.key), 401, 'INVALID_API_KEY');
    const auth = { authorization: `Bearer ${made.body.key}` };
    const bearer = await request(base, 'GET', '/v1/users/me', { headers: auth });
    assertError(bearer, 401);
    assert.is((await withKey(other.body.key)).status, 200, 'the other key still works');
    const listed = await u.call('GET', '/users/me/api-keys');
    assert.equal(listed.body.data.map((k: any) => k.id), [other.body.id]);
  });

s('US3/US5: no subscription is refused with the plans; a subscription unlocks the tool', async () => {
  const id = await tool('/echo');
  const u = await signUp();
  const listed = await u.call('GET', '/tools');
  assert.ok(listed.body.data.some((t: any) => t.id === id && t.description === 'Summarises text'));
  assert.is((await u.call('GET', `/tools/${id}`)).body.usage_info, 'POST {input}');
  const plans = await u.call('GET', '/plans');
  assert.equal(plans.body.data.map((p: any) => p.id), ['free', 'pro', 'enterprise'], 'the hidden plan is not offered');
  const refused = await u.call('POST', `/tools/${id}/invoke`, { input: 'hello' });
  assertError(refused, 402, 'SUBSCRIPTION_REQUIRED');
  assert.ok(refused.body.error.details.plans.includes('free'));
  assert.is((await u.call('POST', '/subscription', { plan_id: 'free' })).status, 200);
  const sub = await u.call('GET', '/subscription');
  assert.is(sub.body.subscription.plan_id, 'free');
  assert.is(sub.body.subscription.status, 'active');
  assert.type(sub.body.subscription.current_period_end, 'string');
  assert.is(sub.body.subscription.expires_at, sub.body.subscription.current_period_end, 'US5-3: the expiration date');
  const ok = await u.call('POST', `/tools/${id}/invoke`, { input: 'hello' });
  assert.is(ok.status, 200, ok.text);
  assert.is(ok.body.tokens_used, 42);
  const log = await u.call('GET', '/invocations');
  const row = log.body.data[0];
  assert.equal([row.user_id, row.tool_id, row.tokens_used], [u.id, id, 42]);
  assert.type(row.created_at, 'string');
});

s('FR-024: the plan\'s tokens per period are enforced; an upgrade lifts them at once', async () => {
  const big = await tool('/tokens?n=6000');
  const u = await signUp();
  await u.call('POST', '/subscription', { plan_id: 'free' });
  assert.is((await u.call('POST', `/tools/${big}/invoke`, { input: 1 })).status, 200);
  assert.is((await u.call('POST', `/tools/${big}/invoke`, { input: 1 })).status, 200, '6,000 of 10,000 used');
  const over = await u.call('POST', `/tools/${big}/invoke`, { input: 1 });
  assertError(over, 402, 'USAGE_LIMIT_EXCEEDED');
  assert.ok(over.body.error.details.plans.includes('pro'), over.text);
  assert.is((await u.call('POST', '/subscription', { plan_id: 'pro' })).status, 200);
  const upgraded = await u.call('POST', `/tools/${big}/invoke`, { input: 1 });
  assert.is(upgraded.status, 200, upgraded.text);
});

s('a tool that is down: 503 TOOL_UNAVAILABLE with Retry-After, and the failure is in the log', async () => {
  const id = await tool('/fail');
  const u = await signUp();
  await u.call('POST', '/subscription', { plan_id: 'free' });
  const res = await u.call('POST', `/tools/${id}/invoke`, { input: 1 });
  assertError(res, 503, 'TOOL_UNAVAILABLE');
  assert.is(res.headers.get('retry-after'), '30');
  const log = await u.call('GET', `/invocations?tool_id=${id}`);
  assert.equal([log.body.data.length, log.body.data[0].status, log.body.data[0].tokens_used], [1, 'unavailable', 0]);
});

s('US6: admins manage tools and see users with roles and subscriptions, and platform statistics', async () => {
  const u = await signUp();
  await u.call('POST', '/subscription', { plan_id: 'free' });
  const id = await tool('/echo');
  assert.is((await admin('PATCH', `/admin/tools/${id}`, { description: 'Translates' })).status, 200);
  assert.is((await u.call('GET', `/tools/${id}`)).body.description, 'Translates', 'changes apply at once');
  await u.call('POST', `/tools/${id}/invoke`, { input: 1 });
  const none = await signUp();
  const users = await admin('GET', '/admin/users?limit=100');
  assert.is(users.status, 200, users.text);
  const row = (id: string) => users.body.data.find((r: any) => r.id === id);
  assert.equal([row(u.id)?.role, row(u.id)?.subscription_status, row(u.id)?.plan_id, row(u.id)?.subscription?.status],
    ['user', 'active', 'free', 'active'], 'FR-026: role and subscription status');
  assert.equal([row(none.id)?.role, row(none.id)?.subscription_status, row(none.id)?.subscription],
    ['user', 'none', null]);
  assert.ok(users.body.data.every((r: any) => typeof r.created_at === 'string' && 'email' in r && 'name' in r));
  assert.ok(users.body.data.some((r: any) => r.role === 'admin'), 'the admin is listed, as admin');
  assert.ok(users.body.data.every((r: any) => ['user', 'admin'].includes(r.role)), 'FR-011: two roles');
  assertError(await u.call('GET', '/admin/users'), 403);
  const subs = await admin('GET', '/admin/subscriptions');
  assert.is(subs.status, 200, subs.text);
  const mine = subs.body.data.find((r: any) => r.user.id === u.id);
  assert.equal([mine?.subscription.status, mine?.subscription.plan_id, mine?.user.role], ['active', 'free', 'user']);
  const stats = await admin('GET', '/admin/tool-stats');
  assert.ok(stats.body.per_tool_per_day.some((r: any) => r.tool_id === id && r.invocations === 1), stats.text);
  assert.ok(stats.body.users >= 3, 'FR-027: registered users');
  const free = stats.body.active_subscriptions.find((r: any) => r.plan_id === 'free');
  assert.ok(free?.count >= 1, stats.text);
  assert.type(stats.body.tokens, 'number');
  assert.type(stats.body.failures, 'number');
  assertError(await u.call('GET', '/admin/tool-stats'), 403);
  assertError(await u.call('POST', '/admin/tools', { name: 'x', description: 'x', endpoint_url: server.url }), 403);
  assert.is((await admin('DELETE', `/admin/tools/${id}`)).status, 204);
  assertError(await u.call('GET', `/tools/${id}`), 404);
});

s('SC-006/FR-028: every admin operation the deployment serves refuses a user (403) and the anonymous (401)',
  async () => {
    const u = await signUp();
    type Doc = { paths: Record<string, Record<string, unknown>> };
    const doc = (await request(base, 'GET', '/openapi.json')).body as Doc;
    const ops = Object.entries(doc.paths).filter(([p]) => p.startsWith('/v1/admin/'))
      .flatMap(([p, item]) => Object.keys(item).filter((m) => m !== 'parameters').map((m) => [m.toUpperCase(), p]));
    assert.ok(ops.length >= 20, `${ops.length} admin operations`);
    const id = '01900000-0000-7000-8000-000000000000';
    for (const [method, path] of ops) {
      const url = path.replace(/\{[a-z_]+\}/g, id);
      const body = ['GET', 'DELETE'].includes(method) ? undefined : {};
      const user = await u.call(method, url.slice(3), body);
      assert.is(user.status, 403, `${method} ${path} as a user: ${user.text}`);
      const anon = await as()(method, url.slice(3), body);
      assert.is(anon.status, 401, `${method} ${path} anonymous: ${anon.text}`);
    }
  });

s('FR-017/FR-018: tokens a tool reports in a well-known place are logged; a date range filters the history',
  async () => {
    const id = await tool('/echo', { tokens_path: null });
    const u = await signUp();
    await u.call('POST', '/subscription', { plan_id: 'free' });
    const ok = await u.call('POST', `/tools/${id}/invoke`, { input: 'hi' });
    assert.equal([ok.status, ok.body.tokens_used, ok.body.tokens_source], [200, 42, 'reported'], ok.text);
    const today = clock.date().toISOString().slice(0, 10);
    const tomorrow = new Date(clock.now() + DAY).toISOString().slice(0, 10);
    const yesterday = new Date(clock.now() - DAY).toISOString().slice(0, 10);
    const within = await u.call('GET', `/invocations?from=${today}&to=${today}`);
    assert.is(within.status, 200, within.text);
    assert.equal(within.body.data.map((r: any) => [r.tool_id, r.tokens_used]), [[id, 42]]);
    const before = await u.call('GET', `/invocations?from=${yesterday}&to=${yesterday}`);
    assert.equal(before.body.data, []);
    const after = await u.call('GET', `/invocations?from=${tomorrow}`);
    assert.equal(after.body.data, []);
    const exact = await u.call('GET', `/invocations?from=${clock.date().toISOString()}`);
    assert.is(exact.body.data.length, 1, 'a date-time is inclusive');
    assertError(await u.call('GET', '/invocations?from=2026-13-45'), 400);
    assertError(await u.call('GET', '/invocations?from=yesterday'), 400);
    const summary = await u.call('GET', `/invocations/summary?from=${today}&to=${today}`);
    assert.equal([summary.body.total_tokens, summary.body.invocations], [42, 1]);
  });

s('US1-4: a password reset mails a link whose token works for 24 hours and not after; weak new passwords fail',
  async () => {
    type Mail = { to: string[]; subject: string; text?: string };
    const mailed = async (email: string, subject: RegExp) => {
      await settle(kernel);
      const outbox = (kernel.root.cradle as unknown as { mailer: { outbox(): Mail[] } }).mailer.outbox();
      const mail = outbox.filter((m) => m.to.includes(email) && subject.test(m.subject)).at(-1);
      const token = /token=([A-Za-z0-9_-]+)/.exec(mail?.text ?? '')?.[1];
      assert.ok(token, `a mail to ${email} matching ${subject}`);
      return token;
    };
    // Reset links go to verified addresses only (an unverified one may not be the owner's).
    const verified = async () => {
      const u = await signUp();
      const res = await as()('POST', '/auth/verify-email', { token: await mailed(u.email, /verify|confirm/i) });
      assert.ok(res.status < 300, res.text);
      return u;
    };
    const a = await verified();
    const b = await verified();
    const tokenFor = async (email: string) => {
      const res = await as()('POST', '/auth/forgot-password', { email });
      assert.is(res.status, 202, res.text);
      return mailed(email, /reset/i);
    };
    const ta = await tokenFor(a.email);
    const tb = await tokenFor(b.email);
    const start = clock.now();
    clock.set(start + DAY - 60_000);
    assertError(await as()('POST', '/auth/reset-password', { token: ta, new_password: 'weakpass' }), 400);
    const ok = await as()('POST', '/auth/reset-password', { token: ta, new_password: 'N3w#Password' });
    assert.ok(ok.status < 300, ok.text);
    assert.is((await as()('POST', '/auth/login', { email: a.email, password: 'N3w#Password' })).status, 200);
    clock.set(start + DAY + 60_000);
    const late = await as()('POST', '/auth/reset-password', { token: tb, new_password: 'N3w#Password' });
    assert.ok(late.status >= 400 && late.status < 500, late.text);
    clock.set(start);
  });

// Last: they move the clock a month on.
s('US5: a cancelled subscription runs to its period end, then the next request is refused', async () => {
  const adminLogin = await as()('POST', '/auth/login', { email: ADMIN.email, password: ADMIN.password });
  admin = as(adminLogin.body.access_token);
  const id = await tool('/echo');
  const u = await signUp();
  await u.call('POST', '/subscription', { plan_id: 'pro' });
  const cancelled = await u.call('POST', '/subscription/cancel');
  assert.is(cancelled.status, 200, cancelled.text);
  assert.is(cancelled.body.cancel_at_period_end, true);
  assert.is((await u.call('POST', `/tools/${id}/invoke`, { input: 1 })).status, 200, 'still active until the end');
  clock.advance(32 * DAY);
  const login = await as()('POST', '/auth/login', { email: u.email, password: PASSWORD });
  const after = as(login.body.access_token);
  const lapsed = (await after('GET', '/subscription')).body.subscription;
  assert.ok(!lapsed || ['cancelled', 'expired'].includes(lapsed.status), JSON.stringify(lapsed));
  assertError(await after('POST', `/tools/${id}/invoke`, { input: 1 }), 402, 'SUBSCRIPTION_REQUIRED');
});

s('a subscription that expires mid-request lets that request finish, and the next one is refused', async () => {
  const adminLogin = await as()('POST', '/auth/login', { email: ADMIN.email, password: ADMIN.password });
  admin = as(adminLogin.body.access_token);
  const gate = await tool('/gate');
  const u = await signUp();
  await u.call('POST', '/subscription', { plan_id: 'free' });
  await u.call('POST', '/subscription/cancel');
  const { subscription } = (await u.call('GET', '/subscription')).body;
  const reached = server.gateReached();
  const running = u.call('POST', `/tools/${gate}/invoke`, { input: 'long' });
  await reached;
  clock.set(Date.parse(subscription.current_period_end) + 60_000); // it ends while the tool works
  server.release();
  const finished = await running;
  assert.equal([finished.status, finished.body.tokens_used], [200, 7], finished.text);
  const login = await as()('POST', '/auth/login', { email: u.email, password: PASSWORD });
  const next = await as(login.body.access_token)('POST', `/tools/${gate}/invoke`, { input: 'again' });
  assertError(next, 402, 'SUBSCRIPTION_REQUIRED');
  const log = await as(login.body.access_token)('GET', `/invocations?tool_id=${gate}`);
  assert.equal(log.body.data.map((r: any) => [r.status, r.tokens_used]), [['ok', 7]], 'the finished call is logged');
});

s.run();
