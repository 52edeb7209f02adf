import type { SubscriberDefinition } from '../../kernel/index.ts';
import type { PlanCache } from './plans.ts';

/**
 * Drops cached plans when billing says they changed (names agreed with billing:
 * `billing.subscription.changed {userId}`, `billing.plan.changed {planId}`). Not listed in the
 * plugin's `subscribers` until billing declares both events (the kernel refuses to boot a
 * subscriber to an undeclared event); until then the cache's TTL (`cacheTtlMs`, 5 s) bounds staleness.
 * Each instance keeps its own cache, so each listens in its own group (`instance` in the name).
 */
export function invalidationSubscribers(instance = 'local'): SubscriberDefinition[] {
  return [
    {
      event: 'billing.subscription.changed',
      name: `plan-cache-user-${instance}`,
      async handle(event, ctx) {
        const { userId } = (event.data ?? {}) as { userId?: string };
        (ctx.services.planCache as PlanCache).invalidateUser(userId);
      },
    },
    {
      event: 'billing.plan.changed',
      name: `plan-cache-plans-${instance}`,
      async handle(_event, ctx) {
        (ctx.services.planCache as PlanCache).invalidatePlans();
      },
    },
  ];
}
