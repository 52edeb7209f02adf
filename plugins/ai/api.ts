/** What the ai plugin exports to others (`requires: ['ai']`): the model catalog, the router and the gateway. */
import type { EntityManager } from '@mikro-orm/core';
import type {
  AiProvider, ChatMessage, ChatStreamEvent, FinishReason, ModerationHit, Principal,
} from '../../kernel/index.ts';

export type ModelType = 'text' | 'image' | 'audio' | 'embedding' | 'video';
export type TaskType = 'summary' | 'reasoning' | 'creative' | 'code' | 'general';
export const TASK_TYPES: readonly TaskType[] = ['summary', 'reasoning', 'creative', 'code', 'general'];

export interface ParameterRange { min: number; max: number; default: number }

/** One price of an image model: per image of that quality and size (`WxH`), in microcents, before markup. */
export interface ImagePrice { quality: 'standard' | 'hd'; size: string; micros: number }
/** An image price as a caller sees it: marked up, exact (`micros`) and in USD (display). */
export interface ImagePriceView { quality: 'standard' | 'hd'; size: string; micros: number; costPerImage: number }
/** What an image call asks for: it is priced per image at the cheapest listed size that holds it. */
export interface ImageAsk { width?: number; height?: number; quality?: 'standard' | 'hd'; n?: number }

/** One model as configured. Prices are integer microcents per 1M tokens (1 cent = 1_000_000 µ¢), before markup. */
export interface AiModel {
  id: string;
  name: string;
  vendor: string;
  /** The `aiProvider` registry name that serves it (default: the vendor). */
  provider: string;
  /** The vendor's own id for it (default: the id). */
  vendorModel: string;
  type: ModelType;
  maxTokens: number;
  inputMicrosPer1M: number;
  outputMicrosPer1M: number;
  premium: boolean;
  capabilities: string[];
  parameters: Record<string, ParameterRange>;
  status: 'active' | 'disabled' | 'deprecated';
  /** Image models: the price per image by quality and size (tokens are not what they bill). */
  imagePrices?: ImagePrice[];
}

/** A model as a caller sees it: prices with the deployment's markup, and whether the caller's tier may use it. */
export interface AiModelView extends Omit<
  AiModel,
  'provider' | 'vendorModel' | 'inputMicrosPer1M' | 'outputMicrosPer1M' | 'imagePrices'
> {
  /** Image models: per image, marked up. */
  imagePrices?: ImagePriceView[];
  /** USD per 1M tokens, marked up (display value, as seed 003 shows it). */
  inputCostPer1M: number;
  outputCostPer1M: number;
  /** The same prices exactly: integer microcents per 1M tokens, marked up. */
  inputMicrosPer1M: number;
  outputMicrosPer1M: number;
  accessible: boolean;
}

export interface ModelCatalog {
  list(): Promise<AiModel[]>;
  /** Undefined when there is no such model. */
  find(id: string): Promise<AiModel | undefined>;
  /** The caller's tier: the principal's, else the deployment's `defaultTier`. */
  tierOf(principal: Principal | undefined): string;
  accessible(model: AiModel, tier: string): boolean;
  view(model: AiModel, tier: string): AiModelView;
  /** Exact cost in microcents, marked up, rounded up: what a hold must cover. */
  costMicros(model: AiModel, tokens: { input: number; output: number }): number;
  /**
   * Image models: the exact cost of `n` images (default 1) in microcents, marked up, rounded up; 0 for a model
   * without `imagePrices`. The price is the cheapest listed one of the quality (default `standard`) whose size
   * holds `width` x `height` (default: the cheapest of the quality); a larger size than any listed pays the dearest.
   */
  imageCostMicros(model: AiModel, ask: ImageAsk): number;
}

