/**
 * A plan's token limits bound `max_tokens` as the balance does: a call near the daily (or per-period) limit gets
 * the output cut to what is left after its input (a warning says so), so calls one after another never pass the
 * limit; with less than the minimal answer left, 402 USAGE_LIMIT_EXCEEDED. Concurrent calls are checked against
 * what is recorded, not held: each is bounded alone, and together they may pass the limit by what was in flight
 * (the README says exactly how much); the next call after them is refused.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import jobsPlugin from '../../plugins/jobs/index.ts';
import { guarded } from '../helpers/guarded.ts';
import { waitFor } from '../jobs/helpers.ts';
import { stubRealtime } from '../jobs/stubRealtime.ts';
import { startTestKernel, type SignedInClient, type TestKit } from '../kit/index.ts';
import { billingOf } from '../billing/helpers.ts';
import { cents, grant } from './helpers.ts';

const test = guarded(suite('ai: plan token limits bound max_tokens'));
const LIMIT = 400;
const PLANS = [
  { id: 'free', name: 'Free', priceCents: 0, interval: 'month', monthlyFreeCreditsCents: 0, features: [], limits: {} },
  { id: 'daily', name: 'Daily', priceCents: 0, interval: 'month', monthlyFreeCreditsCents: 0, features: [],
    visibility: 'hidden', limits: { tokensPerDay: LIMIT } },
  { id: 'period', name: 'Period', priceCents: 0, interval: 'month', monthlyFreeCreditsCents: 0, features: [],
    visibility: 'hidden', limits: { tokensPerPeriod: LIMIT } },
];
let k: TestKit;
test.before(async () => {
  k = await startTestKernel({ plugins: [stubRealtime().plugin, jobsPlugin], config: {
    jobs: { heartbeatMs: 100, pollMs: 20, cancelPollMs: 20 },
    // Long answers: each call would use all of max_tokens if it were not bounded.
    adapters: { aiProvider: { use: 'local', replyWords: 2000, pacing: { firstTokenMs: 0, perTokenMs: 0 } } },
    plugins: { billing: { plans: PLANS } },
  } });
});
test.after(async () => { await k?.stop(); });

async function onPlan(tag: string, plan: string): Promise<SignedInClient> {
  const user = await k.asUser(tag);
  await grant(k, user.id, cents(100));
  await billingOf(k).subscriptions.activate(user.id, plan, { source: 'admin' });
  return user;
}
async function ask(user: SignedInClient, maxTokens = 300) {
  const chat = (await user.post('/v1/chats', {})).body.id;
  return user.post(`/v1/chats/${chat}/messages`, { content: 'Tell me about tides', model: 'gpt-4o-mini',
    maxTokens });
}
async function tokensUsed(userId: string): Promise<number> {
  const rows = await k.kernel.root.cradle.orm.em.fork().getConnection().execute(
    'select tokens_in, tokens_out from metering_usage where user_id = ?', [userId]) as
    Array<{ tokens_in: number | string; tokens_out: number | string }>;
  return rows.reduce((n, r) => n + Number(r.tokens_in) + Number(r.tokens_out), 0);
}

for (const [plan, limit] of [['daily', 'tokensPerDay'], ['period', 'tokensPerPeriod']]) {
  test(`one after another (${limit}): the last call is bounded to what is left, the total never passes it, then 402`,
    async () => {
      const user = await onPlan(`tokens-${plan}`, plan);
      const seen: Array<{ status: number; tokens?: number; warnings?: string[]; code?: string }> = [];
      for (let i = 0; i < 6 && !seen.some((s) => s.status === 402); i++) {
        const res = await ask(user);
        seen.push({ status: res.status, tokens: res.body.usage?.totalTokens, warnings: res.body.warnings,
          code: res.body.error?.code });
      }
      const bounded = seen.find((s) => s.warnings?.some((w) => w.includes(`by your plan's ${limit}`)));
      assert.ok(bounded, JSON.stringify(seen));
      const cap = Number(/max_tokens bounded to (\d+)/.exec(bounded!.warnings!.find((w) => w.includes(limit))!)![1]);
      assert.ok(cap >= 16 && cap < 300, `bounded below the 300 asked: ${cap}`);
      assert.is(seen.at(-1)!.status, 402, JSON.stringify(seen));
      assert.is(seen.at(-1)!.code, 'USAGE_LIMIT_EXCEEDED');
      const used = await tokensUsed(user.id);
      assert.ok(used <= LIMIT, `${used} tokens used of ${LIMIT}`);
      assert.ok(used > LIMIT - 60, `the limit is used up, not left idle: ${used}`);
    });
}

test('concurrent calls: each bounded alone; together they pass the limit by at most what was in flight', async () => {
  const user = await onPlan('tokens-concurrent', 'daily');
  const n = 5;
  const all = await Promise.all(Array.from({ length: n }, () => ask(user)));
  const ok = all.filter((r) => r.status === 201);
  assert.ok(ok.length >= 1, JSON.stringify(all.map((r) => r.status)));
  for (const r of ok) assert.ok(r.body.usage.totalTokens <= LIMIT, 'no call passes the limit by itself');
  const used = await tokensUsed(user.id);
  assert.ok(used <= n * LIMIT, `${used}: at most the limit per call in flight`);
  const after = await ask(user);
  assert.is(after.status, 402, after.text);
  assert.is(after.body.error.code, 'USAGE_LIMIT_EXCEEDED');
});

test('a structured-output job checks the plan\'s token limit before its hold: used up, it fails with 402', async () => {
  const user = await onPlan('tokens-job', 'daily');
  let status = 201;
  for (let i = 0; i < 10 && status === 201; i++) status = (await ask(user)).status; // the day's tokens, used up
  assert.is(status, 402);
  const before = (await billingOf(k).ledger.balance(user.id)).balanceMicros;
  const made = await user.post('/v1/jobs', { type: 'ai.generate.structured', parameters: { prompt: 'An outline',
    schema: { type: 'object' }, model: 'gpt-4o-mini', maxTokens: 50 } });
  assert.is(made.status, 201, made.text);
  const job = await waitFor('the job', async () => {
    const r = await user.get(`/v1/jobs/${made.body.id}`);
    return ['completed', 'failed'].includes(r.body.status) ? r.body : undefined;
  }, 20_000);
  assert.is(job.status, 'failed');
  assert.is(job.error.code, 'USAGE_LIMIT_EXCEEDED');
  assert.is((await billingOf(k).ledger.balance(user.id)).balanceMicros, before, 'nothing held or charged');
});

test.run();
