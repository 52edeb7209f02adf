import { defineAdapter } from '../../kernel/ports/adapter.ts';
import type { AiProviders } from '../../kernel/ports/aiProvider.ts';
import { createLocalProvider, type LocalProviderOptions } from './localProvider.ts';
import { registryOf } from './shared/provider.ts';
import { LOCAL_MODERATION_SCHEMA } from './shared/schemas.ts';

export type { LocalProviderOptions };

export const localOptionsSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    name: { type: 'string', minLength: 1, default: 'local' },
    replyWords: { type: 'integer', minimum: 1, maximum: 4000, default: 60 },
    pacing: {
      type: 'object', additionalProperties: false, default: {},
      properties: {
        firstTokenMs: { type: 'integer', minimum: 0, default: 150 },
        perTokenMs: { type: 'integer', minimum: 0, default: 20 },
      },
    },
    embeddingDimensions: { type: 'integer', minimum: 8, maximum: 4096, default: 256 },
    moderation: LOCAL_MODERATION_SCHEMA,
  },
};

export default defineAdapter<AiProviders, LocalProviderOptions>({
  port: 'aiProvider',
  name: 'local',
  local: true,
  description: 'Embedded stand-in, no network: deterministic text streamed with pacing, schema-valid structured '
    + 'output, real PNGs, hashed embeddings, rule-based moderation. Not a model.',
  optionsSchema: localOptionsSchema,
  create: (options, ctx) => registryOf([createLocalProvider(options ?? {}, ctx)], { clock: ctx.clock }),
});
