import { defineEntity, p, type RowOf } from '../../kernel/index.ts';
import type { AiModel } from './api.ts';

/** An admin's change to a model (or a model added at runtime): merged over the configured catalog. */
export const AiModelOverride = defineEntity('AiModelOverride', {
  table: 'ai_model_overrides',
  properties: {
    id: p.id(),
    modelId: p.string({ length: 100 }),
    data: p.json<Partial<AiModel>>(),
    updatedBy: p.string({ length: 36, nullable: true }),
    updatedAt: p.updatedAt(),
  },
  indexes: [{ properties: ['modelId'], unique: true }],
});
export type AiModelOverrideRow = RowOf<typeof AiModelOverride>;
