/**
 * The `local` provider: the embedded default, with no network and no model. It is a stand-in so that a
 * deployment boots, streams, bills and moderates end to end with zero setup; its answers are not intelligent.
 * - chat: deterministic text built from the prompt's words (same conversation, same answer), streamed one token
 *   at a time with a first-token delay and per-token pacing (injectable `sleep`, so tests never wait);
 * - structured: a value generated from the JSON Schema and the prompt's words, validated like any vendor's;
 * - embeddings: feature-hashed bags of words, L2-normalised (texts sharing words are close, as with real ones);
 * - images: a real PNG (a gradient seeded by the prompt), encoded with node:zlib;
 * - transcription: reports the audio's length (WAV headers are read), not its words;
 * - moderation: the rules and lexicons of moderation/lexicon.ts.
 */
import type { AdapterContext } from '../../kernel/ports/adapter.ts';
import {
  AiError, type AiProvider, type CallOptions, type ChatRequest, type ChatStreamEvent, type Usage,
} from '../../kernel/ports/aiProvider.ts';
import { buildProvider } from './shared/provider.ts';
import { structuredWithRepair } from './shared/structured.ts';
import { encodePng } from './shared/png.ts';
import { createLocalModerator, type LocalModerationOptions } from './moderation/lexicon.ts';
import { countLocalTokens, deltas, firstTokens, fnv1a, generateReply, keywords, prng } from './local/text.ts';
import { valueFor } from './local/schema.ts';

export interface LocalProviderOptions {
  name?: string;
  /** Words in a reply when `maxTokens` does not cut it shorter. */
  replyWords?: number;
  pacing?: { firstTokenMs?: number; perTokenMs?: number };
  embeddingDimensions?: number;
  moderation?: LocalModerationOptions;
}

