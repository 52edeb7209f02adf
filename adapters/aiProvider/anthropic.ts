import { defineAdapter } from '../../kernel/ports/adapter.ts';
import type { AiProviders } from '../../kernel/ports/aiProvider.ts';
import { createAnthropicProvider, type AnthropicProviderOptions } from './anthropicProvider.ts';
import { registryOf } from './shared/provider.ts';
import { VENDOR_PROPERTIES } from './shared/schemas.ts';

export type { AnthropicProviderOptions };

export const anthropicOptionsSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    ...VENDOR_PROPERTIES,
    version: { type: 'string', default: '2023-06-01' },
    defaultMaxTokens: { type: 'integer', minimum: 1, default: 1024 },
  },
};

export default defineAdapter<AiProviders, AnthropicProviderOptions>({
  port: 'aiProvider',
  name: 'anthropic',
  description: 'Anthropic Messages API (chat, streaming, structured output), via egress.',
  optionsSchema: anthropicOptionsSchema,
  create: async (options, ctx) => registryOf([await createAnthropicProvider(options ?? {}, ctx)], { clock: ctx.clock }),
});
