import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { guarded } from '../helpers/guarded.ts';
import { startTestKernel, type TestKit } from '../kit/index.ts';
import { AiError, type AiProvider, type ChatResult } from '../../kernel/ports/aiProvider.ts';
import { ManualClock } from '../../kernel/ports/clock.ts';
import { buildProvider, registryOf } from '../../adapters/aiProvider/shared/provider.ts';
import { createLocalProvider } from '../../adapters/aiProvider/localProvider.ts';
import { Catalog } from '../../plugins/ai/catalog.ts';
import { AiRouter, classifier } from '../../plugins/ai/router.ts';
import { resolveConfig } from '../../plugins/ai/config.ts';
import { DEFAULT_CLASSIFIER } from '../../plugins/ai/defaults.ts';
import type { MikroORM } from '@mikro-orm/core';

const test = guarded(suite('ai plugin: model catalog over HTTP'));
let k: TestKit;
test.before(async () => { k = await startTestKernel(); });
test.after(async () => { await k.stop(); });

type ModelBody = { id: string; accessible: boolean; premium: boolean; inputMicrosPer1M: number;
  outputMicrosPer1M: number; inputCostPer1M: number; vendor: string; type: string };

test('anonymous: seed 003 table, 40% markup in exact micros and display dollars, premium not accessible', async () => {
  const res = await k.get('/v1/ai/models');
  assert.is(res.status, 200, res.text);
  const byId = new Map<string, ModelBody>(res.body.data.map((m: ModelBody) => [m.id, m]));
  for (const id of ['qwen-turbo', 'gpt-4o-mini', 'gemini-1.5-flash', 'deepseek-chat', 'claude-3-haiku']) {
    assert.ok(byId.get(id)?.accessible, `${id} is a free-tier model`);
  }
  for (const id of ['gpt-4o', 'claude-3-opus', 'qwen-max', 'o1-preview']) {
    assert.is(byId.get(id)?.accessible, false, `${id} is premium`);
    assert.is(byId.get(id)?.premium, true);
  }
  const turbo = byId.get('qwen-turbo')!;
  assert.is(turbo.inputMicrosPer1M, 14_000_000, '$0.10 per 1M = 10 cents = 10,000,000 µ¢, plus 40%');
  assert.is(turbo.outputMicrosPer1M, 42_000_000);
  assert.is(turbo.inputCostPer1M, 0.14);
  assert.is(turbo.vendor, 'qwen');
  const only = await k.get('/v1/ai/models?type=embedding');
  assert.equal(
    only.body.data.map((m: ModelBody) => m.id),
    ['text-embedding-3-small'],
  );
  assert.is((await k.get('/v1/ai/models/qwen-turbo')).body.id, 'qwen-turbo');
  assert.is((await k.get('/v1/ai/models/nope')).status, 404);
});

test('premium models: accessible to a premium-tier user, refused to the free tier with 403', async () => {
  const user = await k.asUser('tiers');
  const refused = await user.post('/v1/ai/route', { model: 'gpt-4o' });
  assert.is(refused.status, 403, refused.text);
  assert.is(refused.body.error.code, 'MODEL_NOT_AVAILABLE');
  assert.ok(refused.body.error.details.alternatives.includes('gpt-4o-mini'));
  assert.not.ok(refused.body.error.details.alternatives.includes('gpt-4o'));
  // The tier follows the billing plan: subscribing to premium lifts it on the next request.
  const subscribed = await user.post('/v1/subscription', { planId: 'premium' });
  assert.is(subscribed.status, 200, subscribed.text);
  const authorization = user.authorization;
  const models = await k.get('/v1/ai/models', { authorization });
  assert.ok(models.body.data.find((m: ModelBody) => m.id === 'gpt-4o').accessible);
  const routed = await k.post('/v1/ai/route', { model: 'gpt-4o' }, { authorization });
  assert.is(routed.status, 200, routed.text);
  assert.is(routed.body.reason, 'explicit');
});

