import { errors, type Clock, type Principal, type PrincipalEnricher } from '../../kernel/index.ts';
import type { Plan } from './api.ts';

type Resolve = (userId: string) => Promise<{ plan: Plan; changesAt: number }>;

/**
 * Each user's current plan, as this instance last read it: kept until the earlier of `ttlMs` from the read
 * and the subscription's next change of state (a period end, the end of a grace period), so an expiry
 * applies on the very next request; this instance's own writes drop the entry at once, another
 * instance's are seen within `ttlMs`. Bounded: the oldest entries go first past `max`.
 */
export class PlanCache {
  private entries = new Map<string, { plan: Plan; until: number }>();

  constructor(private resolve: Resolve, private clock: Clock, private ttlMs: number, private max = 50_000) {}

  /** The plan kept for `userId` if it is still current, without a lookup (synchronous: the hot path's hit). */
  peek(userId: string): Plan | undefined {
    const hit = this.entries.get(userId);
    return hit && this.clock.now() < hit.until ? hit.plan : undefined;
  }

  async get(userId: string): Promise<Plan> {
    const now = this.clock.now();
    const hit = this.entries.get(userId);
    if (hit && now < hit.until) return hit.plan;
    const { plan, changesAt } = await this.resolve(userId);
    if (this.entries.size >= this.max) this.entries.delete(this.entries.keys().next().value!);
    this.entries.set(userId, { plan, until: Math.min(now + this.ttlMs, changesAt) });
    return plan;
  }

  forget(userId?: string): void {
    if (userId === undefined) this.entries.clear();
    else this.entries.delete(userId);
  }
}

/** The principal types that act for a user (their `id` is the user's). */
export const actsForUser = (p: Principal) => p.type === 'user' || p.type === 'apiKey';

/**
 * The kernel's principal enricher: a user's rate-limit tier is the one their plan names now, and the
 * principal carries `planId` and `planFeatures` for checks that need no lookup. The tier in an access token
 * (identity's account tier) is replaced, so an expired subscription drops to the default plan's tier
 * on the next request, whatever the token says.
 */
export function planEnricher(cache: PlanCache): PrincipalEnricher {
  // A kept plan applies synchronously: no promise, no microtask on the request's path (the common case).
  return (principal) => {
    if (!actsForUser(principal)) return;
    const kept = cache.peek(principal.id);
    if (kept) return applyPlan(principal, kept);
    return cache.get(principal.id).then((plan) => applyPlan(principal, plan), (e: unknown) => {
      throw errors.unavailable('billing (plan lookup)', 5, e);
    });
  };
}

function applyPlan(principal: Principal, plan: Plan): void {
  if (plan.limits.rateLimitTier) principal.tier = plan.limits.rateLimitTier;
  principal.planId = plan.id;
  principal.planFeatures = plan.features;
}
