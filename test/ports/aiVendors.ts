/**
 * Recorded answer shapes of the AI vendors, served by nock (the vendors cannot be reached from tests).
 * The shapes follow the vendors' documented and observed wire formats, extra fields included, so that
 * parsers meet what production sends: OpenAI's `choices: []` usage chunk and `data: [DONE]`, Anthropic's
 * `event:` lines with cumulative usage in `message_delta`, Gemini's `alt=sse` chunks with `usageMetadata`.
 */
import pino from 'pino';
import type nockType from 'nock';
import { systemClock } from '../../kernel/ports/clock.ts';
import type { AdapterContext } from '../../kernel/ports/adapter.ts';
import type { Egress } from '../../kernel/ports/egress.ts';
import { createUndiciEgress } from '../../adapters/egress/undiciClient.ts';
import type { AiScript } from './aiProvider.suite.ts';

export const silentContext = (): AdapterContext => ({
  logger: pino({ level: 'silent' }), clock: systemClock, serviceName: 'kernel-test',
});

type Nock = typeof nockType;
let nockModule: Nock | undefined;
const DISPATCHER_KEY = Symbol.for('undici.globalDispatcher.1');
let savedDispatcher: unknown;
let users = 0;

/** nock on, the network off, and an egress whose undici calls nock intercepts (as test/ports/egress.test.ts). */
export async function nockEgress(): Promise<{ nock: Nock; egress: Egress & { close?(): Promise<void> };
  release(): Promise<void> }> {
  const { default: nock } = await import('nock');
  if (users++ === 0) {
    savedDispatcher = (globalThis as Record<symbol, unknown>)[DISPATCHER_KEY];
    if (!nock.isActive()) nock.activate();
    nock.disableNetConnect();
  }
  nockModule = nock;
  const { getGlobalDispatcher } = await import('undici');
  const egress = await createUndiciEgress({}, silentContext(), { dispatcher: getGlobalDispatcher() });
  return {
    nock, egress,
    async release() {
      await egress.close?.();
      if (--users === 0) {
        nock.cleanAll();
        nock.enableNetConnect();
        nock.restore();
        if (savedDispatcher === undefined) delete (globalThis as Record<symbol, unknown>)[DISPATCHER_KEY];
        else (globalThis as Record<symbol, unknown>)[DISPATCHER_KEY] = savedDispatcher;
      }
    },
  };
}

export const sse = (events: Array<{ event?: string; data: unknown }>) =>
  events.map((e) => `${e.event ? `event: ${e.event}\n` : ''}data: ${typeof e.data === 'string' ? e.data
    : JSON.stringify(e.data)}\n\n`).join('');

