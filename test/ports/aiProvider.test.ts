import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { inflateSync } from 'node:zlib';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { guarded } from '../helpers/guarded.ts';
import { startKernel } from '../helpers/kernel.ts';
import {
  AiError, isAiError, type AiProviders, type ChatResult, type ChatStreamEvent,
} from '../../kernel/ports/aiProvider.ts';
import { ManualClock } from '../../kernel/ports/clock.ts';
import { buildProvider, registryOf } from '../../adapters/aiProvider/shared/provider.ts';
import { EGRESS_CALL_CHANNEL, type EgressCallEvent } from '../../kernel/ports/egress.ts';
import { createLocalProvider } from '../../adapters/aiProvider/localProvider.ts';
import { createOpenAiProvider } from '../../adapters/aiProvider/openaiProvider.ts';
import { createAnthropicProvider } from '../../adapters/aiProvider/anthropicProvider.ts';
import { createGeminiProvider } from '../../adapters/aiProvider/geminiProvider.ts';
import { createComfyUiProvider } from '../../adapters/aiProvider/comfyuiProvider.ts';
import { createGateway } from '../../adapters/aiProvider/gateway.ts';
import { createUndiciEgress } from '../../adapters/egress/undiciClient.ts';
import { pngSize, PNG_SIGNATURE, encodePng } from '../../adapters/aiProvider/shared/png.ts';
import { parseSse } from '../../adapters/aiProvider/shared/sse.ts';
import { aiProviderConformance, assertAiError, rejection } from './aiProvider.suite.ts';
import {
  anthropicScript, anthropicStream, geminiResponse, geminiScript, nockEgress, openAiScript, openAiStream,
  silentContext, sse,
} from './aiVendors.ts';

const noSleep = { sleep: async () => {} };

// ------------------------------------------------------------------------------- conformance, every adapter

aiProviderConformance('local', async () => ({
  provider: createLocalProvider({}, silentContext(), noSleep), model: 'local-chat',
}));

aiProviderConformance('openai (nock)', async () => {
  const n = await nockEgress();
  const provider = await createOpenAiProvider({ apiKey: 'sk-test' }, silentContext(), { egress: n.egress });
  return { provider, model: 'gpt-4o-mini', embeddingModel: 'text-embedding-3-small',
    script: openAiScript(n.nock, 'https://api.openai.com', '/v1'), close: n.release };
});

aiProviderConformance('openai preset qwen (nock, DashScope compatible mode)', async () => {
  const n = await nockEgress();
  const provider = await createOpenAiProvider({ preset: 'qwen', apiKey: 'sk-dash' }, silentContext(), {
    egress: n.egress,
  });
  return { provider, model: 'qwen-turbo', embeddingModel: 'text-embedding-v3',
    script: openAiScript(n.nock, 'https://dashscope-intl.aliyuncs.com', '/compatible-mode/v1'), close: n.release };
});

aiProviderConformance('anthropic (nock)', async () => {
  const n = await nockEgress();
  const provider = await createAnthropicProvider({ apiKey: 'sk-ant-test' }, silentContext(), { egress: n.egress });
  return { provider, model: 'claude-3-5-haiku-latest', script: anthropicScript(n.nock), close: n.release };
});

aiProviderConformance('gemini (nock)', async () => {
  const n = await nockEgress();
  const provider = await createGeminiProvider({ apiKey: 'AIza-test' }, silentContext(), { egress: n.egress });
  return { provider, model: 'gemini-2.0-flash', embeddingModel: 'text-embedding-004',
    script: geminiScript(n.nock, 'gemini-2.0-flash'), close: n.release };
});

// ------------------------------------------------------------------------------- OpenAI specifics

const oa = guarded(suite('aiProvider openai: wire details'));
const msgs = [{ role: 'user' as const, content: 'Hello there' }];

oa(
  'the request: bearer key (a per-call key wins), max_completion_tokens on OpenAI, max_tokens on presets',
  async () => {
    const n = await nockEgress();
    try {
      const seen: Array<Record<string, unknown>> = [];
      const record = (i: number, origin: string, auth: string) =>
        n
          .nock(origin)
          .post('/v1/chat/completions', (body) => {
            seen[i] = body as Record<string, unknown>;
            return true;
          })
          .matchHeader('authorization', auth)
          .reply(200, { choices: [{ message: { content: 'ok' }, finish_reason: 'length' }] });
      record(0, 'https://api.openai.com', 'Bearer sk-deploy');
      record(1, 'https://api.openai.com', 'Bearer sk-users-own');
      record(2, 'https://api.deepseek.com', 'Bearer sk-ds');
      const openai = await createOpenAiProvider({ apiKey: 'sk-deploy' }, silentContext(), { egress: n.egress });
      const deepseek = await createOpenAiProvider({ preset: 'deepseek', apiKey: 'sk-ds' }, silentContext(), {
        egress: n.egress,
      });
      const first = await openai.chat({ model: 'gpt-4o', messages: msgs, maxTokens: 50, user: 'u1' });
      await openai.chat({ model: 'gpt-4o', messages: msgs }, { apiKey: 'sk-users-own' });
      await deepseek.chat({ model: 'deepseek-chat', messages: msgs, maxTokens: 50 });
      assert.is(seen.length, 3, 'each call carried the expected key');
      assert.is(seen[0].max_completion_tokens, 50);
      assert.is(seen[0].user, 'u1');
      assert.is(seen[2].max_tokens, 50);
      assert.is(seen[2].max_completion_tokens, undefined);
      assert.is(first.finishReason, 'length');
      assert.ok(first.usage.estimated, 'no usage in the answer: estimated with the tokenizer');
      assert.ok(first.usage.inputTokens > 0);
      assert.is(openai.capabilities.has('moderation'), true);
      assert.is(deepseek.capabilities.has('embeddings'), false);
    } finally {
      await n.release();
    }
  },
);

