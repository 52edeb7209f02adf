/**
 * Google's Gemini API (generativelanguage.googleapis.com): chat, `streamGenerateContent?alt=sse` with
 * `usageMetadata`, structured output (`responseJsonSchema`), embeddings, Imagen images, audio transcription.
 */
import type { AdapterContext } from '../../kernel/ports/adapter.ts';
import {
  AiError, type AiProvider, type CallOptions, type ChatMessage, type ChatRequest, type FinishReason,
} from '../../kernel/ports/aiProvider.ts';
import { openStream, send } from './shared/http.ts';
import { buildProvider } from './shared/provider.ts';
import { sseChat, type StreamStep } from './shared/streamLoop.ts';
import { structuredWithRepair } from './shared/structured.ts';
import { heuristicTokens, messagesTokens } from './shared/tokens.ts';
import { baseOf, finishOf, keyFor, vendorHttp, type VendorDeps, type VendorOptions } from './shared/vendor.ts';

export interface GeminiProviderOptions extends VendorOptions {
  /** API version path segment. */
  apiVersion?: string;
}

interface Part { text?: string; inlineData?: { mimeType: string; data: string }; thought?: boolean }
interface Generation {
  candidates?: Array<{ content?: { parts?: Part[] }; finishReason?: string }>;
  promptFeedback?: { blockReason?: string };
  usageMetadata?: { promptTokenCount?: number; candidatesTokenCount?: number; thoughtsTokenCount?: number };
  modelVersion?: string;
  responseId?: string;
}