const SSE_HEADERS = { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' };

// ------------------------------------------------------------------------------------------------ OpenAI

export function openAiCompletion(
  text: string,
  usage: { input: number; output: number },
  model = 'gpt-4o-mini-2024-07-18',
) {
  return {
    id: 'chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT',
    object: 'chat.completion',
    created: 1741569952,
    model,
    choices: [
      {
        index: 0,
        message: { role: 'assistant', content: text, refusal: null, annotations: [] },
        logprobs: null,
        finish_reason: 'stop',
      },
    ],
    usage: {
      prompt_tokens: usage.input,
      completion_tokens: usage.output,
      total_tokens: usage.input + usage.output,
      prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
      completion_tokens_details: {
        reasoning_tokens: 0,
        audio_tokens: 0,
        accepted_prediction_tokens: 0,
        rejected_prediction_tokens: 0,
      },
    },
    service_tier: 'default',
    system_fingerprint: 'fp_06737a9306',
  };
}

export function openAiStream(deltas: string[], usage?: { input: number; output: number }, o: { cut?: boolean } = {}) {
  const base = { id: 'chatcmpl-AyPUr7kYhvoR3WoDV8bUI8w3mGxnb', object: 'chat.completion.chunk', created: 1738960661,
    model: 'gpt-4o-mini-2024-07-18', service_tier: 'default', system_fingerprint: 'fp_72ed7ab54c' };
  const chunks: Array<{ data: unknown }> = [
    { data: { ...base, choices: [{ index: 0, delta: { role: 'assistant', content: '', refusal: null }, logprobs: null,
      finish_reason: null }], usage: null } },
    ...deltas.map((d) => ({ data: { ...base, choices: [{ index: 0, delta: { content: d }, logprobs: null,
      finish_reason: null }], usage: null } })),
  ];
  if (o.cut) return sse(chunks);
  chunks.push(
    { data: { ...base, choices: [{ index: 0, delta: {}, logprobs: null, finish_reason: 'stop' }], usage: null } },
    // With stream_options.include_usage, the last chunk has no choices and the whole usage.
    { data: { ...base, choices: [], usage: { prompt_tokens: usage!.input, completion_tokens: usage!.output,
      total_tokens: usage!.input + usage!.output, prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
      completion_tokens_details: { reasoning_tokens: 0, audio_tokens: 0, accepted_prediction_tokens: 0,
        rejected_prediction_tokens: 0 } } } },
    { data: '[DONE]' },
  );
  return sse(chunks);
}

export function openAiScript(nock: Nock, origin: string, prefix: string): AiScript {
  const scope = () => nock(origin);
  const path = `${prefix}/chat/completions`;
  const streamed = (body: Record<string, unknown>) =>
    body.stream === true && (body.stream_options as { include_usage?: boolean })?.include_usage === true;
  return {
    chat: (text, usage) => {
      scope()
        .post(path, (b) => !b.stream)
        .reply(200, openAiCompletion(text, usage));
    },
    stream: (deltas, usage) => {
      scope().post(path, streamed).reply(200, openAiStream(deltas, usage), SSE_HEADERS);
    },
    streamCut: (deltas) => {
      scope()
        .post(path, streamed)
        .reply(200, openAiStream(deltas, undefined, { cut: true }), SSE_HEADERS);
    },
    structured: (answers) => {
      for (const a of answers) {
        scope()
          .post(path, (b) => Boolean(b.response_format))
          .reply(200, openAiCompletion(a, { input: 40, output: 20 }));
      }
    },
    embed: (vectors) => {
      scope()
        .post(`${prefix}/embeddings`)
        .reply(200, {
          object: 'list',
          model: 'text-embedding-3-small',
          data: vectors.map((embedding, index) => ({ object: 'embedding', index, embedding })).reverse(),
          usage: { prompt_tokens: 4, total_tokens: 4 },
        });
    },
    status: (status, headers, body) => {
      scope()
        .post(path)
        .reply(status, body, { 'content-type': 'application/json', ...headers });
    },
    slow: () => {
      scope()
        .post(path)
        .delay(1500)
        .reply(200, openAiCompletion('late', { input: 1, output: 1 }));
    },
    pending: () => nock.pendingMocks().filter((m) => m.includes(origin)),
  };
}

// ------------------------------------------------------------------------------------------------ Anthropic

const ANTHROPIC_MODEL = 'claude-3-5-haiku-20241022';

export function anthropicMessage(text: string, usage: { input: number; output: number }) {
  return {
    id: 'msg_013Zva2CMHLNnXjNJJKqJ2EF', type: 'message', role: 'assistant', model: ANTHROPIC_MODEL,
    content: [{ type: 'text', text }], stop_reason: 'end_turn', stop_sequence: null,
    usage: { input_tokens: usage.input, cache_creation_input_tokens: 0, cache_read_input_tokens: 0,
      output_tokens: usage.output, service_tier: 'standard' },
  };
}

export function anthropicStream(
  deltas: string[],
  usage?: { input: number; output: number },
  o: { cut?: boolean } = {},
) {
  const events: Array<{ event: string; data: unknown }> = [
    {
      event: 'message_start',
      data: {
        type: 'message_start',
        message: {
          id: 'msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY',
          type: 'message',
          role: 'assistant',
          content: [],
          model: ANTHROPIC_MODEL,
          stop_reason: null,
          stop_sequence: null,
          usage: {
            input_tokens: usage?.input ?? 25,
            cache_creation_input_tokens: 0,
            cache_read_input_tokens: 0,
            output_tokens: 1,
          },
        },
      },
    },
    {
      event: 'content_block_start',
      data: { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } },
    },
    { event: 'ping', data: { type: 'ping' } },
    ...deltas.map((text) => ({
      event: 'content_block_delta',
      data: { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text } },
    })),
  ];
  if (!o.cut) {
    events.push(
      { event: 'content_block_stop', data: { type: 'content_block_stop', index: 0 } },
      // Cumulative: the final output count, not an increment over message_start's 1.
      {
        event: 'message_delta',
        data: {
          type: 'message_delta',
          delta: { stop_reason: 'end_turn', stop_sequence: null },
          usage: { output_tokens: usage!.output },
        },
      },
      { event: 'message_stop', data: { type: 'message_stop' } },
    );
  }
  return sse(events);
}

