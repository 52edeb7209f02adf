import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { guarded } from '../helpers/guarded.ts';
import { startTestKernel, type SignedInClient, type TestKit } from '../kit/index.ts';
import { balanceOf, cents, ends, grant, GATEWAY_PLANS, sse, text } from './helpers.ts';

/**
 * A mock OpenAI upstream on loopback, driven by the real `openai` adapter through the egress client: what each
 * request gets is set per test (`next`). Streams use OpenAI's shapes: `data:` chunks, the usage chunk with
 * `choices: []`, then `data: [DONE]`.
 */
type Script = (req: IncomingMessage, res: ServerResponse, body: Record<string, unknown>) => void;
let next: Script;
let seen: Array<Record<string, unknown>> = [];
let server: Server;

const chunk = (content: string) => `data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk',
  model: 'gpt-4o-mini', choices: [{ index: 0, delta: { content }, finish_reason: null }] })}\n\n`;
const usageChunk = (prompt: number, completion: number) => `data: ${JSON.stringify({ id: 'c1',
  object: 'chat.completion.chunk', model: 'gpt-4o-mini', choices: [], usage: { prompt_tokens: prompt,
    completion_tokens: completion, total_tokens: prompt + completion } })}\n\n`;
const streamOf = (parts: string[], usage: [number, number]): Script => (_req, res) => {
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  for (const p of parts) res.write(chunk(p));
  res.write(`data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', model: 'gpt-4o-mini',
    choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] })}\n\n`);
  res.write(usageChunk(...usage));
  res.end('data: [DONE]\n\n');
};
const fail500: Script = (_req, res) => {
  res.writeHead(500, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ error: { message: 'upstream exploded', type: 'server_error' } }));
};

