import { defineAdapter } from '../../kernel/ports/adapter.ts';
import type { AiProviders } from '../../kernel/ports/aiProvider.ts';
import { createComfyUiProvider, type ComfyUiProviderOptions } from './comfyuiProvider.ts';
import { registryOf } from './shared/provider.ts';
import { VENDOR_PROPERTIES } from './shared/schemas.ts';

export type { ComfyUiProviderOptions };

export const comfyUiOptionsSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    ...VENDOR_PROPERTIES,
    workflow: { type: 'object', description: 'API-format workflow with {{prompt}}, {{seed}}... placeholders.' },
    checkpoint: { type: 'string', minLength: 1 },
    steps: { type: 'integer', minimum: 1, maximum: 200, default: 20 },
    pollIntervalMs: { type: 'integer', minimum: 10, default: 1000 },
    maxWaitMs: { type: 'integer', minimum: 1, default: 600_000 },
  },
};

export default defineAdapter<AiProviders, ComfyUiProviderOptions>({
  port: 'aiProvider',
  name: 'comfyui',
  description: 'ComfyUI image generation: submit a workflow, poll its progress, fetch the image, via egress.',
  optionsSchema: comfyUiOptionsSchema,
  create: async (options, ctx) => registryOf([await createComfyUiProvider(options ?? {}, ctx)], { clock: ctx.clock }),
});
