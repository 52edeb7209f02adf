/**
 * The composition root's catalogs: every adapter and plugin the kernel can load, by name.
 * Only scripts/ and tests know these lists; kernel/ imports no adapter and no plugin.
 */
import type { Catalogs } from '../kernel/config/validate.ts';
import memoryCache from '../adapters/cache/memory.ts';
import redisCache from '../adapters/cache/redis.ts';
import memoryBus from '../adapters/eventBus/memory.ts';
import kafkaBus from '../adapters/eventBus/kafka.ts';
import logMailer from '../adapters/mailer/log.ts';
import smtpMailer from '../adapters/mailer/smtp.ts';
import memoryLimiter from '../adapters/rateLimiter/memory.ts';
import redisLimiter from '../adapters/rateLimiter/redis.ts';
import undiciEgress from '../adapters/egress/undici.ts';
import localAi from '../adapters/aiProvider/local.ts';
import openAi from '../adapters/aiProvider/openai.ts';
import anthropicAi from '../adapters/aiProvider/anthropic.ts';
import geminiAi from '../adapters/aiProvider/gemini.ts';
import comfyUiAi from '../adapters/aiProvider/comfyui.ts';
import gatewayAi from '../adapters/aiProvider/gateway.ts';
import system from '../plugins/system/index.ts';
import identity from '../plugins/identity/index.ts';
import oauth from '../plugins/oauth/index.ts';
import notes from '../plugins/notes/index.ts';
import ai from '../plugins/ai/index.ts';

export const catalogs: Catalogs = {
  adapters: {
    cache: { memory: memoryCache, redis: redisCache },
    eventBus: { memory: memoryBus, kafka: kafkaBus },
    mailer: { log: logMailer, smtp: smtpMailer },
    rateLimiter: { memory: memoryLimiter, redis: redisLimiter },
    egress: { undici: undiciEgress },
    aiProvider: {
      local: localAi, openai: openAi, anthropic: anthropicAi, gemini: geminiAi, comfyui: comfyUiAi, gateway: gatewayAi,
    },
  },
  plugins: { system, identity, oauth, notes, ai },
};
