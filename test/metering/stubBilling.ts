/**
 * A stand-in for the billing plugin (helper C builds the real one): an in-memory
 * `subscriptions` service with 003's tiers, and a counter of calls so tests can see caching.
 */
import { definePlugin } from '../../kernel/index.ts';
import type { Plan, SubscriptionView, Subscriptions } from '../../plugins/billing/api.ts';

const plan = (id: string, priceCents: number, features: string[], limits: Plan['limits'], grace = 0): Plan => ({
  id, name: id, description: `${id} plan`, priceCents, interval: 'month', features, limits,
  monthlyFreeCreditsCents: 0, gracePeriodHours: grace, visibility: 'public', status: 'active',
});

export function defaultPlans(): Plan[] {
  return [
    plan('free', 0, ['chat'], { tokensPerDay: 10_000, costCentsPerMonth: 100 }),
    plan('premium', 1000, ['chat', 'tools', 'premium-models'], { tokensPerDay: 100_000, costCentsPerMonth: 5000 }, 24),
    plan('enterprise', 10000, ['chat', 'tools', 'premium-models', 'sso'], { tokensPerDay: 10_000_000 }),
  ];
}

export class MemorySubscriptions implements Subscriptions {
  calls = 0;
  planList = defaultPlans();
  readonly subs = new Map<string, SubscriptionView>();

  async current(userId: string) {
    this.calls++;
    const subscription = this.subs.get(userId) ?? null;
    const active = subscription && subscription.status !== 'expired' ? subscription : null;
    const p = this.planList.find((x) => x.id === (active?.planId ?? 'free'))!;
    return { subscription: active, plan: p };
  }

  async activate(userId: string, planId: string, o: { periodEnd?: Date }) {
    const now = Date.now();
    const view: SubscriptionView = {
      id: `sub-${userId}`, userId, planId, status: 'active', currentPeriodStart: new Date(now - 1000).toISOString(),
      currentPeriodEnd: (o.periodEnd ?? new Date(now + 30 * 86_400_000)).toISOString(), cancelAtPeriodEnd: false,
      expiresAt: null,
    };
    this.subs.set(userId, view);
    return view;
  }

  async markPastDue() {}
  async plans() { return this.planList; }
  async plan(id: string) { return this.planList.find((p) => p.id === id) ?? null; }
}

export function stubBilling(subscriptions = new MemorySubscriptions()) {
  return definePlugin({
    name: 'billing',
    version: '0.0.0-test',
    contract: false,
    services: { subscriptions: { factory: () => subscriptions } },
    exports: ['subscriptions'],
    events: [
      { name: 'billing.subscription.changed', schema: { type: 'object', properties: { userId: { type: 'string' } } } },
      { name: 'billing.plan.changed', schema: { type: 'object', properties: { planId: { type: 'string' } } } },
    ],
  });
}
