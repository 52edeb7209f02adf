/**
 * Several providers in one deployment (the router falls back between them):
 *   aiProvider: { use: gateway, moderation: local, providers: { openai: { adapter: openai, apiKey: ... },
 *                 qwen: { adapter: openai, preset: qwen, apiKey: ... }, local: { adapter: local } } }
 * Each entry is validated against its adapter's own options schema.
 */
import { Ajv2020 } from 'ajv/dist/2020.js';
import { defineAdapter, type AdapterContext, type JsonSchema } from '../../kernel/ports/adapter.ts';
import type { AiProvider, AiProviders } from '../../kernel/ports/aiProvider.ts';
import { registryOf } from './shared/provider.ts';
import type { BreakerOptions } from './shared/breaker.ts';
import { createLocalProvider } from './localProvider.ts';
import { createOpenAiProvider } from './openaiProvider.ts';
import { createAnthropicProvider } from './anthropicProvider.ts';
import { createGeminiProvider } from './geminiProvider.ts';
import { createComfyUiProvider } from './comfyuiProvider.ts';
import { localOptionsSchema } from './local.ts';
import { openAiOptionsSchema } from './openai.ts';
import { anthropicOptionsSchema } from './anthropic.ts';
import { geminiOptionsSchema } from './gemini.ts';
import { comfyUiOptionsSchema } from './comfyui.ts';

type Factory = (options: any, ctx: AdapterContext) => AiProvider | Promise<AiProvider>;

const FACTORIES: Record<string, { schema: JsonSchema; create: Factory }> = {
  local: { schema: localOptionsSchema, create: createLocalProvider },
  openai: { schema: openAiOptionsSchema, create: createOpenAiProvider },
  anthropic: { schema: anthropicOptionsSchema, create: createAnthropicProvider },
  gemini: { schema: geminiOptionsSchema, create: createGeminiProvider },
  comfyui: { schema: comfyUiOptionsSchema, create: createComfyUiProvider },
};

export interface GatewayOptions {
  providers: Record<string, { adapter: string; [option: string]: unknown }>;
  /**
   * Provider used for moderation. Default: the local rules and lexicons (no network, no vendor call per message):
   * a `local` provider of the deployment when there is one, else a local moderator of its own. Set it to a vendor
   * (e.g. `openai`) to moderate through that vendor.
   */
  moderation?: string;
  breaker?: BreakerOptions;
}

const ajv = new Ajv2020({ useDefaults: true, allErrors: true, strict: false });

export async function createGateway(options: GatewayOptions, ctx: AdapterContext): Promise<AiProviders> {
  const providers: AiProvider[] = [];
  for (const [name, { adapter, ...rest }] of Object.entries(options.providers)) {
    const factory = FACTORIES[adapter];
    const validate = ajv.compile(factory.schema);
    const sub = { ...rest, name };
    if (!validate(sub)) {
      const why = ajv.errorsText(validate.errors, { dataVar: `adapters.aiProvider.providers.${name}` });
      throw new TypeError(`Invalid options for AI provider "${name}" (${adapter}): ${why}`);
    }
    providers.push(await factory.create(sub, ctx));
  }
  if (options.moderation && !options.providers[options.moderation]) {
    throw new TypeError(`adapters.aiProvider.moderation: "${options.moderation}" is not one of the providers`);
  }
  const local = Object.entries(options.providers).find(([, p]) => p.adapter === 'local')?.[0];
  const moderation = options.moderation ?? local;
  const defaultModerator = moderation ? undefined : createLocalProvider({ name: 'local-moderation' }, ctx);
  return registryOf(providers, { moderation, defaultModerator, breaker: options.breaker, clock: ctx.clock });
}

export default defineAdapter<AiProviders, GatewayOptions>({
  port: 'aiProvider',
  name: 'gateway',
  description: 'Several named AI providers (any of local, openai, anthropic, gemini, comfyui) for routing and fallback.',
  optionsSchema: {
    type: 'object',
    additionalProperties: false,
    required: ['providers'],
    properties: {
      providers: {
        type: 'object', minProperties: 1,
        additionalProperties: {
          type: 'object', required: ['adapter'],
          properties: { adapter: { enum: Object.keys(FACTORIES) } },
        },
      },
      moderation: { type: 'string', minLength: 1 },
      breaker: {
        type: 'object', additionalProperties: false, default: {},
        description: 'Cool a provider down after this many retryable failures in a row.',
        properties: {
          failures: { type: 'integer', minimum: 1, default: 3 },
          cooldownMs: { type: 'integer', minimum: 1, default: 30_000 },
        },
      },
    },
  },
  create: createGateway,
});
