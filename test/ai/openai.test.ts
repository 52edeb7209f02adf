/**
 * The OpenAI-compatible surface driven by the official `openai` SDK (`baseURL: <kernel>/v1`), unchanged: models,
 * completions unstreamed and streamed with usage, embeddings, errors as the SDK's own classes, 402 at zero balance,
 * 429 from the key's rate limit, and a user's own vendor key (upstream sees it; no credits move). Models served by
 * `openai` go to a mock OpenAI-shaped upstream on loopback; the rest to the local stand-in.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mockOpenAiUpstream, type SeenRequest } from './mockOpenAi.ts';
import OpenAI from 'openai';
import { guarded } from '../helpers/guarded.ts';
import { startTestKernel, type TestKit, type SignedInClient } from '../kit/index.ts';

const test = guarded(suite('aiapi: the OpenAI SDK against /v1'));
let k: TestKit;
let upstream: Server;
const seen: SeenRequest[] = [];

test.before(async () => {
  // 'crowd' prompts use every token they may (so each costs about what it held); the rest use 3.
  const crowd = (body: any) => body.messages?.[0]?.content === 'Say hello to the crowd';
  upstream = mockOpenAiUpstream(seen, { completionTokens: (body) =>
    (crowd(body) ? Number(body.max_completion_tokens ?? body.max_tokens) : 3) });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  const origin = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
  k = await startTestKernel({ config: { adapters: {
    egress: { use: 'undici', allowCidrs: ['127.0.0.1/32'] },
    aiProvider: { use: 'gateway', moderation: 'local', providers: {
      openai: { adapter: 'openai', baseUrl: `${origin}/v1`, apiKey: 'sk-deployment' }, local: { adapter: 'local' },
    } },
  } } });
});
test.after(async () => {
  await k?.stop();
  await new Promise((r) => upstream?.close(r));
});

async function keyFor(user: SignedInClient, rateLimit?: { limit: number }): Promise<string> {
  const made = await user.post('/v1/users/me/api-keys', { name: 'sdk', ...(rateLimit ? { rateLimit } : {}) });
  assert.is(made.status, 201, made.text);
  return made.body.key;
}
const sdk = (apiKey: string) => new OpenAI({ apiKey, baseURL: `${k.url}/v1`, maxRetries: 0 });
const balanceOf = async (user: SignedInClient) => (await user.get('/v1/billing/balance')).body.balanceMicros as number;

async function waitUntil<T>(check: () => Promise<T | undefined>, deadlineMs = 10_000): Promise<T> {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try { await p; } catch (e) { return e; }
  throw new Error('expected a rejection');
}

test('models: the tier\'s models, as OpenAI lists them; a premium one is not found for the free tier', async () => {
  const client = sdk(await keyFor(await k.asUser('oa-models')));
  const ids: string[] = [];
  for await (const m of client.models.list()) {
    assert.is(m.object, 'model');
    ids.push(m.id);
  }
  assert.ok(ids.includes('gpt-4o-mini'));
  assert.ok(ids.includes('text-embedding-3-small'));
  assert.not.ok(ids.includes('gpt-4o'), 'premium');
  assert.is((await client.models.retrieve('qwen-turbo')).owned_by, 'qwen');
  assert.instance(await rejection(client.models.retrieve('gpt-4o')), OpenAI.NotFoundError);
});

test('non-streamed: chat.completion with usage and its exact cost, charged to the balance', async () => {
  const user = await k.asUser('oa-plain');
  const client = sdk(await keyFor(user));
  const before = await balanceOf(user);
  const r = await client.chat.completions.create({
    model: 'gpt-4o-mini', max_tokens: 20, messages: [{ role: 'user', content: 'Say hello' }],
  });
  assert.is(r.object, 'chat.completion');
  assert.ok(r.id.startsWith('chatcmpl-'));
  assert.is(r.choices[0].message.content, 'Hello from upstream');
  assert.is(r.choices[0].finish_reason, 'stop');
  assert.equal([r.usage?.prompt_tokens, r.usage?.completion_tokens, r.usage?.total_tokens], [11, 3, 14],
    'the vendor\'s counts');
  const cost = (r.usage as unknown as { cost_micros: number }).cost_micros;
  assert.ok(cost > 0);
  assert.is(before - (await balanceOf(user)), cost, 'exactly what the usage says');
  assert.is(seen.at(-1)!.auth, 'Bearer sk-deployment');
  assert.ok((seen.at(-1)!.body.max_completion_tokens as number) <= 20, 'max_tokens bounded, never raised');

  const local = await client.chat.completions.create({
    model: 'qwen-turbo', messages: [{ role: 'user', content: 'Summarize the tale of the fox' }],
  });
  assert.ok(local.choices[0].message.content!.length > 0, 'the local stand-in answers qwen-turbo');
});

test('streamed with include_usage: chunks, the finish chunk, the usage chunk with choices: [], [DONE]', async () => {
  const user = await k.asUser('oa-stream');
  const key = await keyFor(user);
  const stream = await sdk(key).chat.completions.create({
    model: 'gpt-4o-mini', stream: true, stream_options: { include_usage: true },
    messages: [{ role: 'user', content: 'Say hello' }],
  });
  const chunks: OpenAI.Chat.Completions.ChatCompletionChunk[] = [];
  for await (const c of stream) chunks.push(c);
  assert.ok(chunks.every((c) => c.object === 'chat.completion.chunk' && c.id === chunks[0].id));
  assert.is(chunks[0].choices[0].delta.role, 'assistant');
  assert.is(chunks.map((c) => c.choices[0]?.delta.content ?? '').join(''), 'Hello from upstream');
  const finish = chunks.at(-2)!;
  assert.is(finish.choices[0].finish_reason, 'stop');
  const last = chunks.at(-1)!;
  assert.equal(last.choices, []);
  assert.is(last.usage?.total_tokens, 14);
  assert.ok(chunks.slice(0, -1).every((c) => c.usage === null), 'usage: null on the other chunks, as OpenAI does');

  const raw = await fetch(`${k.url}/v1/chat/completions`, {
    method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'qwen-turbo', stream: true, messages: [{ role: 'user', content: 'hi there' }] }),
  });
  assert.match(raw.headers.get('content-type')!, 'text/event-stream');
  const text = await raw.text();
  assert.ok(text.endsWith('data: [DONE]\n\n'), text.slice(-80));
  assert.not.match(text, '"usage"', 'no usage chunk unless asked');
});

test('a client that leaves mid-stream: the upstream call is aborted and what was used is billed', async () => {
  const user = await k.asUser('oa-leave');
  const key = await keyFor(user);
  const before = await balanceOf(user);
  const abort = new AbortController();
  const res = await fetch(`${k.url}/v1/chat/completions`, {
    method: 'POST', signal: abort.signal,
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'qwen-turbo', stream: true, max_tokens: 400,
      messages: [{ role: 'user', content: 'Tell me a very long story about the sea and its ships' }] }),
  });
  const reader = res.body!.getReader();
  let seen = '';
  while (!seen.includes('"content":"') || seen.split('data: ').length < 5) {
    seen += new TextDecoder().decode((await reader.read()).value);
  }
  abort.abort();
  await reader.cancel().catch(() => {});
  // The local stand-in paces its tokens (20 ms each): the full answer would take seconds; the charge comes first.
  const charged = await waitUntil(async () => {
    const now = await balanceOf(user);
    return now < before ? before - now : undefined;
  });
  assert.ok(charged > 0, 'the partial answer is billed');
  assert.not.match(seen, '[DONE]', 'left before the end');
});

test('the vendor dies mid-stream: OpenAI\'s in-stream error (the SDK raises an APIError), then [DONE]', async () => {
  const user = await k.asUser('oa-cut');
  const key = await keyFor(user);
  const stream = await sdk(key).chat.completions.create({
    model: 'gpt-4o-mini', stream: true, stream_options: { include_usage: true },
    messages: [{ role: 'user', content: 'cut me off' }],
  });
  let text = '';
  const failure = await rejection((async () => {
    for await (const c of stream) text += c.choices[0]?.delta.content ?? '';
  })());
  assert.instance(failure, OpenAI.APIError);
  // The gateway's output moderation holds a short tail back until the next chunk; the cut drops it.
  assert.ok('Hello'.startsWith(text));
  const raw = await (await fetch(`${k.url}/v1/chat/completions`, {
    method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: 'cut me off' }] }),
  })).text();
  assert.match(raw, /data: \{"error":\{"message":"[^"]+","type":"server_error"/);
  assert.ok(raw.endsWith('data: [DONE]\n\n'), 'the stream still ends');
});

test('embeddings: the SDK\'s default base64 and explicit float, billed', async () => {
  const user = await k.asUser('oa-embed');
  const client = sdk(await keyFor(user));
  const r = await client.embeddings.create({ model: 'text-embedding-3-small', input: ['one', 'two'] });
  assert.is(r.object, 'list');
  assert.is(r.data.length, 2);
  assert.equal(r.data[1].embedding, [0.25, -0.5, 1], 'float32 base64, decoded by the SDK');
  const f = await client.embeddings.create({ model: 'text-embedding-3-small', input: 'one', encoding_format: 'float' });
  assert.equal(f.data[0].embedding, [0.25, -0.5, 1]);
  assert.is(f.usage.prompt_tokens, 4);
});

test('errors are the SDK\'s own classes, in OpenAI\'s shape', async () => {
  const user = await k.asUser('oa-errors');
  const client = sdk(await keyFor(user));
  const messages = [{ role: 'user' as const, content: 'hi' }];
  const auth = await rejection(sdk('sk_not-a-real-key').chat.completions.create({ model: 'gpt-4o-mini', messages }));
  assert.instance(auth, OpenAI.AuthenticationError);
  const premium = await rejection(client.chat.completions.create({ model: 'gpt-4o', messages }));
  assert.instance(premium, OpenAI.PermissionDeniedError);
  assert.is((premium as InstanceType<typeof OpenAI.APIError>).code, 'model_not_available');
  const bad = await rejection(client.chat.completions.create({ model: 'gpt-4o-mini', messages, temperature: 5 }));
  assert.instance(bad, OpenAI.BadRequestError);
  assert.is((bad as InstanceType<typeof OpenAI.APIError>).param, 'temperature');
  assert.is((bad as InstanceType<typeof OpenAI.APIError>).type, 'invalid_request_error');
  const missing = await rejection(client.chat.completions.create({ model: 'no-such-model', messages }));
  assert.instance(missing, OpenAI.NotFoundError);
  const streamedPremium = await rejection(client.chat.completions.create({ model: 'gpt-4o', messages, stream: true }));
  assert.instance(streamedPremium, OpenAI.PermissionDeniedError, 'a streamed refusal is an HTTP error too');
});

type ApiError = InstanceType<typeof OpenAI.APIError>;
/** OpenAI's four fields and the request id (the one extra field, as on every error here), nothing of ours. */
function assertOpenAiShape(e: ApiError, type: string, code: string, param: string | null = null) {
  const body = e.error as Record<string, unknown>;
  assert.equal(Object.keys(body).sort(), ['code', 'message', 'param', 'requestId', 'type'], JSON.stringify(body));
  assert.equal([body.type, body.code, body.param], [type, code, param], JSON.stringify(body));
  assert.type(body.message, 'string');
  assert.is(body.requestId, e.requestID, 'the request id, as in the X-Request-Id header');
}