export interface RouteRequest {
  /** Explicit choice: wins, but must be accessible (403 MODEL_NOT_AVAILABLE otherwise). */
  model?: string;
  /** The user's saved preference; ignored when not accessible. */
  preference?: string;
  /** Context default (003: public book → qwen-turbo, private → gpt-4o-mini). */
  context?: string;
  /** The task when known; else classified from `text`. */
  task?: TaskType;
  text?: string;
  tier: string;
  /** Candidates whose estimated cost exceeds this are left out (the hold's cover). */
  maxCostMicros?: number;
  estimate?: { input: number; output: number };
  type?: ModelType;
}

export interface RoutePlan {
  model: AiModel;
  reason: 'explicit' | 'preference' | 'context' | 'task';
  task: TaskType;
  /** The model first, then its fallbacks: all accessible to the tier, active and within the budget. */
  candidates: AiModel[];
}

export interface RouteAttempt { model: string; provider: string; error?: string; skipped?: 'cooled_down' }

export interface Router {
  classify(text: string): TaskType;
  route(req: RouteRequest): Promise<RoutePlan>;
  /** Runs `call` on each candidate until one succeeds; falls back on retryable vendor errors only. */
  run<T>(plan: RoutePlan, call: (provider: AiProvider, model: AiModel) => Promise<T>):
    Promise<{ value: T; model: AiModel; attempts: RouteAttempt[] }>;
  /**
   * A stream with fallback: a candidate that fails before its first event (retryable kinds only) hands over to the
   * next; once output has started, a failure ends the stream with its error. `onModel` tells which model answers.
   */
  stream(plan: RoutePlan, open: (provider: AiProvider, model: AiModel) => AsyncIterable<ChatStreamEvent>,
    onModel?: (model: AiModel, attempts: RouteAttempt[]) => void): AsyncIterable<ChatStreamEvent>;
}

export interface AiExports {
  modelCatalog: ModelCatalog; aiRouter: Router; aiGateway: AiGateway; aiContexts: ContextRegistry;
  aiUserKeys: UserKeyRegistry;
}

// ---------------------------------------------------------------------------------------------- the gateway

/** How hard moderation is: the deployment's floor, raised (never lowered) by the user's preference or the call. */
export type Strictness = 'off' | 'default' | 'strict';

export interface GatewayChatCall {
  /** The caller (user; for API keys principal.id is the user). */
  principal: Principal;
  model?: string; preference?: string; context?: string; task?: TaskType;
  messages: ChatMessage[];
  maxTokens?: number; temperature?: number; topP?: number; stop?: string[];
  signal?: AbortSignal;
  /** What the call is for (`{kind: 'chat', id: messageId}`); goes into the usage event and the hold. */
  reference: { kind: string; id: string };
  /** The hold's idempotency key (a retried call with the same key is not held twice). */
  idempotencyKey?: string;
  /** The user's own vendor key: not charged, only metered; only models that provider serves are tried. */
  userKey?: { provider: string; apiKey: string };
  moderation?: Strictness;
  /**
   * Optional: the caller's unit of work. When given, the usage event and review-queue items are staged in it and
   * the caller's flush commits them with its own write (the chat message); otherwise the gateway flushes its own.
   */
  em?: EntityManager;
  /** Optional: a session id, carried into the usage event's reference. */
  session?: string;
  /**
   * Optional, streams: called once every pre-call check passed and the hold is taken, just before the upstream
   * call, so a caller can send its response headers without waiting for the first token.
   */
  onReady?: () => void;
}

export interface GatewayUsage {
  promptTokens: number; completionTokens: number; totalTokens: number;
  /** What was charged, in cents (exact: costMicros / 1,000,000); 0 with the user's own key. */
  costCents: number; costMicros: number;
  /** True when the token counts are the gateway's own (tokenizer) because the vendor did not report them. */
  estimated: boolean;
}

export interface GatewayChatResult {
  id: string; model: string; text: string; finishReason: FinishReason;
  usage: GatewayUsage; ttftMs: number; totalMs: number; attempts: RouteAttempt[];
  /** Moderation hits that acted (input MEDIUM flags, output redactions or a stop). */
  flags: ModerationHit[];
  warnings: string[];
  /** Response headers for the caller to add (`X-Usage-Warning`). */
  headers: Record<string, string>;
  /** Optional: the output cap the call ran with (bounded by the hold). */
  maxTokens?: number;
  /** Optional: whether the input was flagged (MEDIUM, passed) and whether the output was acted on. */
  flagged?: { input: boolean; output: boolean };
}

