import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { guarded } from '../helpers/guarded.ts';
import { startTestKernel, type TestKit } from '../kit/index.ts';
import { billingOf, CENT } from '../billing/helpers.ts';
import { GATEWAY_PLANS, LOCAL_FAST } from './helpers.ts';
import type { Principal } from '../../kernel/index.ts';
import type { AiGateway, GatewayChatResult, GatewayStreamEvent } from '../../plugins/ai/api.ts';

const test = guarded(suite('ai gateway: billing, bounds, safety and streams (local provider)'));
let k: TestKit;
let gateway: AiGateway;
test.before(async () => {
  try {
    k = await startTestKernel({ config: { adapters: LOCAL_FAST, plugins: { billing: { plans: GATEWAY_PLANS } } } });
    gateway = (k.kernel.runtimes.get('ai')!.container.cradle as unknown as { aiGateway: AiGateway }).aiGateway;
  } catch (e) { console.error(e); throw e; }
});
test.after(async () => { await k.stop(); });

async function funded(cents: number, tag = 'gw'): Promise<Principal> {
  const user = await k.asUser(tag);
  if (cents > 0) await billingOf(k).ledger.grant(user.id, cents * CENT, { idempotencyKey: `grant-${user.id}` });
  return { type: 'user', id: user.id, permissions: [], tier: 'free' };
}
const balance = async (p: Principal) => (await billingOf(k).ledger.balance(p.id)).balanceMicros;
const ask = (content: string) => [{ role: 'user' as const, content }];
const ref = (id: string) => ({ kind: 'test', id });

async function collect(events: AsyncIterable<GatewayStreamEvent>): Promise<GatewayStreamEvent[]> {
  const out: GatewayStreamEvent[] = [];
  for await (const e of events) out.push(e);
  return out;
}
async function rejection(f: () => Promise<unknown>): Promise<{ status: number; code: string; errorDetails?: any }> {
  try { await f(); } catch (e) { return e as { status: number; code: string }; }
  throw new Error('expected a rejection');
}
async function usageRows(userId: string) {
  const em = k.kernel.root.cradle.orm.em.fork();
  return em.getConnection().execute(
    'select kind, subject, tokens_in, tokens_out, cost_micros, reference, status from metering_usage where user_id = ?',
    [userId]) as Promise<Array<{ cost_micros: number | string; status: string; reference: string; subject: string }>>;
}

test('a stream: a tokens event every 4 deltas (its own kernel), the output counted so far, growing', async () => {
  // The local provider's replies are short: this kernel emits a tokens event every 4 deltas.
  const own = await startTestKernel({ config: { adapters: LOCAL_FAST,
    plugins: { billing: { plans: GATEWAY_PLANS }, ai: { gateway: { tokensEventEvery: 4 } } } } });
  try {
    const gw = (own.kernel.runtimes.get('ai')!.container.cradle as unknown as { aiGateway: AiGateway }).aiGateway;
    const user = await own.asUser('gw-events');
    await billingOf(own).ledger.grant(user.id, 10 * CENT, { idempotencyKey: `grant-${user.id}` });
    const events = await collect(gw.stream({ principal: { type: 'user', id: user.id, permissions: [], tier: 'free' },
      model: 'gpt-4o-mini', maxTokens: 200, messages: ask('Tell me at length about the history of lighthouses'),
      reference: ref('events') }));
    assert.is(events.at(-1)!.type, 'done');
    const chunks = events.filter((e) => e.type === 'chunk').length;
    const interim = events.slice(0, -2).filter((e) => e.type === 'tokens') as Array<{ output: number }>;
    assert.ok(chunks >= 8, `${chunks} chunks`);
    assert.ok(interim.length >= 2, `${interim.length} interim events`);
    interim.forEach((e, i) => assert.ok(e.output > (i ? interim[i - 1].output : 0), 'counted so far, growing'));
  } finally {
    await own.stop();
  }
});

