import { defineHandlers, definePlugin, errors } from '../../kernel/index.ts';
import { meteringConfigSchema } from './config.ts';
import type { Operations } from './contract.gen.ts';
import { entities } from './entities.ts';
import { migrations } from './migrations.ts';
import { contactRemovalSubscriber, contactSubscriber, limitMailSubscriber } from './notices.ts';
import type { RequestMeter } from './requestMeter.ts';
import { requestStats } from './requestStats.ts';
import { services } from './services.ts';
import { invalidationSubscribers } from './invalidation.ts';

/** Each process drops its own plan cache, so each listens in a group of its own. */
const PROCESS_GROUP = `${process.pid}-${Math.random().toString(36).slice(2, 8)}`;

const caller = (principal: { id: string } | undefined): string => {
  if (!principal) throw errors.unauthorized();
  return principal.id;
};

/**
 * Usage metering, request metering, and the limits and entitlements that follow from a user's
 * plan. Requires billing (plans and subscriptions through its exported `subscriptions`).
 * Exports `metering`, `limits` and `entitlements` (see api.ts).
 */
export default definePlugin({
  name: 'metering',
  version: '1.0.0',
  description: 'Usage events, rollups and retention, request metering, plan limits and entitlements.',
  requires: ['billing'],
  config: meteringConfigSchema,
  entities,
  migrations,
  services,
  exports: ['metering', 'limits', 'entitlements'],
  permissions: [
    { name: 'usage:read', description: 'Read your own usage', roles: ['user'] },
    { name: 'admin:usage:read', description: 'Read platform-wide usage', roles: ['admin'] },
  ],
  events: [{
    name: 'metering.limit.reached',
    description: 'A user reached 100% of a plan limit; once per user, limit and period.',
    schema: {
      type: 'object', required: ['userId', 'limit', 'period', 'resetAt', 'max'],
      properties: {
        userId: { type: 'string' }, limit: { type: 'string' }, period: { type: 'string' },
        resetAt: { type: 'string' }, max: { type: 'number' },
      },
    },
  }],
  subscribers: [
    limitMailSubscriber, contactSubscriber, contactRemovalSubscriber,
    // billing declares billing.subscription.changed (plan changes reach caches through their TTL).
    ...invalidationSubscribers(PROCESS_GROUP).filter((s) => s.event === 'billing.subscription.changed'),
  ],
  observers: [{
    name: 'requests',
    create: (cradle) => (cradle.requestMeter as RequestMeter).observe,
  }],
  onStart({ meteringSchedule }) {
    meteringSchedule.start();
  },
  async onStop({ meteringSchedule }) {
    await meteringSchedule.stop();
  },
  handlers: defineHandlers<Operations, typeof services>({
    'metering.usage': ({ query, paging }, { em, principal, services }) =>
      services.usageReports.list(em, caller(principal), query, paging!),
    'metering.summary': ({ query }, { em, principal, services }) =>
      services.usageReports.summary(em, caller(principal), query),
    'metering.adminUsage': ({ query }, { em, services }) =>
      services.usageReports.platform(em, query, query.top ?? 10),
    'metering.requests': ({ query }, { em, principal, services }) =>
      requestStats(em, services.requestMeter, caller(principal), query),
  }),
});
