/**
 * The model catalog: config (seed 003's table by default) with admins' runtime changes merged over it. Changes
 * live in `ai_model_overrides`; each instance re-reads them at most every `refreshMs`, and at once after a change
 * it made itself.
 */
import type { MikroORM } from '@mikro-orm/core';
import { AppError, type AiProviders, type Clock, type Principal } from '../../kernel/index.ts';
import type { AiModel, AiModelView, ImageAsk, ModelCatalog } from './api.ts';
import { completeModel, type ResolvedAiConfig } from './config.ts';
import type { AiModelOverrideRow } from './entities.ts';

const REFRESH_MS = 2000;

export class Catalog implements ModelCatalog {
  private cache?: { at: number; models: Promise<AiModel[]> };

  constructor(private config: ResolvedAiConfig, private orm: MikroORM, private clock: Clock,
    private ai: AiProviders) {}

  list(): Promise<AiModel[]> {
    const now = this.clock.now();
    if (this.cache && now - this.cache.at < REFRESH_MS) return this.cache.models;
    const models = this.load();
    this.cache = { at: now, models };
    models.catch(() => { if (this.cache?.models === models) this.cache = undefined; });
    return models;
  }

  private async load(): Promise<AiModel[]> {
    const rows = await this.orm.em
      .fork()
      .find<AiModelOverrideRow>('AiModelOverride', {}, { orderBy: { modelId: 'asc' } });
    const byId = new Map(this.config.models.map((m) => [m.id, m]));
    for (const row of rows)
      byId.set(row.modelId, completeModel({ ...row.data, id: row.modelId }, byId.get(row.modelId)));
    return [...byId.values()];
  }

  async find(id: string): Promise<AiModel | undefined> {
    return (await this.list()).find((m) => m.id === id);
  }

  /** Stores an admin's change (upsert by model id) and drops this instance's cache. */
  async change(modelId: string, patch: Partial<AiModel>, by: string | undefined): Promise<AiModel> {
    const em = this.orm.em.fork();
    const existing = await em.findOne<AiModelOverrideRow>('AiModelOverride', { modelId });
    const base = (await this.find(modelId));
    if (!base && (!patch.vendor || !patch.name)) {
      throw new AppError(400, 'MODEL_INCOMPLETE', `A new model needs at least name and vendor (${modelId})`);
    }
    if (existing) {
      existing.data = { ...existing.data, ...patch };
      existing.updatedBy = by ?? null;
    } else {
      em.create('AiModelOverride', { modelId, data: patch, updatedBy: by ?? null });
    }
    await em.flush();
    this.cache = undefined;
    return (await this.find(modelId))!;
  }

  tierOf(principal: Principal | undefined): string {
    return principal?.tier ?? this.config.defaultTier;
  }

  isPremiumTier(tier: string): boolean {
    return this.config.premiumTiers.includes(tier);
  }

  accessible(model: AiModel, tier: string): boolean {
    return model.status !== 'disabled' && (!model.premium || this.isPremiumTier(tier));
  }

  /** The provider that serves a model here: its own when configured, else the stand-in, else none. */
  providerFor(model: AiModel): string | undefined {
    if (this.ai.has(model.provider)) return model.provider;
    return this.config.standIn && this.ai.has(this.config.standIn) ? this.config.standIn : undefined;
  }

  private marked(micros: number): number {
    return Math.ceil((micros * (100 + this.config.markupPercent)) / 100);
  }

  view(model: AiModel, tier: string): AiModelView {
    const { provider: _p, vendorModel: _v, inputMicrosPer1M, outputMicrosPer1M, imagePrices, ...rest } = model;
    const input = this.marked(inputMicrosPer1M);
    const output = this.marked(outputMicrosPer1M);
    return {
      ...rest,
      ...(imagePrices ? { imagePrices: imagePrices.map((x) => {
        const micros = this.marked(x.micros);
        return { quality: x.quality, size: x.size, micros, costPerImage: Math.round(micros / 100) / 1_000_000 };
      }) } : {}),
      inputMicrosPer1M: input,
      outputMicrosPer1M: output,
      // Display only: dollars to 6 places, from the exact integer.
      inputCostPer1M: Math.round(input / 100) / 1_000_000,
      outputCostPer1M: Math.round(output / 100) / 1_000_000,
      accessible: this.accessible(model, tier) && this.providerFor(model) !== undefined,
    };
  }

  costMicros(model: AiModel, tokens: { input: number; output: number }): number {
    const base = tokens.input * model.inputMicrosPer1M + tokens.output * model.outputMicrosPer1M;
    const cost = Math.ceil((base * (100 + this.config.markupPercent)) / 100 / 1_000_000);
    if (!Number.isSafeInteger(cost)) throw new RangeError('cost out of the safe integer range');
    return cost;
  }

  imageCostMicros(model: AiModel, ask: ImageAsk): number {
    const prices = model.imagePrices ?? [];
    const ofQuality = prices.filter((x) => x.quality === (ask.quality ?? 'standard'));
    const pool = (ofQuality.length ? ofQuality : prices).map((x) => {
      const [w, h] = x.size.split('x').map(Number);
      return { ...x, w, h };
    }).sort((a, b) => a.micros - b.micros);
    if (!pool.length) return 0;
    const fits = ask.width === undefined && ask.height === undefined ? pool
      : pool.filter((x) => x.w >= (ask.width ?? 0) && x.h >= (ask.height ?? 0));
    const price = fits.length ? fits[0] : pool[pool.length - 1];
    const cost = Math.ceil(this.marked(price.micros * Math.max(1, ask.n ?? 1)));
    if (!Number.isSafeInteger(cost)) throw new RangeError('cost out of the safe integer range');
    return cost;
  }
}