oa('structured on a json_object vendor: the schema goes in the prompt; json_schema on OpenAI', async () => {
  const n = await nockEgress();
  try {
    const bodies: Array<Record<string, any>> = [];
    ['https://api.openai.com', 'https://api.deepseek.com'].forEach((origin, i) => {
      n.nock(origin).post('/v1/chat/completions', (body) => { bodies[i] = body; return true; })
        .reply(200, { choices: [{ message: { content: '{"n": 3}' }, finish_reason: 'stop' }],
          usage: { prompt_tokens: 30, completion_tokens: 5 } });
    });
    const schema = { type: 'object', required: ['n'], properties: { n: { type: 'integer' } } };
    const openai = await createOpenAiProvider({ apiKey: 'k' }, silentContext(), { egress: n.egress });
    const deepseek = await createOpenAiProvider({ preset: 'deepseek', apiKey: 'k' }, silentContext(), {
      egress: n.egress,
    });
    assert.equal((await openai.structured({ model: 'gpt-4o-mini', messages: msgs, schema })).value, { n: 3 });
    assert.equal((await deepseek.structured({ model: 'deepseek-chat', messages: msgs, schema })).value, { n: 3 });
    assert.equal(bodies[0].response_format.type, 'json_schema');
    assert.equal(bodies[0].response_format.json_schema.schema, schema);
    assert.is(bodies[1].response_format.type, 'json_object');
    assert.match(bodies[1].messages[0].content, 'JSON Schema');
  } finally {
    await n.release();
  }
});

oa('images (b64_json), transcription (multipart) and moderation mapped to our categories and severities', async () => {
  const n = await nockEgress();
  try {
    const png = encodePng(2, 2, () => [255, 0, 0]);
    let upload = '';
    n.nock('https://api.openai.com')
      .post('/v1/images/generations', (b) => b.response_format === 'b64_json' && b.size === '1024x1024')
      .reply(200, { created: 1713833628, data: [{ b64_json: png.toString('base64'), revised_prompt: 'a red square' }] })
      .post('/v1/audio/transcriptions', (body) => { upload = String(body); return true; })
      .matchHeader('content-type', /^multipart\/form-data; boundary=/)
      .reply(200, { text: 'Hello from the audio.' })
      .post('/v1/moderations', { model: 'omni-moderation-latest', input: 'I will hurt you' })
      .reply(200, { id: 'modr-970d409ef3bef3b70c73d8232df86e7d', model: 'omni-moderation-latest', results: [{
        flagged: true,
        categories: { harassment: true, 'harassment/threatening': true, violence: true, sexual: false,
          'self-harm': false, hate: false, illicit: false },
        category_scores: { harassment: 0.61, 'harassment/threatening': 0.55, violence: 0.52, sexual: 0.00001,
          'self-harm': 0.0004, hate: 0.02, illicit: 0.21 },
        category_applied_input_types: { harassment: ['text'], violence: ['text'] },
      }] });
    const openai = await createOpenAiProvider({ apiKey: 'k' }, silentContext(), { egress: n.egress });
    const progress: string[] = [];
    const img = await openai.image({ model: 'dall-e-3', prompt: 'a red square', width: 1024, height: 1024,
      onProgress: (p) => progress.push(p.stage) });
    assert.equal(pngSize(img.images[0].data), { width: 2, height: 2 });
    assert.equal(progress, ['submitted', 'done']);
    const t = await openai.transcribe({ model: 'whisper-1', audio: new Uint8Array([1, 2, 3]), mimeType: 'audio/mpeg',
      language: 'en' });
    assert.is(t.text, 'Hello from the audio.');
    assert.match(upload, 'name="file"; filename="audio.mp3"');
    assert.match(upload, 'name="language"\r\n\r\nen');
    const m = await openai.moderate({ input: 'I will hurt you' });
    assert.ok(m.flagged);
    assert.is(m.severity, 'HIGH', 'harassment/threatening flagged is HIGH');
    const byRule = Object.fromEntries(m.hits.map((h) => [h.rule, h.severity]));
    assert.equal(byRule, { 'openai.harassment': 'MEDIUM', 'openai.harassment/threatening': 'HIGH',
      'openai.violence': 'MEDIUM', 'openai.illicit': 'LOW' });
  } finally {
    await n.release();
  }
});

