/** The ai plugin's config: models (merged over seed 003's table by id), markup, tiers and routing. */
import type { AiModel, Strictness, TaskType } from './api.ts';
import { DEFAULT_CLASSIFIER, DEFAULT_CONTEXTS, DEFAULT_FALLBACKS, DEFAULT_MATRIX, DEFAULT_MODELS } from './defaults.ts';

export interface AiConfig {
  markupPercent?: number;
  defaultTier?: string;
  premiumTiers?: string[];
  /** Serves the models whose provider this deployment has not configured (the embedded default: `local`). */
  standIn?: string;
  models?: Array<Partial<AiModel> & { id: string }>;
  contexts?: Record<string, string>;
  matrix?: Partial<Record<TaskType, { free: string; premium: string }>>;
  fallbacks?: Record<string, string[]>;
  classifier?: Partial<Record<Exclude<TaskType, 'general'>, string[]>>;
  gateway?: Partial<GatewaySettings>;
  moderation?: Partial<ModerationSettings>;
}

/** The gateway's budget rules (see gatewayBudget.ts). */
export interface GatewaySettings {
  /** Output cap when the caller gives none (also bounded by the model's maxTokens and the balance). */
  defaultMaxTokens: number;
  /** A call whose balance cannot pay this many output tokens is refused with 402. */
  minCompletionTokens: number;
  /** Added to the local input-token count before the hold (vendors' tokenizers differ). */
  inputMarginPercent: number;
  holdTtlSeconds: number;
  /** A `tokens` event after every this many deltas (and one before `done`). */
  tokensEventEvery: number;
  /** The plan feature premium models need besides a premium tier (billing's plans: `premium-models`). */
  premiumFeature: string;
}

/** Safety: the deployment's floor (users may only raise it) and what flagged output does. */
export interface ModerationSettings {
  floor: Strictness;
  /** `redact` replaces the flagged span; `stop` ends the answer with finish_reason content_filter. */
  output: 'redact' | 'stop';
  redaction: string;
  /** Output is checked (and released) in batches of at least this many characters beyond the hold-back. */
  batchChars: number;
}

export interface ResolvedAiConfig {
  markupPercent: number;
  defaultTier: string;
  premiumTiers: string[];
  standIn: string | undefined;
  models: AiModel[];
  contexts: Record<string, string>;
  matrix: Record<TaskType, { free: string; premium: string }>;
  fallbacks: Record<string, string[]>;
  classifier: Record<Exclude<TaskType, 'general'>, string[]>;
  gateway: GatewaySettings;
  moderation: ModerationSettings;
}

const range = { type: 'object', required: ['min', 'max', 'default'], additionalProperties: false,
  properties: { min: { type: 'number' }, max: { type: 'number' }, default: { type: 'number' } } };

/** Image models' prices: per image, by quality and size, in microcents before markup. */
export const IMAGE_PRICES = {
  type: 'array', maxItems: 50,
  items: {
    type: 'object', additionalProperties: false, required: ['quality', 'size', 'micros'],
    properties: {
      quality: { enum: ['standard', 'hd'] },
      size: { type: 'string', pattern: '^[1-9][0-9]{1,4}x[1-9][0-9]{1,4}$' },
      micros: { type: 'integer', minimum: 0, description: 'Microcents per image, before markup.' },
    },
  },
};

const MODEL_SCHEMA = {
  type: 'object',
  required: ['id'],
  additionalProperties: false,
  properties: {
    id: { type: 'string', minLength: 1, maxLength: 100 },
    name: { type: 'string', minLength: 1 },
    vendor: { type: 'string', minLength: 1 },
    provider: { type: 'string', minLength: 1 },
    vendorModel: { type: 'string', minLength: 1 },
    type: { enum: ['text', 'image', 'audio', 'embedding', 'video'] },
    maxTokens: { type: 'integer', minimum: 1 },
    inputMicrosPer1M: { type: 'integer', minimum: 0, description: 'Microcents per 1M input tokens, before markup.' },
    outputMicrosPer1M: { type: 'integer', minimum: 0 },
    premium: { type: 'boolean' },
    capabilities: { type: 'array', items: { type: 'string' } },
    parameters: { type: 'object', additionalProperties: range },
    status: { enum: ['active', 'disabled', 'deprecated'] },
    imagePrices: IMAGE_PRICES,
  },
};

const TASK_MODELS = { type: 'object', required: ['free', 'premium'], additionalProperties: false,
  properties: { free: { type: 'string' }, premium: { type: 'string' } } };

