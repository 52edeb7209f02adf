import { defineAdapter } from '../../kernel/ports/adapter.ts';
import type { AiProviders } from '../../kernel/ports/aiProvider.ts';
import { createGeminiProvider, type GeminiProviderOptions } from './geminiProvider.ts';
import { registryOf } from './shared/provider.ts';
import { VENDOR_PROPERTIES } from './shared/schemas.ts';

export type { GeminiProviderOptions };

export const geminiOptionsSchema = {
  type: 'object',
  additionalProperties: false,
  properties: { ...VENDOR_PROPERTIES, apiVersion: { type: 'string', default: 'v1beta' } },
};

export default defineAdapter<AiProviders, GeminiProviderOptions>({
  port: 'aiProvider',
  name: 'gemini',
  description: 'Google Gemini API (chat, SSE streaming, structured, embeddings, Imagen, transcription), via egress.',
  optionsSchema: geminiOptionsSchema,
  create: async (options, ctx) => registryOf([await createGeminiProvider(options ?? {}, ctx)], { clock: ctx.clock }),
});