test('router precedence over HTTP: explicit, preference, context, then the task matrix', async () => {
  const user = await k.asUser('route');
  const plan = async (body: object) => (await user.post('/v1/ai/route', body)).body;
  assert.equal(await plan({ text: 'Please summarize chapter two' }), {
    model: 'qwen-turbo',
    reason: 'task',
    task: 'summary',
    candidates: ['qwen-turbo', 'deepseek-chat', 'gpt-4o-mini'],
  });
  assert.is((await plan({ text: 'Fix this python function bug' })).model, 'deepseek-chat');
  assert.is((await plan({ text: 'Write a poem about the sea' })).model, 'claude-3-haiku');
  assert.is((await plan({ text: 'Write a poem', context: 'private' })).model, 'gpt-4o-mini');
  assert.equal(await plan({ text: 'Write a poem', context: 'private', preference: 'gemini-1.5-flash' }),
    { model: 'gemini-1.5-flash', reason: 'preference', task: 'creative',
      candidates: ['gemini-1.5-flash', 'gpt-4o-mini', 'qwen-turbo'] });
  assert.is((await plan({ preference: 'gpt-4o', context: 'public' })).model, 'qwen-turbo',
    'a preference the tier may not use is passed over');
  assert.is((await user.post('/v1/ai/route', { model: 'no-such-model' })).status, 404);
});

test('admins change a model at runtime: a free-tier caller then sees it; others may not change models', async () => {
  const user = await k.asUser('admin-change');
  assert.is((await user.put('/v1/admin/ai/models/claude-3-5-sonnet', { premium: false })).status, 403);
  const admin = await k.asAdmin();
  const changed = await admin.put('/v1/admin/ai/models/claude-3-5-sonnet', {
    premium: false,
    outputMicrosPer1M: 1_000_000_000,
  });
  assert.is(changed.status, 200, changed.text);
  assert.is(changed.body.outputMicrosPer1M, 1_400_000_000);
  const seen = (await user.get('/v1/ai/models/claude-3-5-sonnet')).body;
  assert.is(seen.accessible, true);
  const added = await admin.put('/v1/admin/ai/models/house-model', { name: 'House', vendor: 'local', premium: false });
  assert.is(added.status, 200, added.text);
  assert.is(added.body.type, 'text');
  const incomplete = await admin.put('/v1/admin/ai/models/half-model', { premium: false });
  assert.is(incomplete.status, 400);
  assert.is(incomplete.body.error.code, 'MODEL_INCOMPLETE');
  const providers = await admin.get('/v1/admin/ai/providers');
  assert.equal(
    providers.body.data.map((p: { name: string; state: string }) => [p.name, p.state]),
    [['local', 'closed']],
  );
});

test.run();

// ---------------------------------------------------------------------------------------------- the router

const r = guarded(suite('ai plugin: router fallbacks and the classifier'));
const msgs = [{ role: 'user' as const, content: 'hi' }];
const ok = (text: string): ChatResult => ({ text, finishReason: 'stop', model: 'm',
  usage: { inputTokens: 1, outputTokens: 1, estimated: false } });

function world(answers: Record<string, () => Promise<ChatResult>>) {
  const clock = new ManualClock();
  const providers: AiProvider[] = Object.entries(answers).map(([name, chat]) =>
    buildProvider({ name, adapter: 'test', countTokens: () => 1, chat: () => chat() }));
  const ai = registryOf(providers, { clock, breaker: { failures: 1, cooldownMs: 60_000 } });
  const config = resolveConfig({});
  const orm = { em: { fork: () => ({ find: async () => [] }) } } as unknown as MikroORM;
  const catalog = new Catalog(config, orm, clock, ai);
  return { ai, clock, catalog, router: new AiRouter(config, catalog, ai) };
}

r('a vendor 5xx falls back along the chain; a bad request does not; a cooled-down vendor is skipped', async () => {
  const calls: string[] = [];
  const w = world({
    openai: async () => { calls.push('openai'); throw new AiError('unavailable', 'openai', '500'); },
    anthropic: async () => { calls.push('anthropic'); return ok('from claude'); },
    qwen: async () => { calls.push('qwen'); return ok('from qwen'); },
    deepseek: async () => ok('from deepseek'),
  });
  const plan = await w.router.route({ model: 'gpt-4o-mini', tier: 'free' });
  assert.equal(plan.candidates.map((m) => m.id), ['gpt-4o-mini', 'claude-3-haiku', 'qwen-turbo', 'deepseek-chat']);
  const first = await w.router.run(plan, (p, m) => p.chat({ model: m.vendorModel, messages: msgs }));
  assert.is(first.value.text, 'from claude');
  assert.is(first.model.id, 'claude-3-haiku');
  assert.equal(first.attempts, [{ model: 'gpt-4o-mini', provider: 'openai', error: 'unavailable' },
    { model: 'claude-3-haiku', provider: 'anthropic' }]);
  const second = await w.router.run(plan, (p, m) => p.chat({ model: m.vendorModel, messages: msgs }));
  assert.equal(second.attempts[0], { model: 'gpt-4o-mini', provider: 'openai', skipped: 'cooled_down' });
  assert.equal(calls, ['openai', 'anthropic', 'anthropic'], 'the cooled-down vendor was not called again');
  const refusing = world({ openai: async () => { throw new AiError('bad_request', 'openai', 'too long'); },
    anthropic: async () => ok('never') });
  const p2 = await refusing.router.route({ model: 'gpt-4o-mini', tier: 'free' });
  const err = await refusing.router.run(p2, (p, m) => p.chat({ model: m.vendorModel, messages: msgs })).catch((e) => e);
  assert.is((err as AiError).kind, 'bad_request');
});

