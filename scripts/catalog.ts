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
import fakePayments from '../adapters/payments/fake.ts';
import stripePayments from '../adapters/payments/stripe.ts';
import memoryPubSub from '../adapters/pubsub/memory.ts';
import redisPubSub from '../adapters/pubsub/redis.ts';
import memoryJobs from '../adapters/jobQueue/memory.ts';
import databaseJobs from '../adapters/jobQueue/database.ts';
import redisJobs from '../adapters/jobQueue/redis.ts';
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
import tools from '../plugins/tools/index.ts';
import toolhub from '../plugins/toolhub/index.ts';
import billing from '../plugins/billing/index.ts';
import metering from '../plugins/metering/index.ts';
import payments from '../plugins/payments/index.ts';
import realtime from '../plugins/realtime/index.ts';
import jobs from '../plugins/jobs/index.ts';
import ai from '../plugins/ai/index.ts';
import aiapi from '../plugins/aiapi/index.ts';

export const catalogs: Catalogs = {
  adapters: {
    cache: { memory: memoryCache, redis: redisCache },
    eventBus: { memory: memoryBus, kafka: kafkaBus },
    mailer: { log: logMailer, smtp: smtpMailer },
    rateLimiter: { memory: memoryLimiter, redis: redisLimiter },
    egress: { undici: undiciEgress },
    payments: { fake: fakePayments, stripe: stripePayments },
    pubsub: { memory: memoryPubSub, redis: redisPubSub },
    jobQueue: { memory: memoryJobs, database: databaseJobs, redis: redisJobs },
    aiProvider: {
      local: localAi, openai: openAi, anthropic: anthropicAi, gemini: geminiAi, comfyui: comfyUiAi, gateway: gatewayAi,
    },
  },
  plugins: { system, identity, oauth, notes, tools, toolhub, billing, metering, payments, realtime, jobs, ai, aiapi },
};