const test = guarded(suite('chats on a mock OpenAI upstream: fallback, vendor usage, redaction, disconnect'));
let k: TestKit;
test.before(async () => {
  server = createServer((req, res) => {
    let raw = '';
    req.on('data', (d) => { raw += d; });
    req.on('end', () => {
      const body = raw ? JSON.parse(raw) as Record<string, unknown> : {};
      seen.push(body);
      next(req, res, body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  k = await startTestKernel({ config: {
    adapters: {
      egress: { use: 'undici', allowCidrs: ['127.0.0.1/32'] },
      // Moderation by the local rules (the default would be the first provider that can: openai, here a mock).
      aiProvider: { use: 'gateway', moderation: 'local', breaker: { failures: 100 }, providers: {
        openai: { adapter: 'openai', baseUrl: `http://127.0.0.1:${port}/v1`, apiKey: 'sk-upstream-test' },
        local: { adapter: 'local', pacing: { firstTokenMs: 0, perTokenMs: 0 } },
      } },
    },
    plugins: { billing: { plans: GATEWAY_PLANS }, ai: { standIn: 'local' } },
  } });
});
test.after(async () => {
  await k.stop();
  await new Promise<void>((r) => server.close(() => r()));
});
test.before.each(() => { seen = []; });

async function funded(): Promise<{ user: SignedInClient; chat: string }> {
  const user = await k.asUser('upstream');
  await grant(k, user.id, cents(10));
  const res = await user.post('/v1/chats', {});
  return { user, chat: res.body.id };
}

test('the vendor\'s usage is trusted over the estimate; the output cap sent is the bounded one', async () => {
  next = streamOf(['Light', 'houses guide ', 'ships.'], [15, 7]);
  const { user, chat } = await funded();
  const before = await balanceOf(k, user.id);
  const res = await sse(k, `/chats/${chat}/stream`, { content: 'What do lighthouses do?', model: 'gpt-4o-mini',
    maxTokens: 300 }, user.authorization);
  const end = ends(res.events)[0];
  assert.is(end.type, 'done', JSON.stringify(end));
  assert.is(text(res.events), 'Lighthouses guide ships.');
  assert.equal([end.usage.promptTokens, end.usage.completionTokens, end.usage.estimated], [15, 7, false]);
  // 15 × 21 µ¢ + 7 × 84 µ¢ (gpt-4o-mini with 40% markup)
  assert.is(end.usage.costMicros, 15 * 21 + 7 * 84);
  assert.is(before - await balanceOf(k, user.id), end.usage.costMicros);
  assert.is(seen.length, 1);
  assert.is(seen[0].max_tokens ?? seen[0].max_completion_tokens, 300);
  assert.equal(seen[0].stream_options, { include_usage: true });
  // A vendor that reports more than was held is charged the hold, never more (the rest is uncollected).
  next = streamOf(['Short.'], [100_000, 7]);
  const mid = await balanceOf(k, user.id);
  const over = await sse(k, `/chats/${chat}/stream`, { content: 'Again?', model: 'gpt-4o-mini', maxTokens: 300 },
    user.authorization);
  const overEnd = ends(over.events)[0];
  assert.is(overEnd.type, 'done');
  assert.ok(overEnd.usage.costMicros < 100_000 * 21, 'capped at the hold');
  assert.is(mid - await balanceOf(k, user.id), overEnd.usage.costMicros);
});

test('a fallback when the first vendor 500s: the next in the chain answers, priced at its own model', async () => {
  next = fail500;
  const { user, chat } = await funded();
  const res = await user.post(`/v1/chats/${chat}/messages`, { content: 'Hello there', model: 'gpt-4o-mini' });
  assert.is(res.status, 201, res.text);
  assert.is(res.body.model, 'claude-3-haiku', 'OpenAI → Anthropic (served here by the local stand-in)');
  assert.ok(res.body.usage.costCents > 0);
  assert.ok(seen.length >= 1, 'the first vendor was called');
  const streamed = await sse(k, `/chats/${chat}/stream`, { content: 'Hello again', model: 'gpt-4o-mini' },
    user.authorization);
  const end = ends(streamed.events)[0];
  assert.is(end.type, 'done');
  assert.is(end.model, 'claude-3-haiku');
});

test('output moderation across a chunk boundary: the term is never sent, not even in halves', async () => {
  next = streamOf(['The old king was mur', 'dered at dawn, ', 'and the realm mourned for a long time after. ',
    'His daughter took the crown ', 'and ruled the coast for forty quiet years.'], [20, 18]);
  const { user, chat } = await funded();
  const res = await sse(k, `/chats/${chat}/stream`, { content: 'Tell me a story', model: 'gpt-4o-mini' },
    user.authorization);
  const end = ends(res.events)[0];
  assert.is(end.type, 'done');
  const chunks = res.events.filter((e) => e.type === 'chunk').map((e) => e.content as string);
  assert.ok(chunks.every((c) => !/mur|dered/.test(c)), JSON.stringify(chunks));
  assert.is(text(res.events), 'The old king was [redacted] at dawn, and the realm mourned for a long time after. '
    + 'His daughter took the crown and ruled the coast for forty quiet years.');
  assert.ok(chunks.length >= 2, 'still streamed, not buffered whole');
});

test('strict output: the answer stops with content_filter before the term; nothing after it is sent', async () => {
  next = streamOf(['The old king was ', 'murdered at dawn, and then ', 'the rest of the story went on.'], [20, 18]);
  const { user, chat } = await funded();
  assert.is((await user.put('/v1/ai/preferences', { moderation: 'strict' })).status, 200);
  const res = await sse(k, `/chats/${chat}/stream`, { content: 'Tell me a story', model: 'gpt-4o-mini' },
    user.authorization);
  const end = ends(res.events)[0];
  assert.is(end.type, 'done', JSON.stringify(end));
  assert.is(end.finish_reason, 'content_filter');
  assert.not.match(text(res.events), /murder|rest of the story/);
  const stored = (await user.get(`/v1/chats/${chat}/messages`)).body.data[0];
  assert.is(stored.finishReason, 'content_filter');
  assert.ok(stored.flagged);
  assert.ok(end.usage.costMicros > 0, 'what was generated is billed');
});

test('the vendor dies mid-stream: the stream still ends with one error event; the partial is stored and billed',
  async () => {
    next = (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(chunk('Lighthouses were first lit with wood fires and later with oil lamps, '));
      res.write(chunk('then with electric arcs and bulbs behind great lenses. '), () => res.socket?.destroy());
    };
    const { user, chat } = await funded();
    const before = await balanceOf(k, user.id);
    const res = await sse(k, `/chats/${chat}/stream`, { content: 'History of lighthouses?', model: 'gpt-4o-mini' },
      user.authorization);
    const endings = ends(res.events);
    assert.is(endings.length, 1);
    assert.is(res.events.at(-1), endings[0]);
    assert.is(endings[0].type, 'error');
    assert.is(endings[0].code, 'AI_STREAM_INTERRUPTED');
    const stored = (await user.get(`/v1/chats/${chat}/messages`)).body.data[0];
    assert.is(stored.id, endings[0].message_id);
    assert.is(stored.finishReason, 'error');
    assert.ok(stored.content.startsWith('Lighthouses were first lit'));
    assert.ok(stored.costMicros > 0);
    assert.is(before - await balanceOf(k, user.id), stored.costMicros);
  });

test('a client disconnect mid-stream aborts the upstream; the partial answer is stored and billed', async () => {
  let upstreamClosed!: () => void;
  const closed = new Promise<void>((r) => { upstreamClosed = r; });
  next = (req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    // Longer than the moderator's hold-back (48 characters), so some of it goes out before the stall.
    res.write(chunk('Once upon a time there was a lighthouse on a rock, '));
    res.write(chunk('and a keeper who climbed its stairs every night. '));
    res.on('close', () => upstreamClosed()); // never ends by itself: only the gateway's abort closes it
    void req;
  };
  const { user, chat } = await funded();
  const before = await balanceOf(k, user.id);
  const controller = new AbortController();
  const res = await sse(k, `/chats/${chat}/stream`, { content: 'Tell me a story', model: 'gpt-4o-mini' },
    user.authorization, { signal: controller.signal, onEvent: (e, all) => {
      if (all.filter((x) => x.type === 'chunk').length === 1) controller.abort();
    } });
  assert.ok(res.events.length >= 1);
  await closed; // the upstream request was aborted
  let stored: { role: string; finishReason: string; content: string; costMicros: number } | undefined;
  for (let i = 0; i < 200 && !stored; i++) {
    const page = await user.get(`/v1/chats/${chat}/messages`);
    stored = page.body.data.find((m: { role: string }) => m.role === 'assistant');
  }
  assert.ok(stored, `the partial answer was stored ${k.errors.join('\n')}`);
  assert.is(stored!.finishReason, 'error');
  assert.ok(stored!.content.length > 0);
  assert.ok('Once upon a time there was a lighthouse on a rock, and a keeper'.startsWith(stored!.content),
    stored!.content);
  assert.ok(stored!.costMicros > 0, 'billed for what was used');
  assert.is(before - await balanceOf(k, user.id), stored!.costMicros);
  assert.ok(k.errors.every((line) => !line.includes('sk-upstream-test')), 'the vendor key is never logged');
});

test.run();
