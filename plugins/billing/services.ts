import { defineServices } from '../../kernel/index.ts';
import type { IdentityExports } from '../identity/api.ts';
import type { BillingConfig } from './config.ts';
import { MICROS_PER_CENT, type Plan } from './api.ts';
import { PlanCatalog } from './plans.ts';
import { BillingAuditLog } from './audit.ts';
import { SubscriptionService, type PlanChangeHook } from './subscriptions.ts';
import { PlanCache } from './planCache.ts';
import { LedgerService } from './ledger.ts';
import { BillingReads } from './reads.ts';
import { PaymentGate } from './paymentGate.ts';

/** The ledger is made after subscriptions (it reads plans through them); upgrades reach it through this. */
class LateHook implements PlanChangeHook {
  target?: PlanChangeHook;
  upgraded(userId: string, from: Plan, to: Plan, key: string) {
    return this.target ? this.target.upgraded(userId, from, to, key) : Promise.resolve();
  }
}

export const services = defineServices<{ config: BillingConfig; requires: IdentityExports }>()
  .singleton('planCatalog', ({ orm, clock, config }) =>
    new PlanCatalog(orm, clock, config.planCacheSeconds * 1000, config.defaultPlan))
  .singleton('billingAudit', ({ logger }) => new BillingAuditLog(logger))
  .singleton('planHook', () => new LateHook())
  .singleton('subscriptions', ({ orm, clock, planCatalog, config, publishIn, planHook }) =>
    new SubscriptionService(orm, clock, planCatalog, config.renewal, publishIn, planHook,
      config.expiresAt === 'periodEnd'))
  .singleton('planCache', ({ subscriptions, clock, config }) => {
    const cache = new PlanCache((userId) => subscriptions.current(userId), clock, config.planCacheSeconds * 1000);
    subscriptions.onChange((userId) => cache.forget(userId));
    return cache;
  })
  .singleton('ledger', ({ orm, clock, ids, config, planCache, planCatalog, planHook }) => {
    const ledger = new LedgerService(orm, clock, ids, {
      driver: /sqlite|libsql/i.test(orm.em.getPlatform().constructor.name) ? 'sqlite' : 'postgresql',
      overdraftMicros: config.overdraftCents * MICROS_PER_CENT,
      holdTtlSeconds: config.holdTtlSeconds,
      planOf: (userId) => planCache.get(userId),
      plans: () => planCatalog.all(),
    });
    planHook.target = { upgraded: (u, from, to, key) => ledger.topUpFreeCredits(u, from, to, key) };
    return ledger;
  })
  .singleton('paymentGate', ({ payments, subscriptions, planCatalog, clock, config }) =>
    new PaymentGate(payments, subscriptions, planCatalog, clock, config.checkout))
  .scoped('billingReads', ({ em, clock }) => new BillingReads(em, () => clock.now()));

export type BillingServices = typeof services;
