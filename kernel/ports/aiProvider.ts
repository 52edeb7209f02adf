/**
 * AiProvider port: one AI vendor (or the embedded stand-in) behind one shape. A deployment's `aiProvider`
 * is a registry of named providers (`AiProviders`), so a router can fall back from one to the next.
 *
 * Adapters: adapters/aiProvider/{local,openai,anthropic,gemini,comfyui,gateway}.ts.
 * Conformance: test/ports/aiProvider.suite.ts.
 *
 * Every call takes an AbortSignal; every failure is an `AiError` whose `kind` tells a router whether
 * another vendor may help (`retryable`). A stream always ends: with a `done` event carrying the usage,
 * or by throwing an `AiError` (a connection cut mid-stream is `interrupted`, never a silent end).
 */
import { AppError } from '../errors.ts';
import type { JsonSchema } from './adapter.ts';

export type AiCapability =
  | 'chat' | 'stream' | 'structured' | 'embeddings' | 'images' | 'transcription' | 'moderation';

export const AI_CAPABILITIES: readonly AiCapability[] = [
  'chat', 'stream', 'structured', 'embeddings', 'images', 'transcription', 'moderation',
];

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

export interface CallOptions {
  signal?: AbortSignal;
  /** Until the response (or, streamed, its first byte) arrives; the adapter's `timeoutMs` when absent. */
  timeoutMs?: number;
  /** A key to use instead of the configured one (the user's own vendor key). Never logged. */
  apiKey?: string;
}

export interface ChatRequest {
  /** The vendor's model id (`gpt-4o-mini`, `claude-3-5-haiku-latest`, `qwen-turbo`). */
  model: string;
  messages: ChatMessage[];
  /** Output cap; the caller bounds it by what the billing hold covers. */
  maxTokens?: number;
  temperature?: number;
  topP?: number;
  stop?: string[];
  /** An opaque end-user id, forwarded to vendors that take one for abuse tracking. */
  user?: string;
}

/** How a generation ended. `error` is never returned by an adapter: it throws instead. */
export type FinishReason = 'stop' | 'length' | 'content_filter' | 'tool_calls' | 'error';

export interface Usage {
  inputTokens: number;
  outputTokens: number;
  /** True when counted locally (tokenizer or heuristic) because the vendor did not report it. */
  estimated: boolean;
}

export interface ChatResult {
  text: string;
  finishReason: FinishReason;
  usage: Usage;
  /** The model that answered, as the vendor names it. */
  model: string;
  /** The vendor's response id, when it gives one. */
  id?: string;
}

export type ChatStreamEvent =
  | { type: 'delta'; text: string }
  | { type: 'done'; finishReason: FinishReason; usage: Usage; model: string; id?: string };

export interface StructuredRequest extends ChatRequest {
  /** The JSON Schema the object must satisfy (draft 2020-12 or 07 subset vendors accept). */
  schema: JsonSchema;
  /** A short name for the schema (OpenAI's `json_schema.name`). */
  schemaName?: string;
}

export interface StructuredResult<T = unknown> {
  value: T;
  /** Usage of every attempt together (the repair retry included). */
  usage: Usage;
  model: string;
  /** 1, or 2 when the first answer failed validation and the repair succeeded. */
  attempts: number;
}

export interface EmbeddingRequest {
  model: string;
  input: string[];
  /** Requested vector size, for models that can shorten (OpenAI text-embedding-3, Gemini). */
  dimensions?: number;
}

export interface EmbeddingResult {
  vectors: number[][];
  usage: Usage;
  model: string;
}

export interface ImageProgress {
  /** 0..1 */
  fraction: number;
  stage: string;
}

export interface ImageRequest {
  model: string;
  prompt: string;
  negativePrompt?: string;
  width?: number;
  height?: number;
  /** How many images; default 1. */
  n?: number;
  seed?: number;
  /** Optional: the vendor's quality tier where it has one (OpenAI's dall-e-3: `standard`, `hd`). */
  quality?: 'standard' | 'hd';
  /** Called as the vendor reports progress (ComfyUI); adapters that cannot tell call it at 0 and 1. */
  onProgress?: (p: ImageProgress) => void;
}

