import type { Clock } from '../../kernel/index.ts';
import type { Plan, SubscriptionView, Subscriptions } from '../billing/api.ts';

export interface Standing { subscription: SubscriptionView | null; plan: Plan }
interface Entry { value: Standing; expiresAt: number }

const MAX_ENTRIES = 50_000;

/**
 * Billing's answers, cached for limit and entitlement checks on every request: each user's
 * plan for `ttlMs` (never past the subscription's period end or expiry, so a lapsed plan is
 * seen on the next request), and the plan list for `ttlMs`. `invalidate` drops them at once
 * on billing's change events.
 */
export class PlanCache {
  private readonly users = new Map<string, Entry>();
  private readonly loading = new Map<string, Promise<Standing>>();
  /** Bumped by every invalidation: an answer fetched before it is served once, never cached. */
  private generation = 0;
  private catalog: { plans: Plan[]; expiresAt: number } | undefined;

  constructor(private readonly subscriptions: Subscriptions, private readonly clock: Clock,
    private readonly ttlMs: number) {}

  async standing(userId: string): Promise<Standing> {
    const now = this.clock.now();
    const hit = this.users.get(userId);
    if (hit && hit.expiresAt > now) return hit.value;
    const pending = this.loading.get(userId);
    if (pending) return pending;
    const generation = this.generation;
    const load = this.subscriptions.current(userId).then((value) => {
      if (generation !== this.generation) return value;
      if (this.users.size >= MAX_ENTRIES) this.users.clear();
      this.users.set(userId, { value, expiresAt: Math.min(now + this.ttlMs, lapsesAt(value.subscription)) });
      return value;
    }).finally(() => this.loading.delete(userId));
    this.loading.set(userId, load);
    return load;
  }

  /** Public, active plans, cheapest first. */
  async plans(): Promise<Plan[]> {
    const now = this.clock.now();
    if (this.catalog && this.catalog.expiresAt > now) return this.catalog.plans;
    const plans = (await this.subscriptions.plans())
      .filter((p) => p.status === 'active' && p.visibility === 'public')
      .sort((a, b) => a.priceCents - b.priceCents);
    this.catalog = { plans, expiresAt: now + this.ttlMs };
    return plans;
  }

  invalidateUser(userId?: string): void {
    if (userId === undefined) this.users.clear();
    else this.users.delete(userId);
    this.generation++;
    this.loading.clear();
  }

  invalidatePlans(): void {
    this.catalog = undefined;
    this.invalidateUser();
  }
}

function lapsesAt(s: SubscriptionView | null): number {
  if (!s) return Infinity;
  const times = [s.currentPeriodEnd, s.expiresAt].filter((t): t is string => !!t).map((t) => Date.parse(t));
  return Math.min(Infinity, ...times.filter((t) => Number.isFinite(t)));
}
