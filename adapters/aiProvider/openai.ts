import { defineAdapter } from '../../kernel/ports/adapter.ts';
import type { AiProviders } from '../../kernel/ports/aiProvider.ts';
import { OPENAI_PRESETS, createOpenAiProvider, type OpenAiProviderOptions } from './openaiProvider.ts';
import { registryOf } from './shared/provider.ts';
import { CAPABILITIES_SCHEMA, VENDOR_PROPERTIES } from './shared/schemas.ts';

export type { OpenAiProviderOptions };

export const openAiOptionsSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    ...VENDOR_PROPERTIES,
    preset: {
      type: 'string', default: 'openai', enum: Object.keys(OPENAI_PRESETS),
      description: 'Base URL and features of an OpenAI-compatible vendor; `baseUrl` overrides the URL.',
    },
    capabilities: CAPABILITIES_SCHEMA,
    jsonSchema: { type: 'boolean', description: 'Whether the server takes response_format json_schema.' },
    moderationModel: { type: 'string', default: 'omni-moderation-latest' },
  },
};

export default defineAdapter<AiProviders, OpenAiProviderOptions>({
  port: 'aiProvider',
  name: 'openai',
  description: 'OpenAI Chat Completions (and Qwen, DeepSeek, xAI, Ollama, vLLM through presets), via egress.',
  optionsSchema: openAiOptionsSchema,
  create: async (options, ctx) => registryOf([await createOpenAiProvider(options ?? {}, ctx)], { clock: ctx.clock }),
});
