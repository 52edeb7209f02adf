import {
  definePlugin, defineHandlers, defineServices, errors, rawReply, reply, type Principal,
} from '../../kernel/index.ts';
import type { Operations } from './contract.gen.ts';
import { AiCredential } from './entities.ts';
import { migrations } from './migrations.ts';
import { CredentialKeys, Credentials, resealCredentials } from './credentials.ts';
import { DefaultKeyMisses } from './keyMisses.ts';
import type { GatewayExports } from './gatewayShape.ts';
import { complete } from './completions.ts';
import { openAiEndpoint, OpenAiError, renderOpenAiError } from './openaiErrors.ts';
import { embeddingsBody, modelBody, readCompletionRequest, readEmbeddingsRequest } from './openaiWire.ts';

const services = defineServices<{ requires: GatewayExports }>()
  .singleton('defaultKeyMisses', ({ clock }) => new DefaultKeyMisses(clock))
  .singleton('credentialKeys', ({ orm, secrets, clock, defaultKeyMisses }) =>
    new CredentialKeys(orm, secrets, clock, defaultKeyMisses))
  .scoped('credentials', (c) => new Credentials(c));

const caller = (principal: Principal | undefined): Principal => {
  if (!principal?.id) throw errors.unauthorized();
  return principal;
};
const seconds = (ms: number) => Math.floor(ms / 1000);

/**
 * Users' own vendor keys (`/ai/credentials`) and the OpenAI-compatible surface (`/v1/chat/completions`,
 * `/v1/embeddings`, `/v1/models`) over the ai plugin's gateway, which routes, moderates, holds, bounds
 * `max_tokens`, falls back, captures and records usage. Its `/v1` paths are served at the root (`x-root`), so the
 * OpenAI SDK's `baseURL: 'https://host/v1'` works whatever the deployment's `basePath`.
 */
export default definePlugin({
  name: 'aiapi',
  version: '1.0.0',
  description: 'OpenAI-compatible /v1 endpoints and users\' own vendor keys, over the ai plugin\'s gateway.',
  requires: ['ai'],
  entities: [AiCredential],
  migrations,
  services,
  // `x-error-format: openai` on the /v1 operations: the kernel's refusals there (401, 429, 400...) in OpenAI's shape.
  errorFormats: { openai: renderOpenAiError },
  // A path under /v1 that matches nothing (and is no other plugin's) answers 404 in OpenAI's shape too.
  errorFormatPaths: { '/v1': 'openai' },
  permissions: [
    { name: 'ai:credentials:manage', description: 'Store, test and delete your own AI vendor keys', roles: ['user'] },
    { name: 'ai:complete', description: 'Call models through the OpenAI-compatible API', roles: ['user'] },
  ],
  async onStart(c) {
    const resealed = await resealCredentials(c.orm, c.secrets);
    if (resealed) c.logger.info({ count: resealed }, 'AI vendor keys sealed under the active key-encryption key');
    // Chats and generation jobs (the ai plugin's) use the caller's own keys through this resolver.
    c.aiUserKeys.register(c.credentialKeys);
  },
  handlers: defineHandlers<Operations, typeof services>({
    'aiapi.listCredentials': async (_req, { services }) => ({ data: await services.credentials.list() }),
    'aiapi.createCredential': async ({ body }, { services }) => reply(201, await services.credentials.create(body)),
    'aiapi.deleteCredential': async ({ params }, { services }) => {
      await services.credentials.delete(params.id);
      return reply(204);
    },
    'aiapi.testCredential': ({ params }, { services }) => services.credentials.test(params.id),

    'aiapi.chatCompletions': ({ body }, { services, principal, koa, requestId }) =>
      openAiEndpoint(requestId, async () => {
        const r = readCompletionRequest(body);
        const model = await services.modelCatalog.find(r.model);
        // The singleton resolver, not the request-scoped `credentials` (a service built per request for one call).
        const userKey = model ? await services.credentialKeys.resolve(caller(principal).id,
          { provider: model.provider, credentialId: r.credentialId }) : undefined;
        return complete(r, {
          gateway: services.aiGateway, principal: caller(principal), koa,
          id: `chatcmpl-${services.ids.next()}`, created: seconds(services.clock.now()), userKey,
        });
      }),
    'aiapi.embeddings': ({ body }, { services, principal, requestId }) => openAiEndpoint(requestId, async () => {
      const r = readEmbeddingsRequest(body);
      const model = r.model ? await services.modelCatalog.find(r.model) : undefined;
      const userKey = model ? await services.credentials.keyFor(model.provider, r.credentialId) : undefined;
      const out = await services.aiGateway.embed(caller(principal), {
        model: r.model, input: r.input, reference: { kind: 'openai.embedding', id: services.ids.next() }, userKey,
      });
      return rawReply(200, embeddingsBody({ ...out, base64: r.base64 }));
    }),
    'aiapi.listModels': async (_req, { services, principal }) => {
      const catalog = services.modelCatalog;
      const tier = catalog.tierOf(principal);
      const created = seconds(services.kernelInfo.startedAt);
      const data = (await catalog.list())
        .filter((m) => m.status === 'active' && catalog.accessible(m, tier))
        .map((m) => modelBody(m, created));
      return rawReply(200, { object: 'list', data });
    },
    'aiapi.getModel': ({ params }, { services, principal, requestId }) => openAiEndpoint(requestId, async () => {
      const catalog = services.modelCatalog;
      const model = await catalog.find(params.model);
      if (!model || !catalog.accessible(model, catalog.tierOf(principal))) {
        throw new OpenAiError(404, `The model '${params.model}' does not exist or you do not have access to it.`,
          'model', 'model_not_found');
      }
      return rawReply(200, modelBody(model, seconds(services.kernelInfo.startedAt)));
    }),
  }),
});