test('the kernel\'s refusals on /v1 (before any handler) are OpenAI\'s: 401 without or with a bad key', async () => {
  const noKey = new OpenAI({ apiKey: 'unused', baseURL: `${k.url}/v1`, maxRetries: 0,
    fetch: (url: RequestInfo | URL, init?: RequestInit) => {
      const headers = new Headers(init?.headers);
      headers.delete('authorization');
      return fetch(url, { ...init, headers });
    } });
  const messages = [{ role: 'user' as const, content: 'hi' }];
  const missing = await rejection(noKey.chat.completions.create({ model: 'gpt-4o-mini', messages }));
  assert.instance(missing, OpenAI.AuthenticationError);
  assertOpenAiShape(missing as ApiError, 'invalid_request_error', 'invalid_api_key');
  const wrong = await rejection(sdk('sk_not-a-real-key').models.list());
  assert.instance(wrong, OpenAI.AuthenticationError);
  assertOpenAiShape(wrong as ApiError, 'invalid_request_error', 'invalid_api_key');
});

test('contract validation before the handler: BadRequestError with param; 405 and 413 in OpenAI\'s shape', async () => {
  const key = await keyFor(await k.asUser('oa-kernel-400'));
  const bad = await rejection(sdk(key).models.retrieve('m'.repeat(101)));
  assert.instance(bad, OpenAI.BadRequestError);
  assertOpenAiShape(bad as ApiError, 'invalid_request_error', 'invalid_request', 'model');
  assert.match((bad as ApiError).message, /'model'/);
  const auth = { authorization: `Bearer ${key}`, 'content-type': 'application/json' };
  const wrongMethod = await fetch(`${k.url}/v1/chat/completions`, { method: 'GET', headers: auth });
  assert.is(wrongMethod.status, 405);
  const e405 = (await wrongMethod.json()).error;
  assert.equal([e405.type, e405.code, e405.param], ['invalid_request_error', 'method_not_allowed', null]);
  assert.type(e405.requestId, 'string');
  const big = await fetch(`${k.url}/v1/chat/completions`, { method: 'POST', headers: auth,
    body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x'.repeat(1_100_000) }] }) });
  assert.is(big.status, 413);
  const e413 = (await big.json()).error;
  assert.equal([e413.type, e413.code], ['invalid_request_error', 'request_too_large']);
  assert.type(e413.requestId, 'string');
});

test('403 from the kernel (a key whose scopes leave out ai:complete): PermissionDeniedError, OpenAI\'s shape',
  async () => {
    const user = await k.asUser('oa-kernel-403');
    const made = await user.post('/v1/users/me/api-keys', { name: 'narrow', scopes: ['ai:credentials:manage'] });
    assert.is(made.status, 201, made.text);
    const refused = await rejection(sdk(made.body.key).chat.completions.create({ model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'hi' }] }));
    assert.instance(refused, OpenAI.PermissionDeniedError);
    assertOpenAiShape(refused as ApiError, 'permission_error', 'permission_denied');
  });