export function anthropicScript(nock: Nock, origin = 'https://api.anthropic.com'): AiScript {
  const scope = () => nock(origin).matchHeader('anthropic-version', '2023-06-01');
  const path = '/v1/messages';
  return {
    chat: (text, usage) => {
      scope()
        .post(path, (b) => !b.stream)
        .reply(200, anthropicMessage(text, usage));
    },
    stream: (deltas, usage) => {
      scope()
        .post(path, (b) => b.stream === true)
        .reply(200, anthropicStream(deltas, usage), SSE_HEADERS);
    },
    streamCut: (deltas) => {
      scope()
        .post(path)
        .reply(200, anthropicStream(deltas, undefined, { cut: true }), SSE_HEADERS);
    },
    structured: (answers) => {
      for (const a of answers)
        scope()
          .post(path)
          .reply(200, anthropicMessage(a, { input: 40, output: 20 }));
    },
    embed: () => {
      throw new Error('anthropic has no embeddings');
    },
    status: (status, headers, body) => {
      const type =
        status === 429
          ? 'rate_limit_error'
          : status === 401
            ? 'authentication_error'
            : status >= 500
              ? 'overloaded_error'
              : 'invalid_request_error';
      const message = (JSON.parse(body) as { error: { message: string } }).error.message;
      scope().post(path).reply(status, { type: 'error', error: { type, message } }, headers);
    },
    slow: () => {
      scope()
        .post(path)
        .delay(1500)
        .reply(200, anthropicMessage('late', { input: 1, output: 1 }));
    },
    pending: () => nock.pendingMocks().filter((m) => m.includes(origin)),
  };
}

// ------------------------------------------------------------------------------------------------ Gemini

export function geminiResponse(parts: string[], o: { usage?: { input: number; output: number }; finish?: string;
  last?: boolean } = {}) {
  const done = o.last ?? true;
  return {
    candidates: [{
      content: { parts: parts.map((text) => ({ text })), role: 'model' },
      ...(done ? { finishReason: o.finish ?? 'STOP' } : {}),
      index: 0,
    }],
    usageMetadata: o.usage && done
      ? { promptTokenCount: o.usage.input, candidatesTokenCount: o.usage.output,
        totalTokenCount: o.usage.input + o.usage.output,
        promptTokensDetails: [{ modality: 'TEXT', tokenCount: o.usage.input }] }
      : { promptTokenCount: o.usage?.input ?? 9, totalTokenCount: o.usage?.input ?? 9 },
    modelVersion: 'gemini-2.0-flash', responseId: 'Xk2lZ8HqNeSc1PIP-LGR6Ak',
  };
}

export function geminiStream(deltas: string[], usage?: { input: number; output: number }, o: { cut?: boolean } = {}) {
  return sse(deltas.map((d, i) => ({
    data: geminiResponse([d], { usage, last: !o.cut && i === deltas.length - 1 }),
  })));
}

export function geminiScript(nock: Nock, model: string, origin = 'https://generativelanguage.googleapis.com'): AiScript {
  const scope = () => nock(origin).matchHeader('x-goog-api-key', /.+/);
  const at = (method: string) => `/v1beta/models/${model}:${method}`;
  return {
    chat: (text, usage) => { scope().post(at('generateContent')).reply(200, geminiResponse([text], { usage })); },
    stream: (deltas, usage) => {
      scope()
        .post(at('streamGenerateContent'))
        .query({ alt: 'sse' })
        .reply(200, geminiStream(deltas, usage), SSE_HEADERS);
    },
    streamCut: (deltas) => {
      scope().post(at('streamGenerateContent')).query({ alt: 'sse' })
        .reply(200, geminiStream(deltas, undefined, { cut: true }), SSE_HEADERS);
    },
    structured: (answers) => {
      for (const a of answers) {
        scope().post(at('generateContent'), (b) => b.generationConfig?.responseMimeType === 'application/json')
          .reply(200, geminiResponse([a], { usage: { input: 40, output: 20 } }));
      }
    },
    embed: (vectors) => {
      nock(origin).post('/v1beta/models/text-embedding-004:batchEmbedContents')
        .reply(200, { embeddings: vectors.map((values) => ({ values })) });
    },
    status: (status, headers, body) => {
      const message = (JSON.parse(body) as { error: { message: string } }).error.message;
      const statusName = status === 429 ? 'RESOURCE_EXHAUSTED' : status === 401 ? 'UNAUTHENTICATED'
        : status >= 500 ? 'UNAVAILABLE' : 'INVALID_ARGUMENT';
      scope()
        .post(at('generateContent'))
        .reply(status, { error: { code: status, message, status: statusName } }, headers);
    },
    slow: () => { scope().post(at('generateContent')).delay(1500).reply(200, geminiResponse(['late'])); },
    pending: () => nock.pendingMocks().filter((m) => m.includes(origin)),
  };
}

export function activeNock(): Nock {
  if (!nockModule) throw new Error('nockEgress() first');
  return nockModule;
}
