import { definePlugin } from '../../kernel/index.ts';
import { billingConfigSchema } from './config.ts';
import { entities } from './entities.ts';
import { migrations } from './migrations.ts';
import { services } from './services.ts';
import { handlers } from './handlers.ts';
import { planEnricher } from './planCache.ts';

/**
 * Plans (data, seeded from config), subscriptions (one per user, time transitions computed from the clock),
 * and the credit ledger (integer microcents, holds that can never overspend). Exports `ledger` and
 * `subscriptions` (api.ts); sets each user principal's rate-limit tier from their plan (a principal enricher).
 */
export default definePlugin({
  name: 'billing',
  version: '1.0.0',
  description: 'Plans, subscriptions and the credit ledger.',
  requires: ['identity'],
  config: billingConfigSchema,
  entities,
  migrations,
  services,
  exports: ['ledger', 'subscriptions'],
  permissions: [
    { name: 'billing:read', description: 'See your plan, balance and transactions', roles: ['user'] },
    { name: 'billing:write', description: 'Subscribe, change and cancel your plan', roles: ['user'] },
    { name: 'admin:billing', description: 'Manage plans, subscriptions and credits', roles: ['admin'] },
  ],
  events: [{
    name: 'billing.subscription.changed',
    description: 'A subscription was created or changed (plan, status, scheduled change).',
    schema: {
      type: 'object',
      required: ['userId', 'subscriptionId', 'planId', 'status', 'change'],
      properties: {
        userId: { type: 'string' }, subscriptionId: { type: 'string' }, planId: { type: 'string' },
        status: { type: 'string' }, change: { type: 'string' }, previousPlanId: { type: ['string', 'null'] },
      },
    },
  }],
  principalEnrichers: [(c) => planEnricher(c.planCache)],
  handlers,
  async onStart(c) {
    await c.planCatalog.seed(c.config.plans);
    void c.ledger; // made now, so upgrades reach it from the first request
  },
});
