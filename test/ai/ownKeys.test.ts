/**
 * Users' own vendor keys in chats (`/chats/{id}/messages`, `/chats/{id}/stream`, the `/ai/sessions` aliases) and in
 * `ai.generate.*` jobs: the upstream sees the user's key, no credits move (the users here have none), the usage is
 * still recorded (metered), the message stored with cost 0. A named credential of someone else's is a 404, one for
 * another vendor a 400; a job whose credential was deleted before it ran fails at once, charging nothing. Models
 * served by `openai` go to a mock OpenAI-shaped upstream on loopback.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mockOpenAiUpstream, type SeenRequest } from './mockOpenAi.ts';
import jobsPlugin from '../../plugins/jobs/index.ts';
import { guarded } from '../helpers/guarded.ts';
import { startTestKernel, type SignedInClient, type TestKit } from '../kit/index.ts';
import { stubRealtime } from '../jobs/stubRealtime.ts';
import { billingOf } from '../billing/helpers.ts';
import { ends, GATEWAY_PLANS, jobFinished, sse, startJob } from './helpers.ts';

// The premium plan's tier is `premium` here (dall-e-3 is a premium model); no plan grants credits.
const PLANS = GATEWAY_PLANS.map((p) => (p.id === 'premium' ? { ...p, limits: { rateLimitTier: 'premium' } } : p));
const test = guarded(suite('ai: users\' own vendor keys in chats and jobs'));
const realtime = stubRealtime();
let k: TestKit;
let upstream: Server;
const seen: SeenRequest[] = [];

test.before(async () => {
  upstream = mockOpenAiUpstream(seen);
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  const origin = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
  k = await startTestKernel({ plugins: [realtime.plugin, jobsPlugin], config: {
    jobs: { heartbeatMs: 100, pollMs: 20, cancelPollMs: 20 },
    plugins: { billing: { plans: PLANS } },
    adapters: {
      egress: { use: 'undici', allowCidrs: ['127.0.0.1/32'] },
      aiProvider: { use: 'gateway', moderation: 'local', providers: {
        openai: { adapter: 'openai', baseUrl: `${origin}/v1`, apiKey: 'sk-deployment' },
        anthropic: { adapter: 'anthropic', baseUrl: origin, apiKey: 'sk-ant-deployment' },
        local: { adapter: 'local', pacing: { firstTokenMs: 0, perTokenMs: 0 } },
      } },
    },
  } });
});
test.after(async () => {
  await k?.stop();
  await new Promise((r) => upstream?.close(r));
});

const balanceOf = async (u: SignedInClient) => (await billingOf(k).ledger.balance(u.id)).balanceMicros;
async function usageRows(userId: string) {
  const em = k.kernel.root.cradle.orm.em.fork();
  return em.getConnection().execute(
    'select kind, subject, tokens_in, tokens_out, cost_micros from metering_usage where user_id = ? order by at_ms',
    [userId]) as Promise<Array<{ kind: string; subject: string; tokens_in: number; tokens_out: number;
      cost_micros: number | string }>>;
}
async function credential(user: SignedInClient, vendor: string, apiKey: string, isDefault = false) {
  const made = await user.post('/v1/ai/credentials', { vendor, apiKey, isDefault });
  assert.is(made.status, 201, made.text);
  return made.body.id as string;
}
async function newChat(user: SignedInClient, path = '/v1/chats'): Promise<string> {
  const res = await user.post(path, {});
  assert.is(res.status, 201, res.text);
  return res.body.id;
}

test('a chat turn with credential_id: the user\'s key upstream, no credits (there are none), metered, stored',
  async () => {
    const user = await k.asUser('byok-chat');
    assert.is(await balanceOf(user), 0, 'no credits at all: a charged call would be a 402');
    const chat = await newChat(user);
    const refused = await user.post(`/v1/chats/${chat}/messages`, { content: 'Hi there', model: 'gpt-4o-mini' });
    assert.is(refused.status, 402, 'without a key of their own the call is charged, and they cannot pay');

    const id = await credential(user, 'openai', 'sk-users-own-1111');
    const res = await user.post(`/v1/chats/${chat}/messages`, { content: 'Hi there', model: 'gpt-4o-mini',
      credential_id: id });
    assert.is(res.status, 201, res.text);
    assert.is(seen.at(-1)!.auth, 'Bearer sk-users-own-1111');
    assert.is(res.body.content, 'Hello from upstream');
    assert.equal([res.body.usage.promptTokens, res.body.usage.completionTokens, res.body.usage.costCents,
      res.body.usage.costMicros], [11, 3, 0, 0]);
    assert.is(await balanceOf(user), 0);
    const stored = await user.get(`/v1/chats/${chat}/messages`);
    const answer = stored.body.data.find((m: { id: string }) => m.id === res.body.id);
    assert.equal([answer.costMicros, answer.tokensOut, answer.model], [0, 3, 'gpt-4o-mini']);
    const rows = await usageRows(user.id);
    assert.is(rows.length, 1, 'one usage row: this call (the refused one never reached a vendor)');
    assert.equal([rows[0].kind, rows[0].subject, Number(rows[0].tokens_in), Number(rows[0].tokens_out),
      Number(rows[0].cost_micros)], ['chat', 'gpt-4o-mini', 11, 3, 0]);
    assert.ok(k.errors.every((line) => !line.includes('sk-users-own-1111')), 'the key is never in an error log');
  });

test('the default key for the routed model\'s vendor: streamed and on /ai/sessions, without naming it', async () => {
  const user = await k.asUser('byok-default');
  await credential(user, 'openai', 'sk-default-2222', true);
  const chat = await newChat(user);
  const r = await sse(k, `/chats/${chat}/stream`, { content: 'Hello', model: 'gpt-4o-mini' }, user.authorization);
  assert.is(r.status, 200, JSON.stringify(r.json));
  const [end] = ends(r.events);
  assert.is(end.type, 'done', JSON.stringify(end));
  assert.is(end.cost_cents, 0);
  assert.is(end.usage.completionTokens, 3);
  assert.is(seen.at(-1)!.auth, 'Bearer sk-default-2222');
  // No model named: the route (the user's saved preference here) picks gpt-4o-mini, whose vendor's key is used.
  assert.is((await user.put('/v1/ai/preferences', { preferredModel: 'gpt-4o-mini' })).status, 200);
  const alias = await newChat(user, '/v1/ai/sessions');
  const res = await user.post(`/v1/ai/sessions/${alias}/messages`, { content: 'Hi again' });
  assert.is(res.status, 201, res.text);
  assert.is(res.body.model, 'gpt-4o-mini');
  assert.is(seen.at(-1)!.auth, 'Bearer sk-default-2222');
  assert.is(res.body.usage.costMicros, 0);
  assert.is(await balanceOf(user), 0);
});

test('someone else\'s credential is a 404, a key of another vendor a 400, on messages and stream', async () => {
  const owner = await k.asUser('byok-owner');
  const theirs = await credential(owner, 'openai', 'sk-not-yours-3333');
  const user = await k.asUser('byok-thief');
  const claude = await credential(user, 'anthropic', 'sk-ant-own-4444');
  const chat = await newChat(user);
  const before = seen.length;
  for (const path of [`/v1/chats/${chat}/messages`, `/v1/chats/${chat}/stream`]) {
    const stolen = await user.post(path, { content: 'Hi', model: 'gpt-4o-mini', credential_id: theirs });
    assert.is(stolen.status, 404, stolen.text);
    assert.is(stolen.body.error.code, 'CREDENTIAL_NOT_FOUND');
    const mismatch = await user.post(path, { content: 'Hi', model: 'gpt-4o-mini', credential_id: claude });
    assert.is(mismatch.status, 400, mismatch.text);
    assert.is(mismatch.body.error.code, 'CREDENTIAL_VENDOR_MISMATCH');
  }
  assert.is(seen.length, before, 'nothing reached the vendor');
});


test('jobs: text, structured and image run on the owner\'s key, resolved when they run; nothing charged',
  async () => {
    const user = await k.asUser('byok-jobs');
    await billingOf(k).subscriptions.activate(user.id, 'premium', { source: 'admin' }); // dall-e-3 is premium
    const id = await credential(user, 'openai', 'sk-job-key-5555');
    const text = await jobFinished(user, await startJob(user, 'ai.generate.text', { prompt: 'Write a line',
      model: 'gpt-4o-mini', credentialId: id }));
    assert.is(text.status, 'completed', JSON.stringify(text.error));
    assert.is(seen.at(-1)!.auth, 'Bearer sk-job-key-5555');
    assert.equal([text.result.usage.completionTokens, text.result.usage.costMicros], [3, 0]);

    const image = await jobFinished(user, await startJob(user, 'ai.generate.image', { prompt: 'A lighthouse',
      model: 'dall-e-3', credentialId: id, quality: 'hd' }));
    assert.is(image.status, 'completed', JSON.stringify(image.error));
    assert.is(seen.at(-1)!.url, '/v1/images/generations');
    assert.is(seen.at(-1)!.auth, 'Bearer sk-job-key-5555');
    assert.is(seen.at(-1)!.body.quality, 'hd');
    assert.is(image.result.costMicros, 0);
    assert.is(await balanceOf(user), 0);
    const rows = await usageRows(user.id);
    assert.equal(rows.map((r) => [r.kind, r.subject, Number(r.cost_micros)]),
      [['chat', 'gpt-4o-mini', 0], ['generation', 'dall-e-3', 0]], 'metered, not charged');
  });

test('jobs: a credential deleted before the job ran fails it at once (CREDENTIAL_NOT_FOUND), never charges credits',
  async () => {
    const user = await k.asUser('byok-deleted');
    const id = await credential(user, 'openai', 'sk-gone-6666');
    assert.is((await user.delete(`/v1/ai/credentials/${id}`)).status, 204);
    const before = seen.length;
    for (const [type, parameters] of [
      ['ai.generate.text', { prompt: 'Hello', model: 'gpt-4o-mini', credentialId: id }],
      ['ai.generate.structured', { prompt: 'Hello', schema: { type: 'object' }, model: 'gpt-4o-mini',
        credentialId: id }],
    ] as const) {
      const job = await jobFinished(user, await startJob(user, type, parameters));
      assert.is(job.status, 'failed', type);
      assert.is(job.error?.code, 'CREDENTIAL_NOT_FOUND', type);
      assert.is(job.attempts, 1, 'a 4xx is not retried');
    }
    assert.is(seen.length, before, 'nothing reached the vendor');
    assert.is(await balanceOf(user), 0);
    assert.is((await usageRows(user.id)).length, 0);
  });

test('a deployment without aiapi: chats are charged as before; a named credential is a 404', async () => {
  const plain = await startTestKernel({ config: { plugins: { aiapi: { enabled: false },
    billing: { plans: PLANS } }, adapters: { aiProvider: { use: 'local', pacing: { firstTokenMs: 0,
    perTokenMs: 0 } } } } });
  try {
    const user = await plain.asUser('no-aiapi');
    await billingOf(plain).ledger.grant(user.id, 10 * 1_000_000, { idempotencyKey: `grant-${user.id}` });
    const chat = (await user.post('/v1/chats', {})).body.id;
    const res = await user.post(`/v1/chats/${chat}/messages`, { content: 'Hello', model: 'gpt-4o-mini' });
    assert.is(res.status, 201, res.text);
    assert.ok(res.body.usage.costMicros > 0, 'charged');
    const named = await user.post(`/v1/chats/${chat}/messages`, { content: 'Hello', credential_id: 'x' });
    assert.is(named.status, 404, named.text);
    assert.is(named.body.error.code, 'CREDENTIAL_NOT_FOUND');
    assert.is((await user.get('/v1/ai/credentials')).status, 404, 'no credentials API here');
  } finally {
    await plain.stop();
  }
});

test.run();