test('routes without x-error-format keep the deployment\'s format, the same plugin\'s and others\'', async () => {
  for (const path of ['/v1/ai/credentials', '/v1/billing/balance']) {
    const res = await fetch(`${k.url}${path}`);
    assert.is(res.status, 401);
    const body = await res.json();
    assert.is(body.error.code, 'UNAUTHORIZED', JSON.stringify(body));
    assert.type(body.error.requestId, 'string');
    assert.type(body.error.timestamp, 'string');
    assert.is(body.error.type, undefined, 'not OpenAI\'s');
  }
});

test('hostile bodies on /v1/chat/completions: 4xx in OpenAI\'s shape, never 5xx', async () => {
  const key = await keyFor(await k.asUser('oa-hostile'));
  const bodies = ['{}', '[]', '"text"', 'null', '{"a":', '{"model":5,"messages":[]}',
    '{"model":"gpt-4o-mini","messages":[{"role":"tool","content":"x"}]}',
    '{"model":"gpt-4o-mini","messages":[{"role":"user","content":[{"type":"image_url"}]}]}',
    '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"x"}],"max_tokens":-1}',
    '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"x"}],"stop":[1,2]}',
    '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"x"}],"tools":[]}',
    '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"x"}],"__proto__":{"x":1}}',
    '{"model":"../../etc/passwd","messages":[{"role":"user","content":"x"}],"credential_id":"\' or 1=1"}'];
  for (const raw of bodies) {
    const res = await fetch(`${k.url}/v1/chat/completions`, { method: 'POST', body: raw,
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' } });
    const text = await res.text();
    assert.ok(res.status >= 400 && res.status < 500, `${raw} -> ${res.status} ${text.slice(0, 200)}`);
    assert.type(JSON.parse(text).error.message, 'string', raw);
  }
});

test('402 at zero balance: an APIError with status 402 and code insufficient_quota; nothing charged', async () => {
  const user = await k.asUser('oa-broke');
  const admin = await k.asAdmin();
  const balance = await balanceOf(user);
  const drained = await admin.post(`/v1/admin/users/${user.id}/credits`,
    { amountMicros: -balance, kind: 'adjustment', reason: 'test: zero balance' },
    { 'idempotency-key': `drain-${user.id}` });
  assert.is(drained.status, 201, drained.text);
  assert.is(await balanceOf(user), 0);
  const client = sdk(await keyFor(user));
  const messages = [{ role: 'user' as const, content: 'hi' }];
  for (const stream of [false, true]) {
    const e = await rejection(client.chat.completions.create({ model: 'gpt-4o-mini', messages, stream }));
    assert.instance(e, OpenAI.APIError);
    assert.is((e as InstanceType<typeof OpenAI.APIError>).status, 402);
    assert.is((e as InstanceType<typeof OpenAI.APIError>).code, 'insufficient_quota');
  }
  assert.is(await balanceOf(user), 0);
});

test('40 concurrent streams on a balance for about 20: no overspend, each ends in [DONE] or is a 402', async () => {
  const user = await k.asUser('oa-crowd');
  const admin = await k.asAdmin();
  const messages = [{ role: 'user', content: 'Say hello to the crowd' }];
  const estimate = await user.post('/v1/ai/estimate', { model: 'gpt-4o-mini', messages, estimatedOutputTokens: 16 });
  assert.is(estimate.status, 200, estimate.text);
  const drain = await admin.post(`/v1/admin/users/${user.id}/credits`, { amountMicros: -(await balanceOf(user)),
    kind: 'adjustment', reason: 'test' }, { 'idempotency-key': `crowd-drain-${user.id}` });
  assert.is(drain.status, 201, drain.text);
  const granted = 20 * estimate.body.estimatedCostMicros;
  await admin.post(`/v1/admin/users/${user.id}/credits`, { amountMicros: granted, reason: 'test' },
    { 'idempotency-key': `crowd-grant-${user.id}` });
  const key = await keyFor(user);
  const answers = await Promise.all(Array.from({ length: 40 }, async () => {
    const res = await fetch(`${k.url}/v1/chat/completions`, {
      method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4o-mini', stream: true, stream_options: { include_usage: true },
        max_tokens: 16, messages }),
    });
    return { status: res.status, text: await res.text() };
  }));
  let charged = 0;
  for (const a of answers) {
    if (a.status === 402) { assert.is(JSON.parse(a.text).error.code, 'insufficient_quota'); continue; }
    assert.is(a.status, 200, a.text.slice(0, 200));
    assert.ok(a.text.endsWith('data: [DONE]\n\n'));
    const usage = a.text.split('\n\n').map((f) => f.slice(6)).filter((f) => f.includes('"usage":{'))
      .map((f) => JSON.parse(f).usage);
    assert.is(usage.length, 1);
    charged += usage[0].cost_micros;
  }
  const served = answers.filter((a) => a.status === 200).length;
  assert.ok(served >= 1 && served < 40, `${served} served`);
  const left = await balanceOf(user);
  assert.ok(left >= 0, 'never below zero');
  assert.is(granted - left, charged, 'the balance moved by exactly what the streams reported');
});