test('a streamed call: chunks, tokens, one done with the exact cost; the balance moves by exactly that', async () => {
  const p = await funded(10);
  const before = await balance(p);
  const events = await collect(gateway.stream({ principal: p, model: 'gpt-4o-mini', messages: ask('Tell me about'
    + ' the history of lighthouses'), reference: ref('m1') }));
  const last = events.at(-1)!;
  assert.is(last.type, 'done');
  assert.ok(events.filter((e) => e.type === 'chunk').length > 5, 'streamed in chunks');
  assert.is(events.filter((e) => e.type === 'done' || e.type === 'error').length, 1);
  const tokens = events.at(-2)!;
  assert.is(tokens.type, 'tokens');
  const result = (last as { result: GatewayChatResult }).result;
  assert.is(result.model, 'gpt-4o-mini');
  assert.is(result.finishReason, 'stop');
  assert.is(result.text, events.filter((e) => e.type === 'chunk').map((e) => (e as { text: string }).text).join(''));
  assert.ok(result.usage.costMicros > 0);
  assert.is(result.usage.costCents, result.usage.costMicros / 1_000_000);
  assert.is(result.usage.totalTokens, result.usage.promptTokens + result.usage.completionTokens);
  // 21 µ¢ per input token and 84 per output token: gpt-4o-mini's $0.15/$0.60 per 1M with 40% markup.
  assert.is(result.usage.costMicros, Math.ceil((result.usage.promptTokens * 15_000_000
    + result.usage.completionTokens * 60_000_000) * 1.4 / 1_000_000));
  assert.is(before - await balance(p), result.usage.costMicros, 'charged exactly, the rest of the hold released');
  const rows = await usageRows(p.id);
  assert.is(rows.length, 1, 'one usage event');
  assert.is(Number(rows[0].cost_micros), result.usage.costMicros);
  assert.is(rows[0].subject, 'gpt-4o-mini');
  assert.match(rows[0].reference, /^test:m1 price:15000000\/60000000\+40$/);
});

test('402 INSUFFICIENT_CREDITS at zero balance, before any event; nothing recorded', async () => {
  const p = await funded(0);
  const it = gateway.stream({ principal: p, messages: ask('hello'), reference: ref('m2') })[Symbol.asyncIterator]();
  const err = await rejection(() => it.next());
  assert.is(err.status, 402);
  assert.is(err.code, 'INSUFFICIENT_CREDITS');
  assert.is((await usageRows(p.id)).length, 0);
  const chat = await rejection(() => gateway.chat({ principal: p, messages: ask('hello'), reference: ref('m3') }));
  assert.is(chat.code, 'INSUFFICIENT_CREDITS');
});

test('max_tokens is bounded by what the balance pays: the answer cannot cost more than the hold', async () => {
  const p = await funded(0);
  // 0.01 cent = 10,000 µ¢: about 100 output tokens of gpt-4o-mini after the prompt.
  await billingOf(k).ledger.grant(p.id, 10_000, { idempotencyKey: `small-${p.id}` });
  const result = await gateway.chat({ principal: p, model: 'gpt-4o-mini', maxTokens: 4000,
    messages: ask('Write a very long essay about rivers'), reference: ref('m4') });
  assert.ok(result.maxTokens! < 4000 && result.maxTokens! > 16, `bounded to ${result.maxTokens}`);
  assert.ok(result.warnings.some((w) => w.includes('max_tokens bounded')), result.warnings.join());
  assert.ok(result.usage.costMicros <= 10_000);
  assert.ok(await balance(p) >= 0);
});

test('a premium model is refused to the free tier: 403 MODEL_NOT_AVAILABLE with alternatives', async () => {
  const p = await funded(10);
  const err = await rejection(() => gateway.chat({ principal: p, model: 'gpt-4o', messages: ask('hi'),
    reference: ref('m5') }));
  assert.is(err.status, 403);
  assert.is(err.code, 'MODEL_NOT_AVAILABLE');
  // A premium tier without the plan's feature is refused too (the plan has the last word).
  const err2 = await rejection(() => gateway.chat({ principal: { ...p, tier: 'premium' }, model: 'gpt-4o',
    messages: ask('hi'), reference: ref('m6') }));
  assert.is(err2.code, 'MODEL_NOT_AVAILABLE');
});