export interface GeneratedImage {
  data: Uint8Array;
  mimeType: string;
  width?: number;
  height?: number;
}

export interface ImageResult {
  images: GeneratedImage[];
  model: string;
}

export interface TranscriptionRequest {
  model: string;
  audio: Uint8Array;
  /** e.g. `audio/wav`, `audio/mpeg`. */
  mimeType: string;
  /** ISO-639-1 hint. */
  language?: string;
}

export interface TranscriptionResult {
  text: string;
  language?: string;
  durationSeconds?: number;
  model: string;
}

// ----------------------------------------------------------------------------------------------- moderation

export type ModerationCategory = 'hate' | 'violence' | 'sexual' | 'self_harm' | 'illegal';
export const MODERATION_CATEGORIES: readonly ModerationCategory[] = [
  'hate', 'violence', 'sexual', 'self_harm', 'illegal',
];
export type Severity = 'LOW' | 'MEDIUM' | 'HIGH';
const SEVERITY_RANK: Record<Severity, number> = { LOW: 1, MEDIUM: 2, HIGH: 3 };

export function severityAtLeast(s: Severity | null, floor: Severity): boolean {
  return s !== null && SEVERITY_RANK[s] >= SEVERITY_RANK[floor];
}

export function maxSeverity(a: Severity | null, b: Severity | null): Severity | null {
  if (a === null) return b;
  if (b === null) return a;
  return SEVERITY_RANK[a] >= SEVERITY_RANK[b] ? a : b;
}

export interface ModerationHit {
  category: ModerationCategory;
  severity: Severity;
  /** 0..1: the vendor's score, or the rule's fixed weight. */
  score: number;
  /** The rule or vendor category that matched (never the matched text: logs stay clean). */
  rule: string;
  /** Character range of the match in the checked text (local rules only). */
  start?: number;
  end?: number;
}

export interface ModerationResult {
  flagged: boolean;
  /** The highest severity over all hits; null when nothing matched. */
  severity: Severity | null;
  hits: ModerationHit[];
}

export interface ModerationRequest {
  input: string;
  model?: string;
}

// ----------------------------------------------------------------------------------------------- errors

/**
 * - `rate_limited`: the vendor said 429; `retryAfterMs` when it said how long.
 * - `unavailable`: 5xx, connection refused or dropped before any output.
 * - `timeout`: no answer (or no first byte) within the time allowed.
 * - `interrupted`: the stream broke after output had started; `partial` holds what arrived.
 * - `bad_request`: the vendor refused the request as malformed or too long (4xx other than auth/429).
 * - `auth`: the key is missing, wrong or lacks access (401/403).
 * - `unsupported`: the adapter lacks the capability.
 * - `invalid_output`: structured output failed the schema even after the repair retry.
 * - `aborted`: the caller's signal fired.
 */
export type AiErrorKind =
  | 'rate_limited' | 'unavailable' | 'timeout' | 'interrupted' | 'bad_request' | 'auth' | 'unsupported'
  | 'invalid_output' | 'aborted';

const KIND_HTTP: Record<AiErrorKind, { status: number; code: string }> = {
  rate_limited: { status: 503, code: 'AI_RATE_LIMITED' },
  unavailable: { status: 503, code: 'AI_UNAVAILABLE' },
  timeout: { status: 503, code: 'AI_TIMEOUT' },
  interrupted: { status: 502, code: 'AI_STREAM_INTERRUPTED' },
  bad_request: { status: 400, code: 'AI_BAD_REQUEST' },
  auth: { status: 502, code: 'AI_VENDOR_AUTH' },
  unsupported: { status: 400, code: 'AI_UNSUPPORTED' },
  invalid_output: { status: 502, code: 'AI_INVALID_OUTPUT' },
  aborted: { status: 499, code: 'AI_ABORTED' },
};

