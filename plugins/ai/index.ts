import {
  definePlugin, defineHandlers, defineServices, errors, reply, type AiProviders,
} from '../../kernel/index.ts';
import type { Operations } from './contract.gen.ts';
import { CONFIG_SCHEMA, resolveConfig, type AiConfig } from './config.ts';
import { AiChat, AiChatMessage, AiModelOverride, AiModerationItem, AiUserSettings } from './entities.ts';
import { migrations } from './migrations.ts';
import { Catalog } from './catalog.ts';
import { AiRouter } from './router.ts';
import { Gateway } from './gateway.ts';
import { generationJobs } from './generate.ts';
import type { BillingExports } from '../billing/api.ts';
import type { MeteringExports } from '../metering/api.ts';
import { Contexts } from './contexts.ts';
import { ChatStore, userOf } from './chats.ts';
import { ChatTurns } from './chatTurn.ts';
import { ReviewQueue } from './review.ts';
import { Preferences } from './preferences.ts';
import { UserSettingsCache } from './settingsCache.ts';
import { AnswerStreams } from './sse.ts';
import { UserKeys } from './userKeys.ts';

const services = defineServices<{ config: AiConfig; requires: BillingExports & MeteringExports }>()
  .singleton('aiConfig', ({ config }) => resolveConfig(config ?? {}))
  .singleton('modelCatalog', ({ aiConfig, orm, clock, aiProvider }) =>
    new Catalog(aiConfig, orm, clock, aiProvider as AiProviders))
  .singleton('aiRouter', ({ aiConfig, modelCatalog, aiProvider }) =>
    new AiRouter(aiConfig, modelCatalog, aiProvider as AiProviders))
  .singleton('aiSettings', ({ orm, clock }) => new UserSettingsCache(orm, clock))
  .singleton('aiGateway', ({ aiConfig, modelCatalog, aiRouter, aiProvider, ledger, metering, limits, entitlements,
    orm, clock, ids, logger, aiSettings }) => new Gateway({ aiConfig, modelCatalog, aiRouter,
    aiProvider: aiProvider as AiProviders, ledger, metering, limits, entitlements, orm, clock, ids, logger,
    aiSettings }))
  .singleton('aiContexts', () => new Contexts())
  .singleton('aiUserKeys', () => new UserKeys())
  .singleton('answerStreams', ({ clock }) => new AnswerStreams(clock))
  .scoped('chats', ({ em, clock, aiContexts }) => new ChatStore(em, clock, aiContexts))
  .scoped('turns', ({ em, orm, ids, clock, aiGateway, aiContexts, chats, log, answerStreams, aiUserKeys,
    modelCatalog, aiRouter, aiSettings }) => new ChatTurns({ em, orm, ids, clock, aiGateway, aiContexts, chats, log,
    answerStreams, keys: { aiUserKeys, modelCatalog, aiRouter,
      preference: async (userId) => (await aiSettings.get(userId))?.preferredModel ?? undefined } }))
  .scoped('review', ({ em, clock }) => new ReviewQueue(em, clock))
  .scoped('preferences', ({ em, aiConfig, modelCatalog, aiSettings }) =>
    new Preferences(em, aiConfig.moderation.floor, modelCatalog, aiSettings));

type ChatOp = 'create' | 'list' | 'get' | 'update' | 'delete' | 'messages' | 'send' | 'stream';
type Typed<P extends 'chats' | 'sessions'> =
  ReturnType<typeof defineHandlers<Pick<Operations, `ai.${P}.${ChatOp}`>, typeof services>>;

/** The chat operations under `/chats`. */
const chatOps: Typed<'chats'> = defineHandlers<Pick<Operations, `ai.chats.${ChatOp}`>, typeof services>({
  'ai.chats.create': async ({ body }, { services, principal }) =>
    reply(201, await services.chats.create(principal, body)),
  'ai.chats.list': ({ query, paging }, { services, principal }) =>
    services.chats.list(principal, paging!, query.status ?? 'active'),
  'ai.chats.get': ({ params }, { services, principal }) => services.chats.get(principal, params.chatId),
  'ai.chats.update': ({ params, body }, { services, principal }) =>
    services.chats.update(principal, params.chatId, body),
  'ai.chats.delete': async ({ params }, { services, principal }) => {
    await services.chats.remove(principal, params.chatId);
    return reply(204);
  },
  'ai.chats.messages': ({ params, paging }, { services, principal }) =>
    services.chats.messages(principal, params.chatId, paging!),
  'ai.chats.send': ({ params, body }, { services, principal, koa }) =>
    services.turns.send(principal, params.chatId, body, koa),
  'ai.chats.stream': ({ params, body }, { services, principal, koa }) =>
    services.turns.stream(principal, params.chatId, body, koa),
});

/** Seed 003's older `/ai/sessions` paths: the same handlers (the operations are declared alike). */
const sessionOps = Object.fromEntries(Object.entries(chatOps)
  .map(([op, handler]) => [op.replace('ai.chats.', 'ai.sessions.'), handler])) as unknown as Typed<'sessions'>;

