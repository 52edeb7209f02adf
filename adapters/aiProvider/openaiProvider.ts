/**
 * OpenAI, and every vendor that speaks its Chat Completions API through `baseUrl`: Qwen (DashScope compatible
 * mode), DeepSeek, xAI, Ollama, vLLM. A preset sets the base URL, what the vendor supports and its quirks.
 */
import type { AdapterContext } from '../../kernel/ports/adapter.ts';
import {
  AiError, type AiCapability, type AiProvider, type CallOptions, type ChatMessage, type ChatRequest,
  type ModerationCategory, type ModerationHit, type Severity, type StructuredRequest,
} from '../../kernel/ports/aiProvider.ts';
import { maxSeverity, severityAtLeast } from '../../kernel/ports/aiProvider.ts';
import { openStream, send } from './shared/http.ts';
import { buildProvider } from './shared/provider.ts';
import { sseChat, type StreamStep } from './shared/streamLoop.ts';
import { schemaInstruction, structuredWithRepair } from './shared/structured.ts';
import { loadOpenAiTokenizers, messagesTokens, openAiTokens } from './shared/tokens.ts';
import {
  baseOf, finishOf, keyFor, multipart, vendorHttp, type VendorDeps, type VendorOptions,
} from './shared/vendor.ts';

export interface OpenAiPreset {
  baseUrl: string;
  capabilities: AiCapability[];
  /** `json_schema` response format (strict schemas); otherwise `json_object` plus the schema in the prompt. */
  jsonSchema: boolean;
  /** Sends `max_completion_tokens` (OpenAI's reasoning models need it) instead of `max_tokens`. */
  maxCompletionTokens: boolean;
  /** A key is needed (local servers take none). */
  needsKey: boolean;
}

const CHAT: AiCapability[] = ['chat', 'stream', 'structured'];

export const OPENAI_PRESETS: Record<string, OpenAiPreset> = {
  openai: {
    baseUrl: 'https://api.openai.com/v1', jsonSchema: true, maxCompletionTokens: true, needsKey: true,
    capabilities: [...CHAT, 'embeddings', 'images', 'transcription', 'moderation'],
  },
  qwen: {
    baseUrl: 'https://dashscope-intl.aliyuncs.com/compatible-mode/v1', jsonSchema: false, maxCompletionTokens: false,
    needsKey: true, capabilities: [...CHAT, 'embeddings'],
  },
  deepseek: {
    baseUrl: 'https://api.deepseek.com/v1', jsonSchema: false, maxCompletionTokens: false, needsKey: true,
    capabilities: CHAT,
  },
  xai: {
    baseUrl: 'https://api.x.ai/v1', jsonSchema: true, maxCompletionTokens: false, needsKey: true,
    capabilities: [...CHAT, 'images'],
  },
  ollama: {
    baseUrl: 'http://localhost:11434/v1', jsonSchema: true, maxCompletionTokens: false, needsKey: false,
    capabilities: [...CHAT, 'embeddings'],
  },
  vllm: {
    baseUrl: 'http://localhost:8000/v1', jsonSchema: true, maxCompletionTokens: false, needsKey: false,
    capabilities: [...CHAT, 'embeddings'],
  },
};

export interface OpenAiProviderOptions extends VendorOptions {
  preset?: keyof typeof OPENAI_PRESETS | string;
  /** Narrow (or, for a custom server, declare) the capabilities. */
  capabilities?: AiCapability[];
  jsonSchema?: boolean;
  moderationModel?: string;
}

interface Completion {
  id?: string;
  model?: string;
  choices: Array<{ message?: { content?: string | null; refusal?: string | null }; finish_reason?: string | null }>;
  usage?: { prompt_tokens?: number; completion_tokens?: number };
}

interface Chunk {
  id?: string;
  model?: string;
  choices?: Array<{ delta?: { content?: string | null }; finish_reason?: string | null }>;
  usage?: { prompt_tokens?: number; completion_tokens?: number } | null;
  error?: { message?: string };
}

/** OpenAI moderation categories onto ours; the second list is what counts as HIGH when flagged. */
const MODERATION_MAP: Record<string, ModerationCategory> = {
  hate: 'hate', 'hate/threatening': 'hate', harassment: 'hate', 'harassment/threatening': 'hate',
  violence: 'violence', 'violence/graphic': 'violence', sexual: 'sexual', 'sexual/minors': 'sexual',
  'self-harm': 'self_harm', 'self-harm/intent': 'self_harm', 'self-harm/instructions': 'self_harm',
  illicit: 'illegal', 'illicit/violent': 'illegal',
};
const SEVERE = new Set([
  'hate/threatening', 'harassment/threatening', 'sexual/minors', 'self-harm/intent', 'self-harm/instructions',
  'illicit/violent', 'violence/graphic',
]);