export interface LocalHooks {
  /** Waits between tokens; default a timer that the signal cancels. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

const timerSleep = (ms: number, signal?: AbortSignal) => new Promise<void>((resolve, reject) => {
  if (ms <= 0) return resolve();
  const t = setTimeout(() => { signal?.removeEventListener('abort', onAbort); resolve(); }, ms);
  const onAbort = () => { clearTimeout(t); reject(signal!.reason); };
  signal?.addEventListener('abort', onAbort, { once: true });
});

const MAX_PIXELS = 1024 * 1024;

export function createLocalProvider(options: LocalProviderOptions = {}, _ctx?: AdapterContext, hooks: LocalHooks = {}):
  AiProvider {
  const name = options.name ?? 'local';
  const sleep = hooks.sleep ?? timerSleep;
  const firstMs = options.pacing?.firstTokenMs ?? 150;
  const perMs = options.pacing?.perTokenMs ?? 20;
  const dims = options.embeddingDimensions ?? 256;
  const moderator = createLocalModerator(options.moderation);

  const aborted = (signal?: AbortSignal) => {
    if (signal?.aborted) throw new AiError('aborted', name, 'The local call was cancelled');
  };
  const promptTokens = (req: ChatRequest) => req.messages.reduce((n, m) => n + 3 + countLocalTokens(m.content), 3);
  const reply = (req: ChatRequest) => {
    if (!req.messages.length) throw new AiError('bad_request', name, 'A chat needs at least one message');
    const full = generateReply(req.messages, options.replyWords ?? 60);
    return req.maxTokens !== undefined ? firstTokens(full, req.maxTokens) : { text: full, truncated: false };
  };
  const usageOf = (req: ChatRequest, text: string): Usage =>
    ({ inputTokens: promptTokens(req), outputTokens: countLocalTokens(text), estimated: false });

  return buildProvider({
    name,
    adapter: 'local',
    countTokens: countLocalTokens,

    async chat(req, o: CallOptions = {}) {
      aborted(o.signal);
      const { text, truncated } = reply(req);
      return { text, finishReason: truncated ? 'length' : 'stop', usage: usageOf(req, text), model: req.model };
    },

    stream(req, o: CallOptions = {}): AsyncIterable<ChatStreamEvent> {
      return (async function* () {
        aborted(o.signal);
        const { text, truncated } = reply(req);
        let sent = '';
        let first = true;
        for (const d of deltas(text)) {
          try {
            await sleep(first ? firstMs : perMs, o.signal);
          } catch {
            throw new AiError('aborted', name, 'The local stream was cancelled', {
              partial: { text: sent, usage: usageOf(req, sent) },
            });
          }
          aborted(o.signal);
          first = false;
          sent += d;
          yield { type: 'delta', text: d } as const;
        }
        const finishReason = truncated ? 'length' : 'stop';
        yield { type: 'done', finishReason, usage: usageOf(req, text), model: req.model } as const;
      })();
    },

    structured(req, o = {}) {
      return structuredWithRepair(name, async (r, messages) => {
        aborted(o.signal);
        const prompt = messages.filter((m) => m.role !== 'assistant').map((m) => m.content).join(' ');
        const value = valueFor(r.schema, keywords(prompt), prng(fnv1a(prompt)));
        const text = JSON.stringify(value);
        return { text, usage: usageOf(r, text), model: r.model };
      }, req, o);
    },

    async embed(req, o = {}) {
      aborted(o.signal);
      const size = req.dimensions ?? dims;
      const vectors = req.input.map((text) => {
        const v = new Array<number>(size).fill(0);
        for (const word of text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? []) {
          const h = fnv1a(word);
          v[h % size] += (h & 0x80000000) ? -1 : 1;
        }
        const norm = Math.hypot(...v);
        if (norm === 0) v[0] = 1;
        return norm === 0 ? v : v.map((x) => x / norm);
      });
      const tokens = req.input.reduce((n, t) => n + countLocalTokens(t), 0);
      return { vectors, usage: { inputTokens: tokens, outputTokens: 0, estimated: false }, model: req.model };
    },

    async image(req, o = {}) {
      aborted(o.signal);
      const width = req.width ?? 256;
      const height = req.height ?? 256;
      if (width * height > MAX_PIXELS) {
        throw new AiError('bad_request', name, `The local provider draws at most ${MAX_PIXELS} pixels per image`);
      }
      req.onProgress?.({ fraction: 0, stage: 'queued' });
      const images = Array.from({ length: req.n ?? 1 }, (_, i) => {
        const rand = prng(fnv1a(`${req.prompt}#${req.seed ?? 0}#${i}`));
        const [r0, g0, b0, r1, g1, b1] = Array.from({ length: 6 }, () => Math.floor(rand() * 256));
        const mix = (a: number, b: number, t: number) => Math.round(a + (b - a) * t);
        const data = encodePng(width, height, (x, y) => {
          const t = (x / Math.max(1, width - 1) + y / Math.max(1, height - 1)) / 2;
          return [mix(r0, r1, t), mix(g0, g1, t), mix(b0, b1, t)];
        });
        return { data: new Uint8Array(data), mimeType: 'image/png', width, height };
      });
      req.onProgress?.({ fraction: 1, stage: 'done' });
      return { images, model: req.model };
    },

    async transcribe(req, o = {}) {
      aborted(o.signal);
      const seconds = wavSeconds(req.audio);
      const length = seconds === undefined ? `${req.audio.byteLength} bytes` : `${seconds.toFixed(1)} s`;
      return {
        text: `[local stand-in transcript: ${length} of ${req.mimeType}]`,
        ...(seconds === undefined ? {} : { durationSeconds: seconds }),
        ...(req.language ? { language: req.language } : {}),
        model: req.model,
      };
    },

    async moderate(req, o = {}) {
      aborted(o.signal);
      return moderator(req.input);
    },
  });
}

/** Duration of a PCM WAV from its header (byte rate at offset 28, the `data` chunk size). */
function wavSeconds(audio: Uint8Array): number | undefined {
  const b = Buffer.from(audio.buffer, audio.byteOffset, audio.byteLength);
  if (b.length < 44 || b.toString('ascii', 0, 4) !== 'RIFF' || b.toString('ascii', 8, 12) !== 'WAVE') return undefined;
  const byteRate = b.readUInt32LE(28);
  let at = 12;
  while (at + 8 <= b.length) {
    const id = b.toString('ascii', at, at + 4);
    const size = b.readUInt32LE(at + 4);
    if (id === 'data') return byteRate ? size / byteRate : undefined;
    at += 8 + size;
  }
  return undefined;
}