/**
 * The AI gateway's catalog and router: models from config (seed 003's table by default) with admins' runtime
 * changes, prices with the deployment's markup, access by tier, and the router's precedence and fallbacks over
 * the `aiProvider` port. Chats, billing and the OpenAI-compatible surface build on `modelCatalog` and `aiRouter`.
 */
export default definePlugin({
  name: 'ai',
  version: '0.1.0',
  description: 'AI model catalog (tier access, markup) and router (precedence, fallbacks, cooled-down vendors).',
  config: CONFIG_SCHEMA,
  entities: [AiModelOverride, AiModerationItem, AiChat, AiChatMessage, AiUserSettings],
  migrations,
  services,
  requires: ['billing', 'metering'],
  exports: ['modelCatalog', 'aiRouter', 'aiGateway', 'aiContexts', 'aiUserKeys'],
  // ai.generate.{text,structured,image}: helper F's generation jobs (generate.ts).
  jobs: generationJobs,
  permissions: [
    { name: 'ai:models:manage', description: 'Change AI models and see provider state', roles: ['admin'] },
    { name: 'ai:chat', description: 'Chat with AI models (billed to my credits)', roles: ['user'] },
    { name: 'ai:moderation:review', description: 'Review flagged AI inputs and outputs', roles: ['admin'] },
  ],
  onStart(c) { c.answerStreams.start(); },
  onStop(c) { c.answerStreams.stop(); },
  handlers: defineHandlers<Operations, typeof services>({
    'ai.listModels': async ({ query }, { services, principal }) => {
      const tier = services.modelCatalog.tierOf(principal);
      const models = (await services.modelCatalog.list()).filter((m) => !query.type || m.type === query.type);
      return { data: models.map((m) => services.modelCatalog.view(m, tier)) };
    },
    'ai.getModel': async ({ params }, { services, principal }) => {
      const model = await services.modelCatalog.find(params.modelId);
      if (!model) throw errors.notFound(`No model "${params.modelId}"`);
      return services.modelCatalog.view(model, services.modelCatalog.tierOf(principal));
    },
    'ai.route': async ({ body }, { services, principal }) => {
      const plan = await services.aiRouter.route({ ...body, tier: services.modelCatalog.tierOf(principal) });
      return {
        model: plan.model.id,
        reason: plan.reason,
        task: plan.task,
        candidates: plan.candidates.map((m) => m.id),
      };
    },
    'ai.changeModel': async ({ params, body }, { services, principal }) => {
      const model = await services.modelCatalog.change(params.modelId, body, principal?.id);
      return services.modelCatalog.view(model, services.modelCatalog.tierOf(principal));
    },
    'ai.providers': async (_req, { services }) => {
      const ai = services.aiProvider as AiProviders;
      const circuits = new Map(ai.circuits().map((c) => [c.name, c]));
      return { data: ai.names().map((name) => {
        const p = ai.get(name);
        return { ...circuits.get(name)!, name, adapter: p.adapter, capabilities: [...p.capabilities] };
      }) };
    },
    'ai.estimate': async ({ body }, { services, principal }) => {
      const messages = body.messages ?? (body.content !== undefined ? [{ role: 'user' as const,
        content: body.content }] : []);
      const input = body.inputTokens ?? body.input_tokens;
      const output = body.estimatedOutputTokens ?? body.estimated_output_tokens;
      if (input === undefined && !messages.length) {
        throw errors.validation([{ field: 'body', message: 'give inputTokens, or content or messages to count' }]);
      }
      const gw = services.aiGateway;
      const e = input !== undefined
        ? await gw.pricedRoute(principal, { model: body.model, context: body.context }, input, output)
        : await gw.estimate(principal!, { model: body.model, context: body.context, messages, maxTokens: output });
      return { model: e.model, inputTokens: e.inputTokens, outputTokens: e.maxOutputTokens,
        estimatedCostCents: e.estimatedCents, estimatedCostMicros: e.estimatedMicros,
        inputCostPer1M: e.inputCostPer1M, outputCostPer1M: e.outputCostPer1M,
        estimated_cost_cents: Math.ceil(e.estimatedMicros / 1_000_000), input_cost_per_1m: e.inputCostPer1M,
        output_cost_per_1m: e.outputCostPer1M };
    },
    'ai.getPreferences': (_req, { services, principal }) => services.preferences.get(userOf(principal)),
    'ai.setPreferences': ({ body }, { services, principal }) => services.preferences.set(userOf(principal), body),
    'ai.moderationQueue': ({ query, paging }, { services }) => services.review.list(paging!, query.status ?? 'pending'),
    'ai.approveItem': ({ params, body }, { services, principal }) =>
      services.review.decide(params.itemId, 'approved', userOf(principal), body?.note),
    'ai.rejectItem': ({ params, body }, { services, principal }) =>
      services.review.decide(params.itemId, 'rejected', userOf(principal), body?.note),
    ...chatOps,
    ...sessionOps,
    'ai.chats.feedback': ({ params, body }, { services, principal }) =>
      services.chats.feedback(principal, params.chatId, params.messageId, body),
  }),
});