/** A vendor score as a severity: flagged severe sub-categories and scores >= 0.8 are HIGH. */
export function scoreSeverity(category: string, score: number, flagged: boolean): Severity | null {
  if ((flagged && SEVERE.has(category)) || score >= 0.8) return 'HIGH';
  if (flagged || score >= 0.5) return 'MEDIUM';
  if (score >= 0.2) return 'LOW';
  return null;
}

export async function createOpenAiProvider(
  options: OpenAiProviderOptions, ctx: AdapterContext, deps: VendorDeps = {},
): Promise<AiProvider> {
  const presetName = options.preset ?? 'openai';
  const preset = OPENAI_PRESETS[presetName];
  if (!preset && !options.baseUrl) {
    throw new TypeError(`Unknown OpenAI-compatible preset "${presetName}" (${Object.keys(OPENAI_PRESETS).join(', ')}); `
      + 'give a baseUrl for a custom server');
  }
  const name = options.name ?? presetName;
  const base = baseOf(options.baseUrl ?? preset.baseUrl);
  const caps = new Set(options.capabilities ?? preset?.capabilities ?? CHAT);
  const jsonSchema = options.jsonSchema ?? preset?.jsonSchema ?? false;
  const http = vendorHttp(name, options, ctx, deps);
  await loadOpenAiTokenizers();

  const headers = (o: CallOptions, json = true): Record<string, string> => {
    const key = keyFor(name, options.apiKey, o, preset?.needsKey ?? false);
    return {
      ...(json ? { 'content-type': 'application/json' } : {}),
      accept: 'application/json',
      ...(key ? { authorization: `Bearer ${key}` } : {}),
      ...options.headers,
    };
  };
  const body = (req: ChatRequest, messages: ChatMessage[] = req.messages): Record<string, unknown> => ({
    model: req.model,
    messages,
    ...(req.maxTokens !== undefined
      ? { [preset?.maxCompletionTokens ? 'max_completion_tokens' : 'max_tokens']: req.maxTokens }
      : {}),
    ...(req.temperature !== undefined ? { temperature: req.temperature } : {}),
    ...(req.topP !== undefined ? { top_p: req.topP } : {}),
    ...(req.stop?.length ? { stop: req.stop } : {}),
    ...(req.user ? { user: req.user } : {}),
  });
  const count = (text: string, model?: string) => openAiTokens(text, model);

  async function complete(req: ChatRequest, o: CallOptions, extra: Record<string, unknown> = {},
    messages?: ChatMessage[]) {
    const res = await send(
      http,
      { url: `${base}/chat/completions`, headers: headers(o), json: { ...body(req, messages), ...extra } },
      o,
    );
    const data = res.json<Completion>();
    const choice = data.choices?.[0];
    if (!choice) throw new AiError('unavailable', name, `${name} answered without a choice`);
    const text = choice.message?.content ?? '';
    const u = data.usage;
    const estimated = u?.prompt_tokens === undefined || u?.completion_tokens === undefined;
    return {
      text,
      finishReason: choice.message?.refusal ? 'content_filter' as const : finishOf(choice.finish_reason),
      usage: {
        inputTokens: u?.prompt_tokens ?? messagesTokens(messages ?? req.messages, (t) => count(t, req.model)),
        outputTokens: u?.completion_tokens ?? count(text, req.model),
        estimated,
      },
      model: data.model ?? req.model,
      ...(data.id ? { id: data.id } : {}),
    };
  }

  function parseChunk(data: string): StreamStep | undefined {
    if (data === '[DONE]') return { end: true };
    const chunk = JSON.parse(data) as Chunk;
    if (chunk.error)
      return { error: new AiError('unavailable', name, `${name} stream error: ${chunk.error.message ?? ''}`) };
    const choice = chunk.choices?.[0];
    return {
      delta: choice?.delta?.content ?? undefined,
      finish: choice?.finish_reason ? finishOf(choice.finish_reason) : undefined,
      // The usage chunk comes last, with `choices: []`.
      inputTokens: chunk.usage?.prompt_tokens,
      outputTokens: chunk.usage?.completion_tokens,
      model: chunk.model,
      id: chunk.id,
    };
  }

  return buildProvider({
    name,
    adapter: 'openai',
    countTokens: count,
    disabled: (['chat', 'stream', 'structured', 'embeddings', 'images', 'transcription', 'moderation'] as const)
      .filter((c) => !caps.has(c)),

    chat: (req, o = {}) => complete(req, o),

    stream(req, o = {}) {
      return sseChat(() => openStream(http, {
        url: `${base}/chat/completions`,
        headers: { ...headers(o), accept: 'text/event-stream' },
        json: { ...body(req), stream: true, stream_options: { include_usage: true } },
      }, o), {
        parse: (ev) => parseChunk(ev.data),
        endMarker: true,
        estimateInput: () => messagesTokens(req.messages, (t) => count(t, req.model)),
        estimateOutput: (t) => count(t, req.model),
        model: req.model,
      });
    },

    structured(req, o = {}) {
      return structuredWithRepair(name, async (r: StructuredRequest, messages, opts) => {
        const format = jsonSchema
          ? { type: 'json_schema', json_schema: { name: r.schemaName ?? 'result', schema: r.schema } }
          : { type: 'json_object' };
        // json_object needs the word JSON in the prompt, and the schema has to be told there anyway.
        const framed: ChatMessage[] = jsonSchema ? messages
          : [{ role: 'system', content: schemaInstruction(r.schema) }, ...messages];
        return complete(r, opts, { response_format: format }, framed);
      }, req, o);
    },

    async embed(req, o = {}) {
      const res = await send(http, {
        url: `${base}/embeddings`, headers: headers(o),
        json: { model: req.model, input: req.input, encoding_format: 'float',
          ...(req.dimensions ? { dimensions: req.dimensions } : {}) },
      }, o);
      const data = res.json<{ data: Array<{ index: number; embedding: number[] }>; model?: string;
        usage?: { prompt_tokens?: number } }>();
      const vectors = [...data.data].sort((a, b) => a.index - b.index).map((d) => d.embedding);
      const input = data.usage?.prompt_tokens;
      return {
        vectors, model: data.model ?? req.model,
        usage: { inputTokens: input ?? req.input.reduce((n, t) => n + count(t, req.model), 0), outputTokens: 0,
          estimated: input === undefined },
      };
    },

    async image(req, o = {}) {
      req.onProgress?.({ fraction: 0, stage: 'submitted' });
      const res = await send(http, {
        url: `${base}/images/generations`, headers: headers(o),
        json: {
          model: req.model, prompt: req.prompt, n: req.n ?? 1,
          ...(req.width && req.height ? { size: `${req.width}x${req.height}` } : {}),
          ...(req.quality ? { quality: req.quality } : {}),
          // dall-e returns URLs unless asked; gpt-image-1 always returns base64 and refuses the parameter.
          ...(req.model.startsWith('dall-e') ? { response_format: 'b64_json' } : {}),
        },
      }, o);
      const data = res.json<{ data: Array<{ b64_json?: string; url?: string }> }>();
      const images = await Promise.all(data.data.map(async (d) => {
        if (d.b64_json) return { data: new Uint8Array(Buffer.from(d.b64_json, 'base64')), mimeType: 'image/png' };
        const got = await send(http, { url: d.url!, method: 'GET', headers: {} }, o);
        return { data: new Uint8Array(got.bytes), mimeType: got.headers['content-type'] ?? 'image/png' };
      }));
      req.onProgress?.({ fraction: 1, stage: 'done' });
      return { images, model: req.model };
    },

    async transcribe(req, o = {}) {
      const ext = req.mimeType.split('/')[1]?.replace('mpeg', 'mp3') ?? 'wav';
      const form = multipart({
        model: req.model, response_format: 'json', ...(req.language ? { language: req.language } : {}),
        file: { data: req.audio, filename: `audio.${ext}`, type: req.mimeType },
      });
      const res = await send(http, {
        url: `${base}/audio/transcriptions`, headers: { ...headers(o, false), 'content-type': form.contentType },
        body: form.body,
      }, o);
      const data = res.json<{ text: string; language?: string; duration?: number }>();
      return {
        text: data.text, model: req.model,
        ...(data.language ? { language: data.language } : {}),
        ...(data.duration !== undefined ? { durationSeconds: data.duration } : {}),
      };
    },

    async moderate(req, o = {}) {
      const res = await send(http, {
        url: `${base}/moderations`, headers: headers(o),
        json: { model: req.model ?? options.moderationModel ?? 'omni-moderation-latest', input: req.input },
      }, o);
      const body = res.json<{ results?: unknown } | null>();
      const result = Array.isArray(body?.results) ? body.results[0] as ModerationResult | undefined : undefined;
      // Not a moderation answer (a proxy's page, a vendor's other shape): the vendor failed, not the caller.
      if (!result || typeof result !== 'object' || !isRecord(result.category_scores)) {
        throw new AiError('unavailable', name, `${name} answered the moderation with an unexpected body`);
      }
      const categories = isRecord(result.categories) ? result.categories : {};
      const hits: ModerationHit[] = [];
      for (const [vendorCategory, score] of Object.entries(result.category_scores)) {
        const category = MODERATION_MAP[vendorCategory];
        if (!category || typeof score !== 'number') continue;
        const severity = scoreSeverity(vendorCategory, score, categories[vendorCategory] === true);
        if (severity) hits.push({ category, severity, score, rule: `openai.${vendorCategory}` });
      }
      const severity = hits.reduce<Severity | null>((s, h) => maxSeverity(s, h.severity), null);
      return { flagged: result?.flagged === true || severityAtLeast(severity, 'MEDIUM'), severity, hits };
    },
  });
}

interface ModerationResult { flagged?: unknown; categories?: unknown; category_scores?: unknown }
const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