export type GatewayStreamEvent =
  | { type: 'chunk'; text: string }
  | { type: 'tokens'; input: number; output: number }
  | { type: 'done'; result: GatewayChatResult }
  | { type: 'error'; code: string; message: string; status: number; partial?: GatewayChatResult };

export interface GatewayEstimate {
  model: string; inputTokens: number; maxOutputTokens: number; estimatedCents: number; estimatedMicros: number;
  /** USD per 1M tokens with markup (display). */
  inputCostPer1M: number; outputCostPer1M: number;
}

export interface AiGateway {
  estimate(principal: Principal, call: Omit<GatewayChatCall, 'principal' | 'reference'>): Promise<GatewayEstimate>;
  /** Throws kernel errors: 400 CONTENT_BLOCKED, 402, 403 MODEL_NOT_AVAILABLE, 503. */
  chat(call: GatewayChatCall): Promise<GatewayChatResult>;
  /** Pre-call errors (the same as chat's) reject the first `next()`; after that, exactly one `done` or `error`. */
  stream(call: GatewayChatCall): AsyncIterable<GatewayStreamEvent>;
  embed(principal: Principal, o: { model?: string; input: string[]; reference: { kind: string; id: string };
    userKey?: { provider: string; apiKey: string }; em?: EntityManager }):
    Promise<{ model: string; vectors: number[][]; usage: GatewayUsage; headers?: Record<string, string> }>;
}

// ---------------------------------------------------------------------------------------------- chat context

/** A passage a context provider supplies: `text` goes into the prompt, `page` and `excerpt` back as a citation. */
export interface ContextPassage {
  page: number | null;
  text: string;
  /** What the citation shows (default: the first 200 characters of `text`). */
  excerpt?: string;
  /** A label for the source (a note's title, a book's name). */
  source?: string;
}

/**
 * Supplies a chat's context (seed 003's book passages; the library plugin will register `book`). A plugin that
 * requires `ai` registers one in its `onStart`: `aiContexts.register({ kind: 'notes', canUse, passages })`.
 */
export interface ContextProvider {
  /** The `context.kind` a chat names (`notes`, `book`). */
  kind: string;
  /** Whether the item exists and this principal may read it (a chat cannot link what its user cannot read). */
  canUse(principal: Principal, id: string): Promise<boolean>;
  /** The passages of item `id` most relevant to `query`, at most `limit`, best first. */
  passages(principal: Principal, o: { id: string; query: string; limit: number }): Promise<ContextPassage[]>;
}

export interface ContextRegistry {
  /** One provider per kind; registering a kind twice throws. */
  register(provider: ContextProvider): void;
  get(kind: string): ContextProvider | undefined;
  kinds(): string[];
}

// ---------------------------------------------------------------------------------------------- users' own keys

/** A user's own vendor key, opened for one call (`userKey` of a gateway call). Never logged. */
export interface UserKey { credentialId: string; provider: string; apiKey: string }

/**
 * Finds users' own vendor keys; registered by the plugin that stores them (aiapi). Works without a request (a job
 * resolves its owner's key when it runs), so it takes the user's id rather than the request's principal.
 */
export interface UserKeyResolver {
  /**
   * `credentialId`: that credential of the user's (404 when it is not theirs or no longer exists; 400 when
   * `provider` is given and the key is for another vendor). Else the user's default key for `provider`, if any.
   */
  resolve(userId: string, o: { provider?: string; credentialId?: string }): Promise<UserKey | undefined>;
}

export interface UserKeyRegistry {
  /** One resolver per deployment; registering a second throws. */
  register(resolver: UserKeyResolver): void;
  get(): UserKeyResolver | undefined;
}
