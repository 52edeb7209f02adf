import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { guarded } from '../helpers/guarded.ts';
import {
  AI_CAPABILITIES, AiError, isAiError, type AiErrorKind, type AiProvider, type ChatStreamEvent,
} from '../../kernel/ports/aiProvider.ts';

/**
 * Scripts the vendor's next answers (nock for the vendor adapters). The local provider has no script: it answers
 * from the prompt, and the suite then checks shapes and determinism instead of exact text.
 */
export interface AiScript {
  chat(text: string, usage: { input: number; output: number }): void;
  stream(deltas: string[], usage: { input: number; output: number }): void;
  /** The body ends after these deltas, before the vendor's end marker. */
  streamCut(deltas: string[]): void;
  /** Successive structured answers (raw text as the model wrote it). */
  structured(answers: string[]): void;
  embed(vectors: number[][]): void;
  /** One error answer for a chat call. */
  status(status: number, headers: Record<string, string>, body: string): void;
  /** A chat answer that comes later than the call's timeout. */
  slow(): void;
  /** Scripted answers not consumed (must be empty after each test). */
  pending(): string[];
}

export interface AiFixture {
  provider: AiProvider;
  model: string;
  embeddingModel?: string;
  script?: AiScript;
  close?(): Promise<void>;
}

export async function rejection(run: () => Promise<unknown>): Promise<unknown> {
  try {
    await run();
  } catch (err) {
    return err;
  }
  return assert.unreachable('expected a rejection');
}

export function assertAiError(err: unknown, kind: AiErrorKind): AiError {
  assert.ok(isAiError(err), `expected an AiError(${kind}), got ${String(err)}`);
  assert.is((err as AiError).kind, kind, (err as Error).message);
  return err as AiError;
}

async function collect(events: AsyncIterable<ChatStreamEvent>): Promise<ChatStreamEvent[]> {
  const out: ChatStreamEvent[] = [];
  for await (const e of events) out.push(e);
  return out;
}

const isCount = (n: unknown) => Number.isSafeInteger(n) && (n as number) >= 0;

const SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['title', 'tags', 'rating', 'done'],
  properties: {
    title: { type: 'string', minLength: 1 },
    tags: { type: 'array', items: { type: 'string' }, minItems: 1 },
    rating: { type: 'integer', minimum: 1, maximum: 5 },
    done: { type: 'boolean' },
  },
};