export async function createGeminiProvider(
  options: GeminiProviderOptions, ctx: AdapterContext, deps: VendorDeps = {},
): Promise<AiProvider> {
  const name = options.name ?? 'gemini';
  const base = `${baseOf(options.baseUrl ?? 'https://generativelanguage.googleapis.com')}/${options.apiVersion ?? 'v1beta'}`;
  const http = vendorHttp(name, options, ctx, deps);
  const headers = (o: CallOptions): Record<string, string> => ({
    'content-type': 'application/json',
    'x-goog-api-key': keyFor(name, options.apiKey, o)!,
    ...options.headers,
  });
  const modelPath = (model: string) => `${base}/models/${encodeURIComponent(model.replace(/^models\//, ''))}`;
  const body = (req: ChatRequest, messages: ChatMessage[] = req.messages, extra: Record<string, unknown> = {}) => {
    const system = messages.filter((m) => m.role === 'system').map((m) => m.content).join('\n\n');
    return {
      contents: messages.filter((m) => m.role !== 'system')
        .map((m) => ({ role: m.role === 'assistant' ? 'model' : 'user', parts: [{ text: m.content }] })),
      ...(system ? { systemInstruction: { parts: [{ text: system }] } } : {}),
      generationConfig: {
        ...(req.maxTokens !== undefined ? { maxOutputTokens: req.maxTokens } : {}),
        ...(req.temperature !== undefined ? { temperature: req.temperature } : {}),
        ...(req.topP !== undefined ? { topP: req.topP } : {}),
        ...(req.stop?.length ? { stopSequences: req.stop } : {}),
        ...extra,
      },
    };
  };
  /** Thinking tokens are billed as output. */
  const outputOf = (u: Generation['usageMetadata']) =>
    u?.candidatesTokenCount === undefined && u?.thoughtsTokenCount === undefined ? undefined
      : (u.candidatesTokenCount ?? 0) + (u.thoughtsTokenCount ?? 0);
  const textOf = (g: Generation) =>
    (g.candidates?.[0]?.content?.parts ?? []).filter((p) => !p.thought).map((p) => p.text ?? '').join('');
  const finishIn = (g: Generation): FinishReason | undefined => {
    if (g.promptFeedback?.blockReason) return 'content_filter';
    const r = g.candidates?.[0]?.finishReason;
    return r ? finishOf(r) : undefined;
  };

  async function generate(req: ChatRequest, o: CallOptions, payload: unknown, messages = req.messages) {
    const res = await send(
      http,
      { url: `${modelPath(req.model)}:generateContent`, headers: headers(o), json: payload },
      o,
    );
    const data = res.json<Generation>();
    const text = textOf(data);
    const input = data.usageMetadata?.promptTokenCount;
    const output = outputOf(data.usageMetadata);
    return {
      text,
      finishReason: finishIn(data) ?? 'stop',
      usage: {
        inputTokens: input ?? messagesTokens(messages, heuristicTokens),
        outputTokens: output ?? heuristicTokens(text),
        estimated: input === undefined || output === undefined,
      },
      model: data.modelVersion ?? req.model,
      ...(data.responseId ? { id: data.responseId } : {}),
    };
  }

  function parseChunk(data: string): StreamStep {
    const g = JSON.parse(data) as Generation & { error?: { message?: string } };
    if (g.error) return { error: new AiError('unavailable', name, `${name} stream error: ${g.error.message ?? ''}`) };
    return {
      delta: textOf(g) || undefined,
      finish: finishIn(g),
      inputTokens: g.usageMetadata?.promptTokenCount,
      outputTokens: outputOf(g.usageMetadata),
      model: g.modelVersion,
      id: g.responseId,
    };
  }

  return buildProvider({
    name,
    adapter: 'gemini',
    // Gemini's tokenizer is not public (countTokens is a network call): a heuristic until usageMetadata arrives.
    countTokens: heuristicTokens,
    chat: (req, o = {}) => generate(req, o, body(req)),
    stream(req, o = {}) {
      return (async function* () {
        const open = await openStream(http, {
          url: `${modelPath(req.model)}:streamGenerateContent?alt=sse`,
          headers: { ...headers(o), accept: 'text/event-stream' }, json: body(req),
        }, o);
        yield* sseChat(open, {
          parse: (ev) => parseChunk(ev.data),
          // No end marker: the chunk with a finishReason (and the full usageMetadata) is the last.
          endMarker: false,
          estimateInput: () => messagesTokens(req.messages, heuristicTokens),
          estimateOutput: heuristicTokens,
          model: req.model,
        });
      })();
    },
    structured(req, o = {}) {
      return structuredWithRepair(name, (r, messages, opts) => generate(r, opts,
        body(r, messages, { responseMimeType: 'application/json', responseJsonSchema: r.schema }), messages), req, o);
    },
    async embed(req, o = {}) {
      const model = `models/${req.model.replace(/^models\//, '')}`;
      const res = await send(http, {
        url: `${modelPath(req.model)}:batchEmbedContents`, headers: headers(o),
        json: { requests: req.input.map((text) => ({
          model, content: { parts: [{ text }] }, ...(req.dimensions ? { outputDimensionality: req.dimensions } : {}),
        })) },
      }, o);
      const data = res.json<{ embeddings: Array<{ values: number[] }> }>();
      // The embeddings API reports no usage.
      const tokens = req.input.reduce((n, t) => n + heuristicTokens(t), 0);
      return { vectors: data.embeddings.map((e) => e.values), model: req.model,
        usage: { inputTokens: tokens, outputTokens: 0, estimated: true } };
    },
    async image(req, o = {}) {
      req.onProgress?.({ fraction: 0, stage: 'submitted' });
      const res = await send(http, {
        url: `${modelPath(req.model)}:predict`, headers: headers(o),
        json: { instances: [{ prompt: req.prompt }], parameters: {
          sampleCount: req.n ?? 1,
          ...(req.width && req.height ? { aspectRatio: aspect(req.width, req.height) } : {}),
          ...(req.negativePrompt ? { negativePrompt: req.negativePrompt } : {}),
        } },
      }, o);
      const data = res.json<{ predictions?: Array<{ bytesBase64Encoded?: string; mimeType?: string }> }>();
      const images = (data.predictions ?? []).filter((p) => p.bytesBase64Encoded).map((p) => ({
        data: new Uint8Array(Buffer.from(p.bytesBase64Encoded!, 'base64')), mimeType: p.mimeType ?? 'image/png',
      }));
      if (!images.length)
        throw new AiError('bad_request', name, 'Imagen returned no image (filtered by its safety rules)');
      req.onProgress?.({ fraction: 1, stage: 'done' });
      return { images, model: req.model };
    },
    async transcribe(req, o = {}) {
      const prompt = `Transcribe this audio verbatim${req.language ? ` (language: ${req.language})` : ''}. `
        + 'Reply with the transcript only.';
      const payload = { contents: [{ role: 'user', parts: [
        { text: prompt }, { inlineData: { mimeType: req.mimeType, data: Buffer.from(req.audio).toString('base64') } },
      ] }] };
      const out = await generate({ model: req.model, messages: [{ role: 'user', content: prompt }] }, o, payload);
      return { text: out.text.trim(), model: req.model, ...(req.language ? { language: req.language } : {}) };
    },
  });
}

/** Imagen takes an aspect ratio, not pixels: the closest it supports. */
function aspect(width: number, height: number): string {
  const ratios: Array<[string, number]> = [
    ['1:1', 1],
    ['3:4', 3 / 4],
    ['4:3', 4 / 3],
    ['9:16', 9 / 16],
    ['16:9', 16 / 9],
  ];
  const r = width / height;
  return ratios.reduce((best, cur) => (Math.abs(cur[1] - r) < Math.abs(best[1] - r) ? cur : best))[0];
}
