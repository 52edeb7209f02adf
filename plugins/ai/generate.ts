/**
 * Asynchronous generation as jobs (seed 004's studio, 002's project generator): `ai.generate.text`,
 * `ai.generate.structured` and `ai.generate.image`, created with `POST /jobs {"type": "ai.generate.text",
 * "parameters": {"prompt": "..."}}` and followed on `GET /jobs/{id}` and the realtime channel `job:<id>`.
 *
 * - text streams through the gateway (moderation, hold, `max_tokens` bounded by it, fallbacks, capture, usage),
 *   reporting progress as output tokens arrive;
 * - structured output and images call the provider through the router, billed by generateBilling.ts;
 * - images come back in the job's result as base64 with their MIME type, until the files issue gives a BlobStore.
 *
 * Each job's call is one durable step: a job retried after it finished its call does not pay twice.
 *
 * The owner's own vendor key is resolved when the job runs, as its owner: the one `credentialId` names, else their
 * default key for the routed model's vendor. A named credential deleted meanwhile fails the job (404
 * CREDENTIAL_NOT_FOUND, not retried) rather than falling back to credits.
 */
import {
  AppError, defineJob, type ImageResult, type JobContext, type Principal,
} from '../../kernel/index.ts';
import type { AiGateway, GatewayChatResult, TaskType, UserKey } from './api.ts';
import { billedCall, ownerPrincipal, type GenerationServices } from './generateBilling.ts';
import type { UserSettingsCache } from './settingsCache.ts';
import { keyForCall, type KeyedCall } from './userKeys.ts';

type Services = GenerationServices & { aiGateway: AiGateway; aiSettings: UserSettingsCache };
type Ctx = JobContext<Services>;

const prompt = { type: 'string', minLength: 1, maxLength: 100_000 } as const;
const model = { type: 'string', minLength: 1, maxLength: 100 } as const;
const credentialId = { type: 'string', minLength: 1, maxLength: 100 } as const;

/** The owner's own key for this run (see the header), or undefined: the deployment's key, charged. */
function ownKey(ctx: Ctx, principal: Principal, c: KeyedCall): Promise<UserKey | undefined> {
  const s = ctx.services;
  return keyForCall({ aiUserKeys: s.aiUserKeys, modelCatalog: s.modelCatalog, aiRouter: s.aiRouter,
    preference: async (userId) => (await s.aiSettings.get(userId))?.preferredModel ?? undefined }, principal, c);
}
const STAGES = { route: 1, generate: 8, store: 1 };

export interface TextParameters {
  prompt: string; system?: string; model?: string; task?: TaskType; context?: string;
  maxTokens?: number; temperature?: number; credentialId?: string;
}

/** Progress at most every 10% (each report is a write and a realtime event). */
function progressReporter(ctx: Ctx, stage: string) {
  let last = -10;
  return async (percent: number, message: string) => {
    const p = Math.max(0, Math.min(100, Math.round(percent)));
    if (p - last < 10 && p !== 100) return;
    last = p;
    await ctx.progress(p, { stage, message });
  };
}

const summary = (r: GatewayChatResult) => ({
  model: r.model, text: r.text, finishReason: r.finishReason, usage: r.usage, flags: r.flags, warnings: r.warnings,
});

export const generateText = defineJob<TextParameters, Services>({
  description: 'Text from a prompt, through the AI gateway (billed, moderated)',
  public: true,
  parameters: {
    type: 'object', additionalProperties: false, required: ['prompt'],
    properties: {
      prompt, system: { type: 'string', maxLength: 20_000 }, model, context: { type: 'string', maxLength: 50 },
      task: { enum: ['summary', 'reasoning', 'creative', 'code', 'general'] },
      maxTokens: { type: 'integer', minimum: 1, maximum: 32_000 },
      temperature: { type: 'number', minimum: 0, maximum: 2 }, credentialId,
    },
  },
  stages: STAGES,
  retries: 2,
  timeoutMs: 10 * 60_000,
  async handle(job, ctx) {
    const p = job.parameters;
    await ctx.progress(100, { stage: 'route', message: 'Choosing a model' });
    const principal = await ownerPrincipal(job.ownerId, ctx.services);
    const result = await ctx.step('generate', async () => {
      const report = progressReporter(ctx, 'generate');
      const wanted = p.maxTokens ?? 1024;
      const userKey = await ownKey(ctx, principal, { model: p.model, task: p.task, context: p.context,
        text: p.prompt, credentialId: p.credentialId });
      const events = ctx.services.aiGateway.stream({
        ...(userKey ? { userKey } : {}),
        principal, model: p.model, task: p.task, context: p.context, maxTokens: p.maxTokens,
        temperature: p.temperature, signal: ctx.signal,
        messages: [...(p.system ? [{ role: 'system' as const, content: p.system }] : []),
          { role: 'user' as const, content: p.prompt }],
        reference: { kind: 'ai.generate.text', id: job.id }, idempotencyKey: `${job.id}:${job.attempt}`,
      });
      for await (const e of events) {
        if (e.type === 'tokens') await report((e.output / wanted) * 100, `${e.output} tokens written`);
        else if (e.type === 'done') {
          await report(100, `Done: ${e.result.usage.completionTokens} tokens, ${e.result.usage.costCents} cents`);
          return summary(e.result);
        } else if (e.type === 'error') {
          throw new AppError(e.status, e.code, e.message);
        }
      }
      throw new AppError(502, 'AI_STREAM_INTERRUPTED', 'The gateway stream ended without a final event');
    });
    await ctx.log('info', 'text generated', { model: result.model, tokens: result.usage.completionTokens,
      costCents: result.usage.costCents });
    await ctx.progress(100, { stage: 'store', message: 'Stored in the job result' });
    return { kind: 'text', ...result };
  },
});