oa('a moderation answer that is not moderation-shaped is a typed unavailable error, not a TypeError', async () => {
  const n = await nockEgress();
  try {
    n.nock('https://api.openai.com').post('/v1/moderations').reply(200, { object: 'list', data: [] })
      .post('/v1/moderations').reply(200, { results: [{ flagged: false }] })
      .post('/v1/moderations').reply(200, { results: null });
    const openai = await createOpenAiProvider({ apiKey: 'k' }, silentContext(), { egress: n.egress });
    for (let i = 0; i < 3; i++) {
      const err = await openai.moderate({ input: 'hello' }).then(() => undefined, (e: unknown) => e);
      assertAiError(err, 'unavailable');
    }
  } finally {
    await n.release();
  }
});

oa('a stream that sends an error object mid-way ends with a typed error; a non-JSON 200 is unavailable', async () => {
  const n = await nockEgress();
  try {
    n.nock('https://api.openai.com').post('/v1/chat/completions')
      .reply(200, `${openAiStream(['Hi'], undefined, { cut: true })}data: {"error":{"message":"server_error"}}\n\n`)
      .post('/v1/chat/completions').reply(200, '<html>bad gateway</html>', { 'content-type': 'text/html' });
    const openai = await createOpenAiProvider({ apiKey: 'k' }, silentContext(), { egress: n.egress });
    const events: ChatStreamEvent[] = [];
    const err = await rejection(async () => {
      for await (const e of openai.stream({ model: 'gpt-4o', messages: msgs })) events.push(e);
    });
    assertAiError(err, 'unavailable');
    assert.is(events.length, 1);
    assertAiError(await rejection(() => openai.chat({ model: 'gpt-4o', messages: msgs })), 'unavailable');
  } finally {
    await n.release();
  }
});

oa('a refused key quoted back by the vendor is masked in the error', async () => {
  const n = await nockEgress();
  try {
    n.nock('https://api.openai.com').post('/v1/chat/completions').reply(401, { error: {
      message: 'Incorrect API key provided: sk-proj-abcdEFGH1234ijkl5678. You can find your API key at https://platform.openai.com/account/api-keys.',
      type: 'invalid_request_error', param: null, code: 'invalid_api_key' } });
    const openai = await createOpenAiProvider({ apiKey: 'sk-proj-abcdEFGH1234ijkl5678' }, silentContext(), {
      egress: n.egress,
    });
    const err = assertAiError(await rejection(() => openai.chat({ model: 'gpt-4o', messages: msgs })), 'auth');
    assert.not.match(err.message, 'abcdEFGH');
    assert.match(err.message, 'Incorrect API key provided: [redacted]');
  } finally {
    await n.release();
  }
});

oa('no key configured: auth, before any call; ollama needs none', async () => {
  const never = async (): Promise<never> => { throw new Error('no call expected'); };
  const openai = await createOpenAiProvider({}, silentContext(), { egress: { request: never } });
  assertAiError(await rejection(() => openai.chat({ model: 'gpt-4o', messages: msgs })), 'auth');
  let url = '';
  const ollama = await createOpenAiProvider({ preset: 'ollama' }, silentContext(), {
    egress: { request: async (r) => {
      url = String(r.url);
      assert.is(r.headers?.authorization, undefined);
      const body = Buffer.from(JSON.stringify({ choices: [{ message: { content: 'hi' }, finish_reason: 'stop' }] }));
      return { status: 200, headers: {}, body, url, attempts: 1, redirects: 0, text: () => body.toString(),
        json: () => JSON.parse(body.toString()) };
    } },
  });
  assert.is((await ollama.chat({ model: 'llama3.2', messages: msgs })).text, 'hi');
  assert.is(url, 'http://localhost:11434/v1/chat/completions');
});

oa.run();

// ------------------------------------------------------------------------------- Anthropic and Gemini specifics

const ag = guarded(suite('aiProvider anthropic and gemini: wire details'));

