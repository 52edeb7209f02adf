/** Seed 003's model table (FR-AI-003) and routing matrix (FR-AI-016), as the catalog's defaults. */
import type { AiModel, ImagePrice, TaskType } from './api.ts';

const USD = 100 * 1_000_000; // microcents per dollar
const usd = (dollars: number) => Math.round(dollars * USD);
const TEMPERATURE = { temperature: { min: 0, max: 2, default: 0.7 } };
const TEXT = ['chat', 'stream', 'structured'];

/** OpenAI's published dall-e-3 prices, per image (openai.com/api/pricing). */
const DALL_E_3: ImagePrice[] = [
  { quality: 'standard', size: '1024x1024', micros: usd(0.040) },
  { quality: 'standard', size: '1024x1792', micros: usd(0.080) },
  { quality: 'standard', size: '1792x1024', micros: usd(0.080) },
  { quality: 'hd', size: '1024x1024', micros: usd(0.080) },
  { quality: 'hd', size: '1024x1792', micros: usd(0.120) },
  { quality: 'hd', size: '1792x1024', micros: usd(0.120) },
];

type Row = [id: string, name: string, vendor: string, vendorModel: string, maxTokens: number, inUsd: number,
  outUsd: number, premium: boolean];

const ROWS: Row[] = [
  ['qwen-turbo', 'Qwen Turbo', 'qwen', 'qwen-turbo', 8192, 0.10, 0.30, false],
  ['qwen-plus', 'Qwen Plus', 'qwen', 'qwen-plus', 32768, 0.40, 1.20, true],
  ['qwen-max', 'Qwen Max', 'qwen', 'qwen-max', 32768, 1.60, 6.40, true],
  ['gpt-4o-mini', 'GPT-4o mini', 'openai', 'gpt-4o-mini', 16384, 0.15, 0.60, false],
  ['gpt-4o', 'GPT-4o', 'openai', 'gpt-4o', 16384, 2.50, 10.00, true],
  ['gpt-4-turbo', 'GPT-4 Turbo', 'openai', 'gpt-4-turbo', 4096, 10.00, 30.00, true],
  ['o1-preview', 'o1 preview', 'openai', 'o1-preview', 32768, 15.00, 60.00, true],
  ['o1-mini', 'o1 mini', 'openai', 'o1-mini', 65536, 3.00, 12.00, true],
  ['claude-3-haiku', 'Claude 3 Haiku', 'anthropic', 'claude-3-haiku-20240307', 4096, 0.25, 1.25, false],
  ['claude-3-5-sonnet', 'Claude 3.5 Sonnet', 'anthropic', 'claude-3-5-sonnet-latest', 8192, 3.00, 15.00, true],
  ['claude-3-opus', 'Claude 3 Opus', 'anthropic', 'claude-3-opus-latest', 4096, 15.00, 75.00, true],
  ['gemini-1.5-flash', 'Gemini 1.5 Flash', 'gemini', 'gemini-1.5-flash', 8192, 0.075, 0.30, false],
  ['gemini-1.5-pro', 'Gemini 1.5 Pro', 'gemini', 'gemini-1.5-pro', 8192, 1.25, 5.00, true],
  ['gemini-2.0-flash', 'Gemini 2.0 Flash', 'gemini', 'gemini-2.0-flash', 8192, 0.10, 0.40, true],
  ['grok-beta', 'Grok beta', 'xai', 'grok-beta', 8192, 5.00, 15.00, true],
  ['grok-2', 'Grok 2', 'xai', 'grok-2-latest', 8192, 2.00, 10.00, true],
  ['deepseek-chat', 'DeepSeek Chat', 'deepseek', 'deepseek-chat', 8192, 0.27, 1.10, false],
  ['deepseek-coder', 'DeepSeek Coder', 'deepseek', 'deepseek-coder', 8192, 0.27, 1.10, true],
];

export const DEFAULT_MODELS: AiModel[] = [
  ...ROWS.map(([id, name, vendor, vendorModel, maxTokens, inUsd, outUsd, premium]): AiModel => ({
    id, name, vendor, provider: vendor, vendorModel, type: 'text', maxTokens,
    inputMicrosPer1M: usd(inUsd), outputMicrosPer1M: usd(outUsd), premium, capabilities: TEXT,
    parameters: TEMPERATURE, status: 'active',
  })),
  {
    id: 'text-embedding-3-small', name: 'OpenAI embeddings (small)', vendor: 'openai', provider: 'openai',
    vendorModel: 'text-embedding-3-small', type: 'embedding', maxTokens: 8191, inputMicrosPer1M: usd(0.02),
    outputMicrosPer1M: 0, premium: false, capabilities: ['embeddings'], parameters: {}, status: 'active',
  },
  {
    id: 'dall-e-3', name: 'DALL-E 3', vendor: 'openai', provider: 'openai', vendorModel: 'dall-e-3', type: 'image',
    maxTokens: 4000, inputMicrosPer1M: 0, outputMicrosPer1M: 0, premium: true, capabilities: ['images'],
    parameters: {}, status: 'active', imagePrices: DALL_E_3,
  },
];

/** FR-AI-016's matrix; `premium` applies to every tier in `premiumTiers`. */
export const DEFAULT_MATRIX: Record<TaskType, { free: string; premium: string }> = {
  summary: { free: 'qwen-turbo', premium: 'qwen-turbo' },
  reasoning: { free: 'gpt-4o-mini', premium: 'gpt-4o' },
  creative: { free: 'claude-3-haiku', premium: 'claude-3-5-sonnet' },
  code: { free: 'deepseek-chat', premium: 'deepseek-coder' },
  general: { free: 'qwen-turbo', premium: 'gpt-4o-mini' },
};

/** FR-AI-016's chains, by vendor: OpenAI unavailable → Anthropic → Qwen → DeepSeek. */
export const DEFAULT_FALLBACKS: Record<string, string[]> = {
  openai: ['anthropic', 'qwen', 'deepseek'],
  anthropic: ['openai', 'qwen', 'deepseek'],
  qwen: ['deepseek', 'openai'],
  deepseek: ['qwen', 'openai'],
  gemini: ['openai', 'qwen'],
  xai: ['openai', 'anthropic'],
};

/**
 * The content classifier: a task scores one point per keyword found (whole words, case-insensitive; a keyword
 * starting with a non-letter, like ```, matches anywhere). The highest score wins; ties go in this order;
 * no match is `general`.
 */
export const DEFAULT_CLASSIFIER: Record<Exclude<TaskType, 'general'>, string[]> = {
  code: ['```', 'code', 'function', 'bug', 'debug', 'compile', 'typescript', 'javascript', 'python', 'sql', 'regex',
    'stack trace', 'refactor', 'api', 'error:'],
  summary: ['summarize', 'summarise', 'summary', 'tl;dr', 'tldr', 'key points', 'recap', 'in short', 'outline',
    'main points', 'gist'],
  reasoning: ['why', 'prove', 'calculate', 'compare', 'analyze', 'analyse', 'reason', 'step by step', 'explain',
    'evaluate', 'derive', 'logic'],
  creative: ['story', 'poem', 'lyrics', 'imagine', 'fiction', 'character', 'haiku', 'creative', 'write a', 'novel',
    'brainstorm'],
};

export const DEFAULT_CONTEXTS: Record<string, string> = { public: 'qwen-turbo', private: 'gpt-4o-mini' };