/** A failed AI call, rendered as an HTTP error by the kernel (503s carry Retry-After). */
export class AiError extends AppError {
  readonly kind: AiErrorKind;
  readonly provider: string;
  readonly retryAfterMs: number | undefined;
  /** The vendor's HTTP status, when there was one. */
  readonly vendorStatus: number | undefined;
  /** Output received before an `interrupted` stream broke. */
  readonly partial: { text: string; usage: Usage } | undefined;

  constructor(
    kind: AiErrorKind,
    provider: string,
    message: string,
    o: { retryAfterMs?: number; vendorStatus?: number; partial?: { text: string; usage: Usage }; cause?: unknown } = {},
  ) {
    const { status, code } = KIND_HTTP[kind];
    const retryAfter = status === 503 ? Math.max(1, Math.ceil((o.retryAfterMs ?? 2000) / 1000)) : undefined;
    super(status, code, message, {
      details: { provider, kind, ...(retryAfter ? { retry_after: retryAfter } : {}) },
      headers: retryAfter ? { 'Retry-After': String(retryAfter) } : undefined,
      cause: o.cause,
    });
    this.name = 'AiError';
    this.kind = kind;
    this.provider = provider;
    this.retryAfterMs = o.retryAfterMs;
    this.vendorStatus = o.vendorStatus;
    this.partial = o.partial;
  }

  /** Whether another vendor (or a later try) may succeed where this one failed. */
  get retryable(): boolean {
    return this.kind === 'rate_limited' || this.kind === 'unavailable' || this.kind === 'timeout';
  }
}

export function isAiError(e: unknown): e is AiError {
  return e instanceof AiError;
}

// ----------------------------------------------------------------------------------------------- the port

export interface AiProvider {
  /** The configured name (`openai`, `qwen`, `local`...). */
  readonly name: string;
  /** The adapter behind it (`openai`, `anthropic`, `gemini`, `comfyui`, `local`). */
  readonly adapter: string;
  readonly capabilities: ReadonlySet<AiCapability>;
  /** Every method below throws `AiError('unsupported')` when its capability is absent. */
  chat(request: ChatRequest, options?: CallOptions): Promise<ChatResult>;
  stream(request: ChatRequest, options?: CallOptions): AsyncIterable<ChatStreamEvent>;
  structured<T = unknown>(request: StructuredRequest, options?: CallOptions): Promise<StructuredResult<T>>;
  embed(request: EmbeddingRequest, options?: CallOptions): Promise<EmbeddingResult>;
  image(request: ImageRequest, options?: CallOptions): Promise<ImageResult>;
  transcribe(request: TranscriptionRequest, options?: CallOptions): Promise<TranscriptionResult>;
  moderate(request: ModerationRequest, options?: CallOptions): Promise<ModerationResult>;
  /** Local token estimate for a text in this vendor's tokenizer (a real one where it is public). */
  countTokens(text: string, model?: string): number;
}

export type CircuitState = 'closed' | 'open' | 'half_open';

/** A provider's circuit breaker: `open` while it is cooled down after failing, `half_open` for one trial call. */
export interface ProviderCircuit {
  name: string;
  state: CircuitState;
  consecutiveFailures: number;
  /** When an open circuit lets a trial call through (ISO). */
  retryAt?: string;
}

/**
 * The `aiProvider` port: the deployment's providers by name. Calls through `get(name)` feed a circuit breaker per
 * provider (retryable failures only), so a router can skip providers that keep failing (`available`).
 */
export interface AiProviders {
  /** Configured names, in config order; the first is the default. */
  names(): string[];
  /** Throws an `AiError('unsupported')` naming the known providers when `name` is not one. */
  get(name: string): AiProvider;
  has(name: string): boolean;
  /** The provider for moderation (the `moderation` option, else the first that has the capability). */
  moderator(): AiProvider | undefined;
  /** False while the provider is cooled down (its circuit is open, or half-open with its trial call out). */
  available(name: string): boolean;
  circuits(): ProviderCircuit[];
}