ag('anthropic: message_delta usage is cumulative (15, not 1 + 15); system moves to `system`', async () => {
  const n = await nockEgress();
  try {
    let body: Record<string, any> = {};
    n.nock('https://api.anthropic.com').post('/v1/messages', (b) => { body = b; return true; })
      .reply(200, anthropicStream(['Hello', '!'], { input: 25, output: 15 }));
    const p = await createAnthropicProvider({ apiKey: 'k' }, silentContext(), { egress: n.egress });
    const events: ChatStreamEvent[] = [];
    for await (const e of p.stream({ model: 'claude-3-5-haiku-latest', messages: [
      { role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hi' }] })) events.push(e);
    const done = events.at(-1) as Extract<ChatStreamEvent, { type: 'done' }>;
    assert.equal(done.usage, { inputTokens: 25, outputTokens: 15, estimated: false });
    assert.is(done.finishReason, 'stop');
    assert.is(done.model, 'claude-3-5-haiku-20241022');
    assert.is(body.system, 'Be brief.');
    assert.equal(body.messages, [{ role: 'user', content: 'Hi' }]);
    assert.is(body.max_tokens, 1024, 'Anthropic requires max_tokens: the default applies');
  } finally {
    await n.release();
  }
});

ag(
  'anthropic: an `event: error` (overloaded) mid-stream ends the iterator with interrupted-or-unavailable',
  async () => {
    const n = await nockEgress();
    try {
      const cut = anthropicStream(['Hel'], { input: 5, output: 1 }, { cut: true });
      const error = sse([
        { event: 'error', data: { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } } },
      ]);
      n.nock('https://api.anthropic.com')
        .post('/v1/messages')
        .reply(200, cut + error)
        .post('/v1/messages')
        .reply(529, { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } });
      const p = await createAnthropicProvider({ apiKey: 'k' }, silentContext(), { egress: n.egress });
      const err = await rejection(async () => {
        for await (const _ of p.stream({ model: 'm', messages: msgs })) {
          /* drain */
        }
      });
      assertAiError(err, 'unavailable');
      assertAiError(await rejection(() => p.chat({ model: 'm', messages: msgs })), 'unavailable');
    } finally {
      await n.release();
    }
  },
);

ag(
  'gemini: 429 with RetryInfo in the body, a blocked prompt is content_filter, thinking tokens count as output',
  async () => {
    const n = await nockEgress();
    try {
      n.nock('https://generativelanguage.googleapis.com')
        .post('/v1beta/models/gemini-2.5-flash:generateContent')
        .reply(429, {
          error: {
            code: 429,
            message: 'You exceeded your current quota.',
            status: 'RESOURCE_EXHAUSTED',
            details: [
              { '@type': 'type.googleapis.com/google.rpc.QuotaFailure', violations: [] },
              { '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: '31s' },
            ],
          },
        })
        .post('/v1beta/models/gemini-2.5-flash:generateContent')
        .reply(200, {
          promptFeedback: { blockReason: 'SAFETY', safetyRatings: [] },
          usageMetadata: { promptTokenCount: 8, totalTokenCount: 8 },
          modelVersion: 'gemini-2.5-flash',
        })
        .post('/v1beta/models/gemini-2.5-flash:generateContent')
        .reply(200, {
          ...geminiResponse(['Four.']),
          usageMetadata: { promptTokenCount: 8, candidatesTokenCount: 2, thoughtsTokenCount: 40, totalTokenCount: 50 },
        });
      const p = await createGeminiProvider({ apiKey: 'k' }, silentContext(), { egress: n.egress });
      const limited = assertAiError(
        await rejection(() => p.chat({ model: 'gemini-2.5-flash', messages: msgs })),
        'rate_limited',
      );
      assert.is(limited.retryAfterMs, 31_000);
      const blocked = await p.chat({ model: 'gemini-2.5-flash', messages: msgs });
      assert.is(blocked.finishReason, 'content_filter');
      assert.is(blocked.text, '');
      const thought = await p.chat({ model: 'gemini-2.5-flash', messages: msgs });
      assert.equal(thought.usage, { inputTokens: 8, outputTokens: 42, estimated: false });
    } finally {
      await n.release();
    }
  },
);

ag.run();

// ------------------------------------------------------------------------------- a real connection cut

const cut = guarded(suite('aiProvider: a vendor that drops the connection mid-stream (real socket)'));

async function dropper(chunks: string[]): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    for (const c of chunks) res.write(c);
    // The vendor's process dies: the socket closes without the chunked terminator.
    setImmediate(() => res.socket?.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

cut(
  'openai, anthropic and gemini shapes: the iterator throws interrupted with the partial text; never hangs',
  async () => {
    const egress = await createUndiciEgress({ allowCidrs: ['127.0.0.1/32'] }, silentContext());
    try {
      const cases = [
        {
          body: openAiStream(['Once', ' upon'], undefined, { cut: true }),
          make: (baseUrl: string) =>
            createOpenAiProvider({ baseUrl: `${baseUrl}/v1`, apiKey: 'k' }, silentContext(), { egress }),
        },
        {
          body: anthropicStream(['Once', ' upon'], undefined, { cut: true }),
          make: (baseUrl: string) => createAnthropicProvider({ baseUrl, apiKey: 'k' }, silentContext(), { egress }),
        },
        {
          body: sse([
            { data: geminiResponse(['Once'], { last: false }) },
            { data: geminiResponse([' upon'], { last: false }) },
          ]),
          make: (baseUrl: string) => createGeminiProvider({ baseUrl, apiKey: 'k' }, silentContext(), { egress }),
        },
      ];
      for (const c of cases) {
        const { url, server } = await dropper([c.body]);
        try {
          const p = await c.make(url);
          const seen: string[] = [];
          const err = await rejection(async () => {
            for await (const e of p.stream({ model: 'm', messages: msgs })) if (e.type === 'delta') seen.push(e.text);
          });
          const typed = assertAiError(err, 'interrupted');
          assert.equal(seen, ['Once', ' upon'], p.adapter);
          assert.is(typed.partial?.text, 'Once upon');
          assert.is(typed.status, 502);
        } finally {
          server.close();
        }
      }
    } finally {
      await egress.close!();
    }
  },
);

cut('a vendor that goes silent mid-stream: interrupted once the idle timeout passes', async () => {
  const egress = await createUndiciEgress({ allowCidrs: ['127.0.0.1/32'] }, silentContext());
  const sockets = new Set<import('node:net').Socket>();
  const server = createServer((req, res) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write(openAiStream(['Still'], undefined, { cut: true }));
  });
  server.on('connection', (s) => sockets.add(s));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
    const p = await createOpenAiProvider({ baseUrl: url, apiKey: 'k', idleTimeoutMs: 100 }, silentContext(), {
      egress,
    });
    const err = await rejection(async () => {
      for await (const _ of p.stream({ model: 'm', messages: msgs })) {
        /* drain */
      }
    });
    const typed = assertAiError(err, 'interrupted');
    assert.match(typed.message, 'went silent');
    assert.is(typed.partial?.text, 'Still');
  } finally {
    for (const s of sockets) s.destroy();
    server.close();
    await egress.close!();
  }
});

cut('the caller aborts mid-stream: aborted, and the upstream connection is closed', async () => {
  const egress = await createUndiciEgress({ allowCidrs: ['127.0.0.1/32'] }, silentContext());
  let closed!: () => void;
  const upstreamClosed = new Promise<void>((r) => { closed = r; });
  const server = createServer((req, res) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write(openAiStream(['Long'], undefined, { cut: true }));
    res.on('close', closed);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
    const p = await createOpenAiProvider({ baseUrl: url, apiKey: 'k' }, silentContext(), { egress });
    const controller = new AbortController();
    const err = await rejection(async () => {
      for await (const e of p.stream({ model: 'm', messages: msgs }, { signal: controller.signal })) {
        if (e.type === 'delta') controller.abort();
      }
    });
    assertAiError(err, 'aborted');
    await upstreamClosed;
  } finally {
    server.close();
    await egress.close!();
  }
});

cut.run();

// ------------------------------------------------------------------------------- ComfyUI

const comfy = guarded(suite('aiProvider comfyui: submit a workflow, follow it, fetch the image'));

comfy('placeholders filled, queue then history polled, image fetched from /view, progress reported', async () => {
  const n = await nockEgress();
  try {
    const png = encodePng(8, 8, (x) => [x * 30, 0, 0]);
    let submitted: Record<string, any> = {};
    const origin = 'https://comfy.example.com';
    n.nock(origin)
      .post('/prompt', (b) => {
        submitted = b;
        return true;
      })
      .reply(200, { prompt_id: 'p-1', number: 3, node_errors: {} })
      .get('/history/p-1')
      .reply(200, {})
      .get('/queue')
      .reply(200, { queue_running: [[3, 'p-1', {}, {}, []]], queue_pending: [] })
      .get('/history/p-1')
      .reply(200, {
        'p-1': {
          status: { status_str: 'success', completed: true, messages: [] },
          outputs: { 9: { images: [{ filename: 'kernel_00001_.png', subfolder: '', type: 'output' }] } },
        },
      })
      .get('/view')
      .query({ filename: 'kernel_00001_.png', subfolder: '', type: 'output' })
      .reply(200, png, { 'content-type': 'image/png' });
    const sleeps: number[] = [];
    const p = await createComfyUiProvider({ baseUrl: origin, checkpoint: 'sd15.safetensors', pollIntervalMs: 250 },
      silentContext(), { egress: n.egress, sleep: async (ms) => { sleeps.push(ms); } });
    assert.equal([...p.capabilities], ['images']);
    const stages: string[] = [];
    const r = await p.image({ model: 'default', prompt: 'a red fox', seed: 42, width: 640, height: 384,
      onProgress: (s) => stages.push(`${s.stage}:${s.fraction}`) });
    const graph = submitted.prompt;
    assert.is(graph['6'].inputs.text, 'a red fox');
    assert.is(graph['3'].inputs.seed, 42, 'a lone number placeholder becomes a number');
    assert.is(graph['5'].inputs.width, 640);
    assert.is(graph['4'].inputs.ckpt_name, 'sd15.safetensors');
    assert.equal(pngSize(r.images[0].data), { width: 8, height: 8 });
    assert.ok(Buffer.from(r.images[0].data).equals(png), 'bytes untouched');
    assert.equal(stages, ['queued:0', 'running:0.5', 'fetching:0.9', 'done:1']);
    assert.equal(sleeps, [250]);
  } finally {
    await n.release();
  }
});

comfy('a workflow ComfyUI refuses is bad_request; an execution error is unavailable', async () => {
  const n = await nockEgress();
  try {
    const origin = 'https://comfy.example.com';
    n.nock(origin)
      .post('/prompt')
      .reply(400, { error: { type: 'prompt_outputs_failed_validation', message: 'Prompt outputs failed validation' } })
      .post('/prompt')
      .reply(200, { prompt_id: 'p-2', node_errors: {} })
      .get('/history/p-2')
      .reply(200, {
        'p-2': {
          status: {
            status_str: 'error',
            completed: false,
            messages: [['execution_error', { exception_message: 'CUDA out of memory' }]],
          },
          outputs: {},
        },
      });
    const p = await createComfyUiProvider({ baseUrl: origin }, silentContext(), { egress: n.egress, ...noSleep });
    assertAiError(await rejection(() => p.image({ model: 'default', prompt: 'x' })), 'bad_request');
    const failed = assertAiError(await rejection(() => p.image({ model: 'default', prompt: 'x' })), 'unavailable');
    assert.match(failed.message, 'CUDA out of memory');
  } finally {
    await n.release();
  }
});

comfy.run();

// ------------------------------------------------------------------------------- local specifics

const local = guarded(suite('aiProvider local: the embedded stand-in'));

local('deterministic, paced (injected sleep: first token, then per token), cut by maxTokens with length', async () => {
  const sleeps: number[] = [];
  const p = createLocalProvider({ pacing: { firstTokenMs: 120, perTokenMs: 15 } }, silentContext(),
    { sleep: async (ms) => { sleeps.push(ms); } });
  const req = { model: 'm', messages: [{ role: 'user' as const, content: 'Tell me about volcanoes and magma' }] };
  const a = await p.chat(req);
  const b = await p.chat(req);
  assert.is(a.text, b.text);
  assert.match(a.text.toLowerCase(), /volcanoes|magma/);
  const events: ChatStreamEvent[] = [];
  for await (const e of p.stream({ ...req, maxTokens: 5 })) events.push(e);
  const deltas = events.filter((e) => e.type === 'delta');
  assert.is(deltas.length, 5);
  assert.equal(sleeps, [120, 15, 15, 15, 15]);
  const done = events.at(-1) as Extract<ChatStreamEvent, { type: 'done' }>;
  assert.is(done.finishReason, 'length');
  assert.is(done.usage.outputTokens, 5);
});

local('abort while paced: the stream ends with aborted and the partial text', async () => {
  const controller = new AbortController();
  const p = createLocalProvider({}, silentContext(), { sleep: async (_ms, signal) => {
    if (signal?.aborted) throw signal.reason;
  } });
  const err = await rejection(async () => {
    for await (const e of p.stream({ model: 'm', messages: msgs }, { signal: controller.signal })) {
      if (e.type === 'delta') controller.abort();
    }
  });
  const typed = assertAiError(err, 'aborted');
  assert.ok(typed.partial!.text.length > 0);
});

local('images are real PNGs (signature, IHDR size, inflatable IDAT of the right length)', async () => {
  const p = createLocalProvider({}, silentContext());
  const r = await p.image({ model: 'm', prompt: 'a lighthouse at dusk', width: 64, height: 32, n: 2 });
  assert.is(r.images.length, 2);
  const data = Buffer.from(r.images[0].data);
  assert.ok(data.subarray(0, 8).equals(PNG_SIGNATURE));
  assert.equal(pngSize(data), { width: 64, height: 32 });
  const idatLength = data.readUInt32BE(33);
  assert.is(data.toString('ascii', 37, 41), 'IDAT');
  assert.is(inflateSync(data.subarray(41, 41 + idatLength)).length, (64 * 3 + 1) * 32);
  assert.not.ok(Buffer.from(r.images[1].data).equals(data), 'two different images');
  assertAiError(await rejection(() => p.image({ model: 'm', prompt: 'x', width: 4096, height: 4096 })), 'bad_request');
});

local('embeddings: deterministic, unit length, texts sharing words are closer', async () => {
  const p = createLocalProvider({}, silentContext());
  const { vectors } = await p.embed({ model: 'm', input: ['red apple pie', 'apple pie recipe', 'quantum physics'] });
  const dot = (a: number[], b: number[]) => a.reduce((s, x, i) => s + x * b[i], 0);
  assert.ok(Math.abs(dot(vectors[0], vectors[0]) - 1) < 1e-9);
  assert.ok(dot(vectors[0], vectors[1]) > dot(vectors[0], vectors[2]));
  const again = await p.embed({ model: 'm', input: ['red apple pie'], dimensions: 64 });
  assert.is(again.vectors[0].length, 64);
});

local(
  'structured: nested schemas with enums, refs, formats and bounds come out valid, with the prompt words',
  async () => {
    const p = createLocalProvider({}, silentContext());
    const schema = {
      type: 'object',
      required: ['project', 'tasks'],
      $defs: {
        task: {
          type: 'object',
          required: ['title', 'priority', 'due'],
          properties: {
            title: { type: 'string', maxLength: 40 },
            priority: { enum: ['low', 'high'] },
            due: { type: 'string', format: 'date' },
            hours: { type: 'number', minimum: 1, maximum: 8 },
          },
        },
      },
      properties: {
        project: { type: 'string', minLength: 3 },
        tasks: { type: 'array', minItems: 2, items: { $ref: '#/$defs/task' } },
        owner: { type: 'string', format: 'email' },
      },
    };
    const r = await p.structured<{ project: string; tasks: unknown[] }>({
      model: 'm',
      schema,
      messages: [{ role: 'user', content: 'Plan a garden renovation project' }],
    });
    assert.is(r.attempts, 1);
    assert.ok(r.value.tasks.length >= 2);
    assert.match(JSON.stringify(r.value), /garden|renovation|project|plan/);
  },
);

local('transcription reads a WAV header for the duration', async () => {
  const p = createLocalProvider({}, silentContext());
  const wav = Buffer.alloc(44 + 32000);
  wav.write('RIFF', 0); wav.writeUInt32LE(36 + 32000, 4); wav.write('WAVE', 8); wav.write('fmt ', 12);
  wav.writeUInt32LE(16, 16); wav.writeUInt16LE(1, 20); wav.writeUInt16LE(1, 22); wav.writeUInt32LE(16000, 24);
  wav.writeUInt32LE(32000, 28); wav.writeUInt16LE(2, 32); wav.writeUInt16LE(16, 34); wav.write('data', 36);
  wav.writeUInt32LE(32000, 40);
  const r = await p.transcribe({ model: 'm', audio: wav, mimeType: 'audio/wav' });
  assert.is(r.durationSeconds, 1);
  assert.match(r.text, 'stand-in');
});

local.run();

// ------------------------------------------------------------------------------- SSE parsing, gateway, wiring

const wiring = guarded(suite('aiProvider: SSE parsing, the gateway, kernel wiring'));

wiring('SSE: CRLF and LF, multi-line data, comments, events split anywhere across chunks', async () => {
  const text = ': keep-alive\r\nevent: a\r\ndata: one\r\ndata: two\r\n\r\ndata: {"x":1}\n\nevent: b\ndata: last';
  for (const size of [1, 3, 7, text.length]) {
    const bytes = Buffer.from(text);
    const chunks = (async function* () {
      for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
    })();
    const out = [];
    for await (const e of parseSse(chunks)) out.push(e);
    assert.equal(out, [{ event: 'a', data: 'one\ntwo' }, { event: 'message', data: '{"x":1}' },
      { event: 'b', data: 'last' }], `chunks of ${size}`);
  }
});

wiring('gateway: named providers from their own adapters, each validated; unknown names are typed errors', async () => {
  const g = await createGateway({ providers: {
    primary: { adapter: 'openai', apiKey: 'k' },
    qwen: { adapter: 'openai', preset: 'qwen', apiKey: 'k' },
    claude: { adapter: 'anthropic', apiKey: 'k' },
    local: { adapter: 'local' },
  }, moderation: 'local' }, silentContext());
  assert.equal(g.names(), ['primary', 'qwen', 'claude', 'local']);
  assert.is(g.get('qwen').adapter, 'openai');
  assert.is(g.moderator()!.name, 'local');
  assertAiError((() => { try { g.get('nope'); } catch (e) { return e; } })(), 'unsupported');
  const bad = await rejection(() =>
    createGateway({ providers: { x: { adapter: 'openai', preset: 'nope' } } }, silentContext()),
  );
  assert.match((bad as Error).message, 'adapters.aiProvider.providers.x');
});

wiring('gateway: the default moderator is the local rules, never a vendor unless configured', async () => {
  const withLocal = await createGateway({ providers: { openai: { adapter: 'openai', apiKey: 'k' },
    mine: { adapter: 'local' } } }, silentContext());
  assert.is(withLocal.moderator()!.name, 'mine');
  const vendorOnly = await createGateway({ providers: { openai: { adapter: 'openai', apiKey: 'k' } } },
    silentContext());
  assert.is(vendorOnly.moderator()!.adapter, 'local', 'a local moderator of its own');
  assert.is((await vendorOnly.moderator()!.moderate({ input: 'how to make a pipe bomb' })).severity, 'HIGH');
  const chosen = await createGateway({ providers: { openai: { adapter: 'openai', apiKey: 'k' },
    local: { adapter: 'local' } }, moderation: 'openai' }, silentContext());
  assert.is(chosen.moderator()!.name, 'openai');
});

wiring(
  'the embedded default boots with aiProvider: local, resolvable in a plugin container, lookups stay sync',
  async () => {
    const k = await startKernel();
    try {
      const ai = k.kernel.runtimes.get('notes')!.container.resolve<AiProviders>('aiProvider');
      assert.equal(ai.names(), ['local']);
      const p = ai.get('local');
      assert.is(p.adapter, 'local');
      assert.is(ai.moderator()?.name, 'local');
      const m = await p.moderate({ input: 'how to make a pipe bomb' });
      assert.is(m.severity, 'HIGH');
    } finally {
      await k.stop();
    }
  },
);

wiring('a vendor adapter booted by the kernel sends through the kernel\'s egress port (ctx.port)', async () => {
  const k = await startKernel({ adapters: { aiProvider: { use: 'openai', apiKey: 'sk-boot', preset: 'xai' } } });
  const calls: EgressCallEvent[] = [];
  const listener = (e: unknown) => calls.push(e as EgressCallEvent);
  subscribe(EGRESS_CALL_CHANNEL, listener);
  try {
    const ai = k.kernel.root.resolve<AiProviders>('aiProvider');
    // No network in tests: whatever the outcome, it is typed, and the egress port saw the call.
    const err = await rejection(() =>
      ai.get('xai').chat({ model: 'grok-3-mini', messages: msgs }, { timeoutMs: 3000 }),
    );
    assert.ok(isAiError(err), String(err));
    assert.ok(calls.some((c) => c.host === 'api.x.ai' && c.method === 'POST'), JSON.stringify(calls));
  } finally {
    unsubscribe(EGRESS_CALL_CHANNEL, listener);
    await k.stop();
  }
});

wiring(
  'egress.stream: the body arrives as it is sent, the size cap holds mid-body, the SSRF guard applies',
  async () => {
    const egress = await createUndiciEgress({ allowCidrs: ['127.0.0.1/32'], maxResponseBytes: 64 }, silentContext());
    let release!: () => void;
    const secondChunk = new Promise<void>((r) => {
      release = r;
    });
    const server = createServer(async (req, res) => {
      req.resume();
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('first');
      await secondChunk;
      res.end(req.url === '/big' ? 'x'.repeat(100) : 'second');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const res = await egress.stream!({ url: `${url}/small` });
      const it = res.body[Symbol.asyncIterator]();
      assert.is(Buffer.from((await it.next()).value).toString(), 'first', 'read before the server sent the rest');
      release();
      assert.is(Buffer.from((await it.next()).value).toString(), 'second');
      assert.ok((await it.next()).done);
      const big = await egress.stream!({ url: `${url}/big` });
      const err = await rejection(async () => {
        for await (const _ of big.body) {
          /* drain */
        }
      });
      assert.is((err as { code?: string }).code, 'EGRESS_RESPONSE_TOO_LARGE');
      const blocked = await rejection(() => egress.stream!({ url: 'http://169.254.169.254/latest/meta-data/' }));
      assert.is((blocked as { code?: string }).code, 'EGRESS_BLOCKED');
    } finally {
      server.close();
      await egress.close!();
    }
  },
);

wiring(
  'circuit breaker: 3 retryable failures cool a provider down, then one trial; bad requests do not count',
  async () => {
    const clock = new ManualClock();
    let answer: () => Promise<ChatResult> = async () => {
      throw new AiError('unavailable', 'flaky', 'down');
    };
    const flaky = buildProvider({ name: 'flaky', adapter: 'test', countTokens: () => 1, chat: () => answer() });
    const ai = registryOf([flaky, createLocalProvider({}, silentContext(), noSleep)], {
      clock,
      breaker: { failures: 3, cooldownMs: 10_000 },
    });
    const call = () => rejection(() => ai.get('flaky').chat({ model: 'm', messages: msgs }));
    for (let i = 0; i < 2; i++) await call();
    assert.ok(ai.available('flaky'), 'two failures: still closed');
    answer = async () => {
      throw new AiError('bad_request', 'flaky', 'your fault');
    };
    await call();
    assert.ok(ai.available('flaky'), 'a bad request is not the vendor failing');
    answer = async () => {
      throw new AiError('timeout', 'flaky', 'slow');
    };
    await call();
    assert.not.ok(ai.available('flaky'));
    assert.equal(ai.circuits()[0], {
      name: 'flaky',
      state: 'open',
      consecutiveFailures: 3,
      retryAt: new Date(clock.now() + 10_000).toISOString(),
    });
    assert.equal((ai as { degraded(): string[] }).degraded(), ['aiProvider.flaky']);
    clock.advance(10_000);
    assert.is(ai.circuits()[0].state, 'half_open');
    let release!: () => void;
    answer = () =>
      new Promise((r) => {
        release = () =>
          r({
            text: 'ok',
            finishReason: 'stop',
            model: 'm',
            usage: { inputTokens: 1, outputTokens: 1, estimated: false },
          });
      });
    const trial = ai.get('flaky').chat({ model: 'm', messages: msgs });
    assert.not.ok(ai.available('flaky'), 'one trial at a time');
    release();
    await trial;
    assert.ok(ai.available('flaky'));
    assert.equal((ai as { degraded(): string[] }).degraded(), []);
    answer = async () => {
      throw new AiError('rate_limited', 'flaky', 'slow down', { retryAfterMs: 45_000 });
    };
    await call();
    assert.not.ok(ai.available('flaky'), 'a 429 cools down for its Retry-After at once');
    clock.advance(44_999);
    assert.not.ok(ai.available('flaky'));
    clock.advance(1);
    assert.ok(ai.available('flaky'));
  },
);

wiring('/health/ready says degraded (200) while a vendor is cooled down', async () => {
  const dead = createServer();
  await new Promise<void>((r) => dead.listen(0, '127.0.0.1', r));
  const port = (dead.address() as AddressInfo).port;
  await new Promise<void>((r) => dead.close(() => r()));
  const k = await startKernel({ adapters: {
    egress: { use: 'undici', allowCidrs: ['127.0.0.1/32'] },
    aiProvider: { use: 'gateway', breaker: { failures: 2 }, providers: {
      primary: { adapter: 'openai', baseUrl: `http://127.0.0.1:${port}/v1`, apiKey: 'k' },
      local: { adapter: 'local' } } },
  }, health: { readyCacheMs: 0 } });
  try {
    assert.is((await k.request('GET', '/health/ready')).body.status, 'ok');
    const ai = k.kernel.root.resolve<AiProviders>('aiProvider');
    for (let i = 0; i < 2; i++) {
      assertAiError(
        await rejection(() => ai.get('primary').chat({ model: 'gpt-4o-mini', messages: msgs })),
        'unavailable',
      );
    }
    const ready = await k.request('GET', '/health/ready');
    assert.is(ready.status, 200);
    assert.is(ready.body.status, 'degraded');
    const check = ready.body.checks.find((c: { name: string }) => c.name === 'aiProvider');
    assert.equal(check, { name: 'aiProvider', ok: true, degraded: ['aiProvider.primary'] });
  } finally {
    await k.stop();
  }
});

wiring.run();