export const CONFIG_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  properties: {
    markupPercent: {
      type: 'integer',
      minimum: 0,
      maximum: 1000,
      default: 40,
      description: 'Added to vendor prices (seed 003: 40).',
    },
    defaultTier: {
      type: 'string',
      default: 'free',
      description: 'Tier of anonymous callers and principals without one.',
    },
    premiumTiers: { type: 'array', items: { type: 'string' }, default: ['premium', 'enterprise'] },
    standIn: {
      type: 'string',
      minLength: 1,
      description: 'Provider that serves models whose own provider is not configured (e.g. `local`).',
    },
    models: { type: 'array', items: MODEL_SCHEMA, description: 'Merged by id over the built-in table.' },
    contexts: { type: 'object', additionalProperties: { type: 'string' } },
    matrix: {
      type: 'object',
      additionalProperties: false,
      properties: Object.fromEntries(
        ['summary', 'reasoning', 'creative', 'code', 'general'].map((t) => [t, TASK_MODELS]),
      ),
    },
    fallbacks: {
      type: 'object',
      additionalProperties: { type: 'array', items: { type: 'string' } },
      description: 'By vendor: the vendors to try next, in order.',
    },
    classifier: {
      type: 'object',
      additionalProperties: false,
      properties: Object.fromEntries(
        ['summary', 'reasoning', 'creative', 'code'].map((t) => [t, { type: 'array', items: { type: 'string' } }]),
      ),
    },
    gateway: {
      type: 'object',
      additionalProperties: false,
      properties: {
        defaultMaxTokens: { type: 'integer', minimum: 1, default: 1024 },
        minCompletionTokens: { type: 'integer', minimum: 1, default: 16 },
        inputMarginPercent: { type: 'integer', minimum: 0, maximum: 100, default: 10 },
        holdTtlSeconds: { type: 'integer', minimum: 10, default: 900 },
        tokensEventEvery: { type: 'integer', minimum: 1, default: 16 },
        premiumFeature: { type: 'string', minLength: 1, default: 'premium-models' },
      },
    },
    moderation: {
      type: 'object',
      additionalProperties: false,
      properties: {
        floor: { enum: ['off', 'default', 'strict'], default: 'default',
          description: 'The least strictness any user gets; a user preference may only raise it.' },
        output: { enum: ['redact', 'stop'], default: 'redact' },
        redaction: { type: 'string', maxLength: 50, default: '[redacted]' },
        batchChars: { type: 'integer', minimum: 0, maximum: 1000, default: 24,
          description: 'Stream output is checked once this many characters beyond the hold-back are pending.' },
      },
    },
  },
};

/** Fills a partial model from the built-in one with its id, or from neutral defaults for a new model. */
export function completeModel(partial: Partial<AiModel> & { id: string }, base?: AiModel): AiModel {
  const vendor = partial.vendor ?? base?.vendor ?? 'local';
  return {
    id: partial.id,
    name: partial.name ?? base?.name ?? partial.id,
    vendor,
    provider: partial.provider ?? base?.provider ?? vendor,
    vendorModel: partial.vendorModel ?? base?.vendorModel ?? partial.id,
    type: partial.type ?? base?.type ?? 'text',
    maxTokens: partial.maxTokens ?? base?.maxTokens ?? 4096,
    inputMicrosPer1M: partial.inputMicrosPer1M ?? base?.inputMicrosPer1M ?? 0,
    outputMicrosPer1M: partial.outputMicrosPer1M ?? base?.outputMicrosPer1M ?? 0,
    premium: partial.premium ?? base?.premium ?? false,
    capabilities: partial.capabilities ?? base?.capabilities ?? ['chat', 'stream', 'structured'],
    parameters: partial.parameters ?? base?.parameters ?? {},
    status: partial.status ?? base?.status ?? 'active',
    ...(partial.imagePrices ?? base?.imagePrices ? { imagePrices: partial.imagePrices ?? base?.imagePrices } : {}),
  };
}

export function resolveConfig(c: AiConfig = {}): ResolvedAiConfig {
  const models = new Map(DEFAULT_MODELS.map((m) => [m.id, m]));
  for (const m of c.models ?? []) models.set(m.id, completeModel(m, models.get(m.id)));
  return {
    markupPercent: c.markupPercent ?? 40,
    defaultTier: c.defaultTier ?? 'free',
    premiumTiers: c.premiumTiers ?? ['premium', 'enterprise'],
    standIn: c.standIn,
    models: [...models.values()],
    contexts: { ...DEFAULT_CONTEXTS, ...c.contexts },
    matrix: { ...DEFAULT_MATRIX, ...c.matrix },
    fallbacks: { ...DEFAULT_FALLBACKS, ...c.fallbacks },
    classifier: { ...DEFAULT_CLASSIFIER, ...c.classifier },
    gateway: {
      defaultMaxTokens: 1024, minCompletionTokens: 16, inputMarginPercent: 10, holdTtlSeconds: 900,
      tokensEventEvery: 16, premiumFeature: 'premium-models', ...c.gateway,
    },
    moderation: { floor: 'default', output: 'redact', redaction: '[redacted]', batchChars: 24, ...c.moderation },
  };
}