test('rate limited per key (the kernel\'s 429): RateLimitError in OpenAI\'s shape, with Retry-After', async () => {
  // Its own kernel with rate limits on (the kit turns them off; the suite registers more users than
  // identity's 10 registrations a minute per address).
  const limited = await startTestKernel({ config: { rateLimit: { enabled: true } } });
  try {
    const user = await limited.asUser('oa-rate');
    const made = await user.post('/v1/users/me/api-keys', { name: 'sdk', rateLimit: { limit: 2 } });
    const client = new OpenAI({ apiKey: made.body.key, baseURL: `${limited.url}/v1`, maxRetries: 0 });
    await client.models.list();
    await client.models.list();
    const refused = await rejection(client.models.list());
    assert.instance(refused, OpenAI.RateLimitError);
    assert.ok(Number((refused as InstanceType<typeof OpenAI.APIError>).headers?.get('retry-after')) > 0);
    assertOpenAiShape(refused as ApiError, 'rate_limit_error', 'rate_limit_exceeded');
  } finally {
    await limited.stop();
  }
});

test('the user\'s own vendor key: the upstream sees it, no credits move, usage still reported', async () => {
  const user = await k.asUser('oa-byok');
  const made = await user.post('/v1/ai/credentials', { vendor: 'openai', apiKey: 'sk-users-own-9999' });
  assert.is(made.status, 201, made.text);
  const client = sdk(await keyFor(user));
  const before = await balanceOf(user);
  const r = await client.chat.completions.create({
    model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], credential_id: made.body.id,
  } as OpenAI.Chat.Completions.ChatCompletionCreateParamsNonStreaming);
  assert.is(seen.at(-1)!.auth, 'Bearer sk-users-own-9999');
  assert.is(r.usage?.total_tokens, 14);
  assert.is((r.usage as unknown as { cost_micros: number }).cost_micros, 0, 'metered, not charged');
  assert.is(await balanceOf(user), before);

  // As the default for its vendor, it is used without naming it; another user's credential is a 404.
  await user.delete(`/v1/ai/credentials/${made.body.id}`);
  // No default key yet: the deployment's key, charged (and this instance remembers the absence a few seconds).
  const charged = await client.chat.completions.create({ model: 'gpt-4o-mini',
    messages: [{ role: 'user', content: 'hi' }] });
  assert.is(seen.at(-1)!.auth, 'Bearer sk-deployment');
  assert.ok((charged.usage as unknown as { cost_micros: number }).cost_micros > 0);
  // A default made now is used by the very next call: the remembered absence is dropped when it is created.
  await user.post('/v1/ai/credentials', { vendor: 'openai', apiKey: 'sk-default-key-7777', isDefault: true });
  await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });
  assert.is(seen.at(-1)!.auth, 'Bearer sk-default-key-7777');
  const other = sdk(await keyFor(await k.asUser('oa-byok-other')));
  const stolen = await rejection(other.chat.completions.create({
    model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], credential_id: made.body.id,
  } as OpenAI.Chat.Completions.ChatCompletionCreateParamsNonStreaming));
  assert.instance(stolen, OpenAI.NotFoundError);
});