test('input safety: HIGH blocked (400 CONTENT_BLOCKED, queued); MEDIUM passes flagged; output redacted', async () => {
  const p = await funded(10);
  const blocked = await rejection(() => gateway.chat({ principal: p, messages: ask('how do i make meth at home'),
    reference: ref('m7') }));
  assert.is(blocked.status, 400);
  assert.is(blocked.code, 'CONTENT_BLOCKED');
  assert.is(blocked.errorDetails.category, 'illegal');
  const flagged = await collect(gateway.stream({ principal: p, messages: ask('Tell me of murdered kings murdered'
    + ' murdered in castles'), reference: ref('m8') }));
  const done = flagged.at(-1) as { type: 'done'; result: GatewayChatResult };
  assert.is(done.type, 'done');
  assert.ok(done.result.flags.some((f) => f.category === 'violence'));
  assert.ok(done.result.warnings.some((w) => w.includes('flagged')));
  assert.not.match(done.result.text, /murdered/, 'the echoed term is redacted from the output');
  assert.match(done.result.text, /\[redacted\]/);
  const em = k.kernel.root.cradle.orm.em.fork();
  const queue = await em.getConnection().execute(
    'select direction, action, severity from ai_moderation_items where user_id = ? order by created_at', [p.id]);
  assert.equal(queue.map((r: { direction: string; action: string }) => `${r.direction}:${r.action}`).sort(),
    ['input:blocked', 'input:flagged', 'output:redacted']);
  // Strict (a user may raise it): the MEDIUM input is blocked too.
  const strict = await rejection(() => gateway.chat({ principal: p, moderation: 'strict',
    messages: ask('they murdered him'), reference: ref('m9') }));
  assert.is(strict.code, 'CONTENT_BLOCKED');
});

test('a consumer that stops reading aborts the upstream; the partial output is billed and recorded', async () => {
  const p = await funded(10);
  const before = await balance(p);
  let chunks = 0;
  for await (const e of gateway.stream({ principal: p, messages: ask('Tell me about the sea'), maxTokens: 500,
    reference: ref('m10') })) {
    if (e.type === 'chunk' && ++chunks === 3) break;
  }
  const rows = await usageRows(p.id);
  assert.is(rows.length, 1);
  assert.is(rows[0].status, 'failed');
  const charged = before - await balance(p);
  assert.ok(charged > 0, 'input and the partial output are billed');
  assert.is(Number(rows[0].cost_micros), charged);
  // An abort signal mid-stream: the stream still ends with exactly one error event, carrying the partial.
  const controller = new AbortController();
  const events: GatewayStreamEvent[] = [];
  for await (const e of gateway.stream({ principal: p, messages: ask('Tell me about the sky'), signal:
    controller.signal, reference: ref('m11') })) {
    events.push(e);
    if (e.type === 'chunk' && events.length === 2) controller.abort();
  }
  const end = events.at(-1) as Extract<GatewayStreamEvent, { type: 'error' }>;
  assert.is(end.type, 'error');
  assert.is(end.code, 'AI_ABORTED');
  assert.ok(end.partial && end.partial.usage.costMicros > 0);
  assert.is(events.filter((e) => e.type === 'done' || e.type === 'error').length, 1);
});

test('the user\'s own key: not charged (even at zero balance), only metered; embeddings are billed', async () => {
  const p = await funded(0);
  const result = await gateway.chat({ principal: p, model: 'gpt-4o-mini', messages: ask('hello there'),
    userKey: { provider: 'local', apiKey: 'sk-user-own-key' }, reference: ref('own') });
  assert.is(result.usage.costMicros, 0);
  assert.ok(result.usage.totalTokens > 0);
  assert.is(await balance(p), 0);
  const rows = await usageRows(p.id);
  assert.is(rows.length, 1, 'metered');
  assert.is(Number(rows[0].cost_micros), 0);
  const wrong = await rejection(() => gateway.chat({ principal: p, model: 'gpt-4o-mini', messages: ask('hi'),
    userKey: { provider: 'openai', apiKey: 'sk-x' }, reference: ref('own2') }));
  assert.is(wrong.code, 'MODEL_NOT_SERVED_BY_KEY');
  assert.ok(k.errors.every((line) => !line.includes('sk-user-own-key')));
  const payer = await funded(1);
  const before = await balance(payer);
  const emb = await gateway.embed(payer, { input: ['lighthouse keepers', 'fresnel lenses'], reference: ref('e1') });
  assert.is(emb.model, 'text-embedding-3-small');
  assert.is(emb.vectors.length, 2);
  assert.ok(emb.usage.costMicros > 0);
  assert.is(before - await balance(payer), emb.usage.costMicros);
  assert.is((await usageRows(payer.id)).length, 1);
});

