import { definePlugin, defineHandlers, defineServices, errors, type AiProviders } from '../../kernel/index.ts';
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

const services = defineServices<{ config: AiConfig; requires: BillingExports & MeteringExports }>()
  .singleton('aiConfig', ({ config }) => resolveConfig(config ?? {}))
  .singleton('modelCatalog', ({ aiConfig, orm, clock, aiProvider }) =>
    new Catalog(aiConfig, orm, clock, aiProvider as AiProviders))
  .singleton('aiRouter', ({ aiConfig, modelCatalog, aiProvider }) =>
    new AiRouter(aiConfig, modelCatalog, aiProvider as AiProviders))
  .singleton('aiGateway', ({ aiConfig, modelCatalog, aiRouter, aiProvider, ledger, metering, limits, entitlements,
    orm, clock, ids, logger }) => new Gateway({ aiConfig, modelCatalog, aiRouter, aiProvider: aiProvider as AiProviders,
    ledger, metering, limits, entitlements, orm, clock, ids, logger }));

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
  exports: ['modelCatalog', 'aiRouter', 'aiGateway'],
  // ai.generate.{text,structured,image}: helper F's generation jobs (generate.ts).
  jobs: generationJobs,
  permissions: [
    { name: 'ai:models:manage', description: 'Change AI models and see provider state', roles: ['admin'] },
  ],
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
  }),
});