test('a /v1 path that matches nothing: 404 in OpenAI\'s shape (the SDK\'s NotFoundError); others\' paths keep theirs',
  async () => {
    const user = await k.asUser('oa-404');
    const client = sdk(await keyFor(user));
    const missing = await rejection(client.get('/nowhere'));
    assert.instance(missing, OpenAI.NotFoundError);
    const e = missing as ApiError;
    assert.is(e.status, 404);
    assert.is(e.type, 'invalid_request_error');
    assert.is(e.message, '404 Invalid URL (GET /v1/nowhere)');
    for (const [method, path] of [['GET', '/v1/nowhere'], ['POST', '/v1/chat/nothing'], ['GET', '/v1/models/a/b'],
      ['DELETE', '/v1']]) {
      const res = await fetch(`${k.url}${path}`, { method, headers: { authorization: user.authorization } });
      assert.is(res.status, 404, path);
      const body = await res.json();
      assert.equal(Object.keys(body.error).slice(0, 4), ['message', 'type', 'param', 'code'], path);
      assert.equal([body.error.type, body.error.param, body.error.code], ['invalid_request_error', null, null]);
      assert.is(body.error.message, `Invalid URL (${method} ${path})`);
    }
    // /v1 is also this deployment's base path: a miss under another plugin's segment is that deployment's 404.
    const theirs = await fetch(`${k.url}/v1/users/me/nowhere`, { headers: { authorization: user.authorization } });
    assert.is(theirs.status, 404);
    assert.is((await theirs.json()).error.code, 'NOT_FOUND');
  });

test.run();