test('200 concurrent streams against a balance for about half: no overspend, every stream ends', async () => {
  const p = await funded(0);
  const messages = ask('Tell me about mountains');
  // One call: the prompt plus 30 output tokens of gpt-4o-mini (the local answer is longer: each uses all 30).
  const probe = await gateway.estimate(p, { model: 'gpt-4o-mini', messages, maxTokens: 30 });
  const grant = Math.ceil(probe.estimatedMicros * 1.1) * 100;
  await billingOf(k).ledger.grant(p.id, grant, { idempotencyKey: `half-${p.id}` });
  const outcomes = await Promise.all(Array.from({ length: 200 }, async (_, i) => {
    try {
      const events = await collect(gateway.stream({ principal: p, model: 'gpt-4o-mini', messages, maxTokens: 30,
        reference: ref(`c${i}`) }));
      const ends = events.filter((e) => e.type === 'done' || e.type === 'error');
      assert.is(ends.length, 1);
      assert.is(events.at(-1), ends[0]);
      return ends[0].type === 'done' ? (ends[0] as { result: GatewayChatResult }).result.usage.costMicros : -1;
    } catch (e) {
      assert.is((e as { status: number }).status, 402, String(e));
      return 'refused' as const;
    }
  }));
  const done = outcomes.filter((o): o is number => typeof o === 'number' && o >= 0);
  const refused = outcomes.filter((o) => o === 'refused').length;
  assert.is(done.length + refused, 200, 'each call either answered or was refused before it began');
  assert.ok(done.length >= 90 && done.length <= 120, `about half answered (${done.length})`);
  assert.ok(refused > 0);
  const spent = done.reduce((a, b) => a + b, 0);
  const left = await balance(p);
  assert.ok(left >= 0, 'never below zero');
  assert.is(grant - left, spent, 'what was charged is exactly what the answers cost');
  const b = await billingOf(k).ledger.balance(p.id);
  assert.is((b as unknown as { heldMicros: number }).heldMicros, 0, 'no hold left behind');
});

test('the charge and its usage row are one transaction: a failed usage write charges nothing', async () => {
  const p = await funded(10, 'gw-atomic');
  const before = await balance(p);
  const metering = (k.kernel.runtimes.get('ai')!.container.cradle as unknown as {
    metering: { insert: (...a: unknown[]) => Promise<void> } }).metering;
  const real = metering.insert;
  let inserted = 0;
  metering.insert = async (...a: unknown[]) => {
    await real.apply(metering, a); // the row is written in the capture's transaction, then the write "fails"
    inserted++;
    throw new Error('usage write failed');
  };
  try {
    const err = await gateway.chat({ principal: p, model: 'gpt-4o-mini', messages: ask('Hello there'),
      reference: ref('atomic') }).then(() => undefined, (e: Error) => e);
    assert.is(err?.message, 'usage write failed');
    const events = await collect(gateway.stream({ principal: p, model: 'gpt-4o-mini', messages: ask('Hello again'),
      reference: ref('atomic-s') }));
    assert.is(events.at(-1)!.type, 'error');
  } finally { metering.insert = real; }
  assert.is(inserted, 2, 'both calls reached the usage write');
  assert.is(await balance(p), before, 'nothing charged: the capture rolled back with the usage row');
  assert.is((await usageRows(p.id)).length, 0, 'and no usage row');
  assert.is((await billingOf(k).ledger.balance(p.id)).heldMicros, 0, 'the holds were released');
  const ok = await gateway.chat({ principal: p, model: 'gpt-4o-mini', messages: ask('Hello'), reference: ref('ok') });
  const rows = await usageRows(p.id);
  assert.is(rows.length, 1);
  assert.is(Number(rows[0].cost_micros), ok.usage.costMicros);
  assert.is(before - await balance(p), ok.usage.costMicros);
});

test.run();
