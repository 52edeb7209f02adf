/** A user's AI preferences: the preferred model (the router's second choice) and moderation strictness. */
import type { EntityManager } from '@mikro-orm/core';
import { AppError } from '../../kernel/index.ts';
import type { ModelCatalog, Strictness } from './api.ts';
import type { Schemas } from './contract.gen.ts';
import type { AiUserSettingsRow } from './entities.ts';
import { strictness } from './gatewaySafety.ts';
import type { UserSettingsCache } from './settingsCache.ts';

export class Preferences {
  constructor(private em: EntityManager, private floor: Strictness, private catalog: ModelCatalog,
    private cache: UserSettingsCache) {}

  async get(userId: string): Promise<Schemas['Preferences']> {
    const row = await this.em.findOne<AiUserSettingsRow>('AiUserSettings', { userId });
    return this.view(row?.preferredModel ?? null, (row?.moderation ?? null) as Strictness | null);
  }

  async set(userId: string, body: { preferredModel?: string | null; moderation?: Strictness | null }) {
    if (body.preferredModel && !(await this.catalog.find(body.preferredModel))) {
      throw new AppError(404, 'MODEL_NOT_FOUND', `No model "${body.preferredModel}" in this deployment`);
    }
    let row = await this.em.findOne<AiUserSettingsRow>('AiUserSettings', { userId });
    row ??= this.em.create<AiUserSettingsRow>('AiUserSettings', { userId, preferredModel: null, moderation: null } as
      AiUserSettingsRow);
    if (body.preferredModel !== undefined) row.preferredModel = body.preferredModel;
    if (body.moderation !== undefined) row.moderation = body.moderation;
    await this.em.flush();
    this.cache.drop(userId);
    return this.view(row.preferredModel ?? null, (row.moderation ?? null) as Strictness | null);
  }

  private view(preferredModel: string | null, moderation: Strictness | null): Schemas['Preferences'] {
    return { preferredModel, moderation, floor: this.floor, effective: strictness(this.floor, moderation) };
  }
}