r('fallbacks never pick a model the tier forbids or the budget cannot pay', async () => {
  const w = world({ openai: async () => ok('x'), anthropic: async () => ok('y'), qwen: async () => ok('z'),
    deepseek: async () => ok('w') });
  const free = await w.router.route({ model: 'gpt-4o-mini', tier: 'free' });
  assert.ok(free.candidates.every((m) => !m.premium));
  const premium = await w.router.route({ model: 'gpt-4o', tier: 'premium' });
  assert.equal(premium.candidates.map((m) => m.id), ['gpt-4o', 'claude-3-5-sonnet', 'qwen-max', 'deepseek-chat']);
  const estimate = { input: 1000, output: 1000 };
  const budget = w.catalog.costMicros((await w.catalog.find('qwen-max'))!, estimate);
  const capped = await w.router.route({ model: 'gpt-4o-mini', tier: 'premium', estimate, maxCostMicros: budget });
  assert.ok(capped.candidates.every((m) => w.catalog.costMicros(m, estimate) <= budget));
  assert.not.ok(capped.candidates.some((m) => m.id === 'claude-3-5-sonnet'), 'too dear for the hold');
  assert.is(w.catalog.costMicros((await w.catalog.find('gpt-4o-mini'))!, { input: 1_000_000, output: 0 }), 21_000_000);
});

r('streams fall back before their first event, never after output has started', async () => {
  const local = createLocalProvider({}, undefined, { sleep: async () => {} });
  const dead = (kind: 'unavailable' | 'interrupted') =>
    buildProvider({
      name: 'x',
      adapter: 'test',
      countTokens: () => 1,
      stream: () =>
        (async function* () {
          if (kind === 'interrupted') yield { type: 'delta' as const, text: 'half' };
          throw new AiError(kind, 'openai', 'boom');
        })(),
    });
  const w = world({ openai: async () => ok('x'), anthropic: async () => ok('y') });
  const plan = await w.router.route({ model: 'gpt-4o-mini', tier: 'free' });
  const texts: string[] = [];
  let answered = '';
  for await (const e of w.router.stream(plan, (_p, m) => (m.vendor === 'openai' ? dead('unavailable') : local)
    .stream({ model: m.vendorModel, messages: msgs }), (m) => { answered = m.id; })) {
    if (e.type === 'delta') texts.push(e.text);
  }
  assert.is(answered, 'claude-3-haiku');
  assert.ok(texts.length > 1);
  const seen: string[] = [];
  const err = await (async () => {
    for await (const e of w.router.stream(plan, (_p, m) => (m.vendor === 'anthropic' ? local : dead('interrupted'))
      .stream({ model: m.vendorModel, messages: msgs }))) if (e.type === 'delta') seen.push(e.text);
  })().catch((e) => e);
  assert.is((err as AiError).kind, 'interrupted');
  assert.equal(seen, ['half'], 'no second vendor after output began');
});

r('the classifier: keyword scores, ties in task order, general when nothing matches', () => {
  const classify = classifier(DEFAULT_CLASSIFIER);
  assert.is(classify('Can you summarize the key points?'), 'summary');
  assert.is(classify('```ts\nconst x = 1\n``` why does this fail?'), 'code');
  assert.is(classify('Explain why the sky is blue, step by step'), 'reasoning');
  assert.is(classify('Tell me a story about a dragon'), 'creative');
  assert.is(classify('Hello there'), 'general');
  assert.is(classifier({ ...DEFAULT_CLASSIFIER, creative: ['dragon'] })('a dragon'), 'creative');
});

r.run();
