import { definePlugin, defineHandlers, defineServices, errors, reply, type Principal } from '../../kernel/index.ts';
import type { MeteringExports } from '../metering/api.ts';
import type { BillingExports } from '../billing/api.ts';
import type { IdentityExports } from '../identity/api.ts';
import type { Operations } from './contract.gen.ts';
import { Tool, ToolInvocation } from './entities.ts';
import { generated as migrations } from './migrations/index.ts';
import { ToolCatalog } from './catalog.ts';
import { ToolInvoker } from './invoke.ts';
import { ToolUsage } from './usage.ts';

const services = defineServices<{ requires: MeteringExports & BillingExports & IdentityExports }>()
  .scoped('catalog', ({ em, db, secrets }) => new ToolCatalog(em, db, secrets))
  .scoped('usage', ({ em, db }) => new ToolUsage(em, db))
  .scoped('invoker', (c) => new ToolInvoker(c));

const userOf = (principal: Principal | undefined): string => {
  if (!principal?.id) throw errors.unauthorized();
  return principal.id;
};
const isAdmin = (principal: Principal | undefined) =>
  !!principal?.permissions.some((p) => p === '*' || p === 'tools:manage');

/**
 * AI tools (seed 001): admins register HTTP endpoints; users on a plan with the tool's feature
 * invoke them through the egress client, within their plan's limits; every invocation is logged.
 */
export default definePlugin({
  name: 'tools',
  version: '1.0.0',
  description: 'AI tools: a registry of HTTP endpoints, invocation through egress, and an invocation log.',
  requires: ['metering', 'billing', 'identity'],
  entities: [Tool, ToolInvocation],
  migrations,
  services,
  permissions: [
    { name: 'tools:read', description: 'List tools and read my invocations', roles: ['user'] },
    { name: 'tools:invoke', description: 'Invoke tools (within my plan)', roles: ['user'] },
    { name: 'tools:manage', description: 'Create, change and delete tools; platform statistics', roles: ['admin'] },
  ],
  handlers: defineHandlers<Operations, typeof services>({
    'tools.list': ({ paging }, { services, principal }) => services.catalog.list(paging!, isAdmin(principal)),
    'tools.get': ({ params }, { services, principal }) => services.catalog.get(params.id, isAdmin(principal)),
    'tools.invoke': ({ params, body }, { services, principal }) =>
      services.invoker.invoke(userOf(principal), params.id, body.input),
    'tools.invocations': ({ query, paging }, { services, principal }) =>
      services.usage.history(userOf(principal), query, paging!),
    'tools.summary': ({ query }, { services, principal }) => services.usage.summary(userOf(principal), query),
    'tools.create': ({ body }, { services }) => services.catalog.create(body),
    'tools.update': ({ params, body }, { services }) => services.catalog.update(params.id, body),
    'tools.delete': async ({ params }, { services }) => {
      await services.catalog.delete(params.id);
      return reply(204);
    },
    'tools.stats': async ({ query }, { services }) => services.usage.stats(query, {
      users: (await services.identityUsers.list?.({ page: 1, limit: 1 }))?.total ?? 0,
      activeSubscriptions: (await services.subscriptions.activeByPlan?.()) ?? [],
    }),
  }),
});
