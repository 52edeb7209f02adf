/** What the ai plugin exports to others (`requires: ['ai']`): the model catalog and the router. */
import type { AiProvider, ChatStreamEvent, Principal } from '../../kernel/index.ts';

export type ModelType = 'text' | 'image' | 'audio' | 'embedding' | 'video';
export type TaskType = 'summary' | 'reasoning' | 'creative' | 'code' | 'general';
export const TASK_TYPES: readonly TaskType[] = ['summary', 'reasoning', 'creative', 'code', 'general'];

export interface ParameterRange { min: number; max: number; default: number }

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
}

/** A model as a caller sees it: prices with the deployment's markup, and whether the caller's tier may use it. */
export interface AiModelView extends Omit<
  AiModel,
  'provider' | 'vendorModel' | 'inputMicrosPer1M' | 'outputMicrosPer1M'
> {
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

export interface AiExports { modelCatalog: ModelCatalog; aiRouter: Router }