export function aiProviderConformance(label: string, make: () => Promise<AiFixture>): void {
  const test = guarded(suite(`aiProvider conformance: ${label}`));
  let made: Promise<AiFixture> | undefined;
  const get = () => (made ??= make());
  const messages = [
    { role: 'system' as const, content: 'You are terse.' },
    { role: 'user' as const, content: 'Explain photosynthesis in plants briefly' },
  ];
  const has = (f: AiFixture, cap: string) => f.provider.capabilities.has(cap as never);

  test.after.each(async () => {
    const f = await get();
    assert.equal(f.script?.pending() ?? [], [], 'every scripted vendor answer was used');
  });
  test.after(async () => { await (await get()).close?.(); });

  test('declares its capabilities; the others throw AiError unsupported', async () => {
    const f = await get();
    assert.ok(f.provider.capabilities.size > 0);
    for (const cap of f.provider.capabilities) assert.ok(AI_CAPABILITIES.includes(cap), cap);
    if (!has(f, 'embeddings')) {
      assertAiError(await rejection(() => f.provider.embed({ model: f.model, input: ['x'] })), 'unsupported');
    }
    if (!has(f, 'images')) {
      assertAiError(await rejection(() => f.provider.image({ model: f.model, prompt: 'x' })), 'unsupported');
    }
    if (!has(f, 'transcription')) {
      const audio = new Uint8Array(4);
      assertAiError(await rejection(() =>
        f.provider.transcribe({ model: f.model, audio, mimeType: 'audio/wav' })), 'unsupported');
    }
    assert.type(f.provider.countTokens('hello world'), 'number');
    assert.ok(f.provider.countTokens('hello world, and more words here') > f.provider.countTokens('hello'));
  });

  test('chat: text, a finish reason and integer usage', async () => {
    const f = await get();
    f.script?.chat('Plants turn light into sugar.', { input: 21, output: 7 });
    const r = await f.provider.chat({ model: f.model, messages, maxTokens: 200 });
    assert.type(r.text, 'string');
    assert.ok(r.text.length > 0);
    assert.ok(['stop', 'length', 'content_filter', 'tool_calls'].includes(r.finishReason));
    assert.ok(isCount(r.usage.inputTokens) && r.usage.inputTokens > 0, 'input tokens');
    assert.ok(isCount(r.usage.outputTokens) && r.usage.outputTokens > 0, 'output tokens');
    if (f.script) {
      assert.is(r.text, 'Plants turn light into sugar.');
      assert.equal(r.usage, { inputTokens: 21, outputTokens: 7, estimated: false }, 'vendor usage wins');
    }
  });

  test('stream: deltas, then exactly one done with the usage, last', async () => {
    const f = await get();
    f.script?.stream(['Plants', ' turn light', ' into sugar.'], { input: 21, output: 7 });
    const events = await collect(f.provider.stream({ model: f.model, messages, maxTokens: 200 }));
    const done = events.filter((e) => e.type === 'done');
    assert.is(done.length, 1);
    assert.is(events.at(-1)!.type, 'done');
    const deltas = events.filter((e): e is Extract<ChatStreamEvent, { type: 'delta' }> => e.type === 'delta');
    assert.ok(deltas.length >= 2, 'more than one delta');
    const last = done[0] as Extract<ChatStreamEvent, { type: 'done' }>;
    assert.ok(isCount(last.usage.inputTokens) && isCount(last.usage.outputTokens) && last.usage.outputTokens > 0);
    const text = deltas.map((d) => d.text).join('');
    if (f.script) {
      assert.is(text, 'Plants turn light into sugar.');
      assert.equal(last.usage, { inputTokens: 21, outputTokens: 7, estimated: false });
    } else {
      const whole = await f.provider.chat({ model: f.model, messages, maxTokens: 200 });
      assert.is(text, whole.text, 'the stream says what chat says');
      assert.equal(last.usage, whole.usage);
    }
  });

  test('stream: leaving the loop early ends the call (no hang, nothing left open)', async () => {
    const f = await get();
    f.script?.stream(['one', ' two', ' three'], { input: 5, output: 3 });
    let seen = 0;
    for await (const e of f.provider.stream({ model: f.model, messages })) {
      if (e.type === 'delta') seen++;
      break;
    }
    assert.is(seen, 1);
  });

  test('an aborted signal: AiError aborted, before any vendor call', async () => {
    const f = await get();
    const signal = AbortSignal.abort();
    assertAiError(await rejection(() => f.provider.chat({ model: f.model, messages }, { signal })), 'aborted');
    assertAiError(
      await rejection(() => collect(f.provider.stream({ model: f.model, messages }, { signal }))),
      'aborted',
    );
  });

  test('structured: an object valid against the schema', async () => {
    const f = await get();
    if (!has(f, 'structured')) return;
    f.script?.structured(['{"title":"Photosynthesis","tags":["plants"],"rating":4,"done":true}']);
    const r = await f.provider.structured({ model: f.model, messages, schema: SCHEMA, schemaName: 'note' });
    const validate = new Ajv2020({ strict: false }).compile(SCHEMA);
    assert.ok(validate(r.value), JSON.stringify(validate.errors));
    assert.is(r.attempts, 1);
    assert.ok(r.usage.outputTokens > 0);
  });

  test('structured: one repair retry when the first answer fails the schema, then invalid_output', async () => {
    const f = await get();
    if (!has(f, 'structured') || !f.script) return;
    f.script.structured([
      'Sure! ```json\n{"title":"","tags":[],"rating":9,"done":"yes"}\n```',
      '{"title":"Photosynthesis","tags":["plants"],"rating":4,"done":true}',
    ]);
    const r = await f.provider.structured<{ rating: number }>({ model: f.model, messages, schema: SCHEMA });
    assert.is(r.attempts, 2);
    assert.is(r.value.rating, 4);
    f.script.structured(['not json at all', '{"title":"x"}']);
    assertAiError(await rejection(() => f.provider.structured({ model: f.model, messages, schema: SCHEMA })),
      'invalid_output');
  });

  test('embeddings: one vector per input, all of one size', async () => {
    const f = await get();
    if (!has(f, 'embeddings')) return;
    f.script?.embed([[0.1, 0.2, 0.3], [0.3, 0.2, 0.1]]);
    const r = await f.provider.embed({ model: f.embeddingModel ?? f.model, input: ['green plants', 'solar light'] });
    assert.is(r.vectors.length, 2);
    assert.ok(r.vectors[0].length > 0 && r.vectors[0].length === r.vectors[1].length);
    assert.ok(r.vectors.flat().every(Number.isFinite));
  });

  test('vendor errors are typed: 429 with its wait, 5xx, auth, bad request', async () => {
    const f = await get();
    if (!f.script) return;
    const call = () => f.provider.chat({ model: f.model, messages });
    f.script.status(429, { 'retry-after': '7' }, '{"error":{"message":"Rate limit reached"}}');
    const limited = assertAiError(await rejection(call), 'rate_limited');
    assert.is(limited.retryAfterMs, 7000);
    assert.ok(limited.retryable);
    assert.is(limited.status, 503);
    assert.is(limited.headers?.['Retry-After'], '7');
    f.script.status(503, {}, '{"error":{"message":"The server is overloaded"}}');
    assert.ok(assertAiError(await rejection(call), 'unavailable').retryable);
    f.script.status(401, {}, '{"error":{"message":"Invalid API key"}}');
    assert.not.ok(assertAiError(await rejection(call), 'auth').retryable);
    f.script.status(400, {}, '{"error":{"message":"max_tokens is too large"}}');
    const bad = assertAiError(await rejection(call), 'bad_request');
    assert.match(bad.message, 'max_tokens is too large');
  });

  test('a vendor that does not answer in time: AiError timeout (retryable)', async () => {
    const f = await get();
    if (!f.script) return;
    f.script.slow();
    const err = assertAiError(await rejection(() => f.provider.chat({ model: f.model, messages }, { timeoutMs: 50 })),
      'timeout');
    assert.ok(err.retryable);
  });

  test('a stream cut before its end: the iterator throws interrupted, with the partial text', async () => {
    const f = await get();
    if (!f.script) return;
    f.script.streamCut(['Plants', ' turn']);
    const seen: string[] = [];
    const err = await rejection(async () => {
      for await (const e of f.provider.stream({ model: f.model, messages })) if (e.type === 'delta') seen.push(e.text);
    });
    const typed = assertAiError(err, 'interrupted');
    assert.equal(seen, ['Plants', ' turn']);
    assert.is(typed.partial?.text, 'Plants turn');
    assert.ok(typed.partial!.usage.outputTokens > 0);
  });

  test.run();
}
