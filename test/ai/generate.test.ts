/**
 * `ai.generate.*` jobs on the jobs runtime, on the local stand-in: text through the gateway (progress as tokens
 * arrive, billed, the usage recorded), structured output valid against its schema (billed on the ledger), an image
 * as base64 PNG in the result, a premium model refused to the free tier, and 402 at zero balance failing the job
 * at once (no retry).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import jobsPlugin from '../../plugins/jobs/index.ts';
import { guarded } from '../helpers/guarded.ts';
import { startTestKernel, type TestKit, type SignedInClient } from '../kit/index.ts';
import { stubRealtime } from '../jobs/stubRealtime.ts';
import { jobFinished, startJob } from './helpers.ts';

const test = guarded(suite('ai.generate jobs'));
const realtime = stubRealtime();
let k: TestKit;
test.before(async () => {
  k = await startTestKernel({
    plugins: [realtime.plugin, jobsPlugin],
    config: {
      jobs: { heartbeatMs: 100, pollMs: 20, cancelPollMs: 20 },
      adapters: { aiProvider: { use: 'local', pacing: { firstTokenMs: 0, perTokenMs: 0 } } },
    },
  });
});
test.after(async () => { await k?.stop(); });

const balanceOf = async (u: SignedInClient) => (await u.get('/v1/billing/balance')).body.balanceMicros as number;

test('text: streamed through the gateway with progress and logs, billed, its cost in the result', async () => {
  const alice = await k.asUser('gen-text');
  const before = await balanceOf(alice);
  const id = await startJob(alice, 'ai.generate.text', {
    prompt: 'Write a short story about a lighthouse keeper and a storm', maxTokens: 60, model: 'gpt-4o-mini',
  });
  const job = await jobFinished(alice, id);
  assert.is(job.status, 'completed', JSON.stringify(job.error));
  assert.is(job.result.kind, 'text');
  assert.ok(String(job.result.text).length > 0);
  const usage = job.result.usage as { completionTokens: number; costMicros: number };
  assert.ok(usage.completionTokens > 0 && usage.completionTokens <= 60, 'bounded by maxTokens');
  assert.ok(usage.costMicros > 0);
  assert.is(before - (await balanceOf(alice)), usage.costMicros, 'charged exactly the reported cost');
  assert.is(job.progress, 100);
  const progress = realtime.instance.on(`job:${id}`).filter((e) => e.type === 'progress')
    .map((e) => (e.data as { stage: string }).stage);
  assert.ok(progress.filter((s) => s === 'generate').length >= 2, 'progress while the tokens came');
  const logs = await alice.get(`/v1/jobs/${id}/logs`);
  assert.ok(logs.body.data.some((l: { message: string }) => l.message === 'text generated'));
});

test('structured: a value valid against the schema, billed on the ledger', async () => {
  const alice = await k.asUser('gen-structured');
  const before = await balanceOf(alice);
  const schema = {
    type: 'object', additionalProperties: false, required: ['title', 'chapters'],
    properties: {
      title: { type: 'string', minLength: 1 },
      chapters: { type: 'array', minItems: 2, maxItems: 5, items: { type: 'object', required: ['name'],
        properties: { name: { type: 'string' }, pages: { type: 'integer', minimum: 1 } } } },
    },
  };
  const id = await startJob(alice, 'ai.generate.structured', {
    prompt: 'Outline a novel about a lighthouse keeper', schema, schemaName: 'outline', model: 'gpt-4o-mini',
  });
  const job = await jobFinished(alice, id);
  assert.is(job.status, 'completed', JSON.stringify(job.error));
  const value = job.result.value as { title: string; chapters: Array<{ name: string }> };
  assert.type(value.title, 'string');
  assert.ok(value.chapters.length >= 2 && value.chapters.length <= 5);
  const usage = job.result.usage as { costMicros: number };
  assert.ok(usage.costMicros > 0);
  assert.is(before - (await balanceOf(alice)), usage.costMicros);
});

test('image: a real PNG in the result (base64 + MIME); the premium model is refused to the free tier', async () => {
  const free = await k.asUser('gen-image-free');
  const refused = await jobFinished(free, await startJob(free, 'ai.generate.image', { prompt: 'A lighthouse',
    model: 'dall-e-3' }));
  assert.is(refused.status, 'failed');
  assert.is(refused.error?.code, 'MODEL_NOT_AVAILABLE');
  assert.is(refused.attempts, 1, 'a 4xx is not retried');
  const none = await jobFinished(free, await startJob(free, 'ai.generate.image', { prompt: 'A lighthouse' }));
  assert.is(none.error?.code, 'NO_MODEL_AVAILABLE', 'no image model the free tier may use');

  const premium = await k.asUser('gen-image');
  assert.is((await premium.post('/v1/subscription', { planId: 'premium' })).status, 200);
  const id = await startJob(premium, 'ai.generate.image', { prompt: 'A lighthouse in a storm', width: 64, height: 64 });
  const job = await jobFinished(premium, id);
  assert.is(job.status, 'completed', JSON.stringify(job.error));
  const [image] = job.result.images as Array<{ mimeType: string; base64: string; width: number }>;
  assert.is(image.mimeType, 'image/png');
  const bytes = Buffer.from(image.base64, 'base64');
  assert.equal([...bytes.subarray(0, 8)], [137, 80, 78, 71, 13, 10, 26, 10], 'PNG signature');
  assert.is(image.width, 64);
});

test('image pricing: dall-e-3 per image at OpenAI\'s price (+ markup), held and captured, shown in the catalog',
  async () => {
    const user = await k.asUser('gen-image-price');
    assert.is((await user.post('/v1/subscription', { planId: 'premium' })).status, 200);
    const model = await user.get('/v1/ai/models/dall-e-3');
    const prices = model.body.imagePrices as Array<{ quality: string; size: string; micros: number;
      costPerImage: number }>;
    const price = (q: string, size: string) => prices.find((x) => x.quality === q && x.size === size)!;
    // $0.040 standard 1024x1024, $0.080 HD (and standard 1792), $0.120 HD 1792; with the 40% markup.
    assert.equal([price('standard', '1024x1024').costPerImage, price('hd', '1024x1024').costPerImage,
      price('standard', '1792x1024').costPerImage, price('hd', '1024x1792').costPerImage], [0.056, 0.112, 0.112,
      0.168]);
    assert.is(price('standard', '1024x1024').micros, 5_600_000);

    let before = await balanceOf(user);
    const small = await jobFinished(user, await startJob(user, 'ai.generate.image', { prompt: 'A lighthouse', width: 64,
      height: 64, model: 'dall-e-3' }));
    assert.is(small.status, 'completed', JSON.stringify(small.error));
    assert.is(small.result.costMicros, 5_600_000, 'a small image pays the smallest size listed');
    assert.is(before - (await balanceOf(user)), 5_600_000, 'exactly the price, captured from the hold');

    before = await balanceOf(user);
    const hd = await jobFinished(user, await startJob(user, 'ai.generate.image', { prompt: 'A lighthouse', width: 1050,
      height: 990, n: 2, quality: 'hd', model: 'dall-e-3' }));
    assert.is(hd.status, 'completed', JSON.stringify(hd.error));
    assert.is((hd.result.images as unknown[]).length, 2);
    assert.is(hd.result.costMicros, 2 * 16_800_000, 'two HD images of the 1792x1024 size');
    assert.is(before - (await balanceOf(user)), 2 * 16_800_000);

    const admin = await k.asAdmin();
    const left = await balanceOf(user);
    const drained = await admin.post(`/v1/admin/users/${user.id}/credits`, { amountMicros: -(left - 5_000_000),
      kind: 'adjustment', reason: 'test' }, { 'idempotency-key': `drain-${user.id}` });
    assert.is(drained.status, 201, drained.text);
    const poor = await jobFinished(user, await startJob(user, 'ai.generate.image', { prompt: 'A lighthouse',
      model: 'dall-e-3' }));
    assert.is(poor.status, 'failed');
    assert.is(poor.error?.code, 'INSUFFICIENT_CREDITS', 'the hold for one image (5.6 cents) is refused');
    assert.is(await balanceOf(user), 5_000_000, 'nothing charged');
  });

test('402 at zero balance: the job fails at once with INSUFFICIENT_CREDITS, nothing charged', async () => {
  const broke = await k.asUser('gen-broke');
  const admin = await k.asAdmin();
  const drained = await admin.post(`/v1/admin/users/${broke.id}/credits`,
    { amountMicros: -(await balanceOf(broke)), kind: 'adjustment', reason: 'test' }, { 'idempotency-key': broke.id });
  assert.is(drained.status, 201, drained.text);
  for (const [type, parameters] of [
    ['ai.generate.text', { prompt: 'Hello there', model: 'gpt-4o-mini' }],
    ['ai.generate.structured', { prompt: 'Hello', schema: { type: 'object' }, model: 'gpt-4o-mini' }],
  ] as const) {
    const job = await jobFinished(broke, await startJob(broke, type, parameters));
    assert.is(job.status, 'failed', type);
    assert.is(job.error?.code, 'INSUFFICIENT_CREDITS', type);
    assert.is(job.attempts, 1);
  }
  assert.is(await balanceOf(broke), 0);
});

test.run();