export interface StructuredParameters {
  prompt: string; schema: Record<string, unknown>; schemaName?: string; model?: string; maxTokens?: number;
  credentialId?: string;
}

export const generateStructured = defineJob<StructuredParameters, Services>({
  description: 'A JSON value valid against a JSON Schema, from a prompt (one repair retry); billed',
  public: true,
  parameters: {
    type: 'object', additionalProperties: false, required: ['prompt', 'schema'],
    properties: {
      prompt, model, schema: { type: 'object' }, schemaName: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,64}$' },
      maxTokens: { type: 'integer', minimum: 1, maximum: 32_000 }, credentialId,
    },
  },
  stages: STAGES,
  retries: 2,
  timeoutMs: 10 * 60_000,
  async handle(job, ctx) {
    const p = job.parameters;
    await ctx.progress(100, { stage: 'route', message: 'Choosing a model' });
    const principal = await ownerPrincipal(job.ownerId, ctx.services);
    const maxTokens = p.maxTokens ?? 2048;
    const out = await ctx.step('generate', async () => {
      await ctx.progress(0, { stage: 'generate', message: 'Generating' });
      const userKey = await ownKey(ctx, principal, { model: p.model, text: p.prompt,
        credentialId: p.credentialId });
      const r = await billedCall({
        principal, type: 'text', userKey, model: p.model, prompt: `${p.prompt}\n${JSON.stringify(p.schema)}`,
        maxOutputTokens: maxTokens * 2, reference: { kind: 'ai.generate.structured', id: job.id },
        idempotencyKey: `${job.id}:${job.attempt}`, em: ctx.em,
        run: (provider, m, apiKey) => provider.structured({
          model: m.vendorModel, schema: p.schema, schemaName: p.schemaName, maxTokens,
          messages: [{ role: 'user', content: p.prompt }],
        }, { signal: ctx.signal, apiKey }),
        usageOf: (v) => ({ input: v.usage.inputTokens, output: v.usage.outputTokens }),
      }, ctx.services);
      await ctx.progress(100, { stage: 'generate', message: `Valid after ${r.value.attempts} attempt(s)` });
      return {
        model: r.model.id, value: r.value.value, attempts: r.value.attempts,
        usage: { promptTokens: r.value.usage.inputTokens, completionTokens: r.value.usage.outputTokens,
          costMicros: r.costMicros, costCents: r.costMicros / 1_000_000 },
      };
    });
    await ctx.log('info', 'structured output generated', { model: out.model, attempts: out.attempts });
    await ctx.progress(100, { stage: 'store', message: 'Stored in the job result' });
    return { kind: 'structured', ...out };
  },
});

export interface ImageParameters {
  prompt: string; negativePrompt?: string; model?: string; width?: number; height?: number; n?: number;
  seed?: number; quality?: 'standard' | 'hd'; credentialId?: string;
}

export const generateImage = defineJob<ImageParameters, Services>({
  description: 'Images from a prompt (result: base64 and MIME type); billed at the model\'s price',
  public: true,
  parameters: {
    type: 'object', additionalProperties: false, required: ['prompt'],
    properties: {
      prompt: { type: 'string', minLength: 1, maxLength: 4000 }, negativePrompt: { type: 'string', maxLength: 4000 },
      model, width: { type: 'integer', minimum: 64, maximum: 2048 }, height: { type: 'integer', minimum: 64,
        maximum: 2048 }, n: { type: 'integer', minimum: 1, maximum: 4 }, seed: { type: 'integer' },
      quality: { enum: ['standard', 'hd'] }, credentialId,
    },
  },
  stages: STAGES,
  retries: 1,
  timeoutMs: 15 * 60_000,
  async handle(job, ctx) {
    const p = job.parameters;
    await ctx.progress(100, { stage: 'route', message: 'Choosing a model' });
    const principal = await ownerPrincipal(job.ownerId, ctx.services);
    const out = await ctx.step('generate', async () => {
      const report = progressReporter(ctx, 'generate');
      const pending: Array<Promise<void>> = [];
      const userKey = await ownKey(ctx, principal, { model: p.model, text: p.prompt, type: 'image',
        credentialId: p.credentialId });
      const r = await billedCall<ImageResult>({
        principal, type: 'image', model: p.model, prompt: p.prompt, maxOutputTokens: 0, userKey,
        images: { width: p.width, height: p.height, quality: p.quality, n: p.n, count: (v) => v.images.length },
        reference: { kind: 'ai.generate.image', id: job.id }, idempotencyKey: `${job.id}:${job.attempt}`, em: ctx.em,
        run: (provider, m, apiKey) => provider.image({
          model: m.vendorModel, prompt: p.prompt, negativePrompt: p.negativePrompt, width: p.width, height: p.height,
          n: p.n, seed: p.seed, quality: p.quality,
          onProgress: (x) => { pending.push(report(x.fraction * 100, x.stage)); },
        }, { signal: ctx.signal, apiKey }),
        usageOf: () => ({ input: 0, output: 0 }),
      }, ctx.services);
      await Promise.all(pending);
      return {
        model: r.model.id, costMicros: r.costMicros,
        images: r.value.images.map((i) => ({
          mimeType: i.mimeType, width: i.width, height: i.height, base64: Buffer.from(i.data).toString('base64'),
        })),
      };
    });
    await ctx.log('info', 'images generated', { model: out.model, count: out.images.length });
    await ctx.progress(100, { stage: 'store', message: 'Stored in the job result (base64)' });
    return { kind: 'image', ...out };
  },
});

/** For `jobs:` in the ai plugin's definition. */
export const generationJobs = {
  'ai.generate.text': generateText,
  'ai.generate.structured': generateStructured,
  'ai.generate.image': generateImage,
};
