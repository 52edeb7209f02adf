import type { Entitlements } from './api.ts';
import type { PlanCache } from './plans.ts';

/** `entitlements.check`: the user's plan has the feature, or the public plans that do. */
export class PlanEntitlements implements Entitlements {
  constructor(private readonly plans: PlanCache) {}

  async check(userId: string, feature: string):
    Promise<{ ok: true } | { ok: false; code: 'SUBSCRIPTION_REQUIRED'; plans: string[] }> {
    const { plan } = await this.plans.standing(userId);
    if (plan.features.includes(feature)) return { ok: true };
    const plans = (await this.plans.plans()).filter((p) => p.features.includes(feature)).map((p) => p.id);
    return { ok: false, code: 'SUBSCRIPTION_REQUIRED', plans };
  }
}
