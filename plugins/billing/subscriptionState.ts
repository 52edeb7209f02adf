import type { Plan, SubscriptionView } from './api.ts';
import type { SubscriptionDetail } from './api.ts';
import type { SubscriptionRow } from './entities.ts';
import { addInterval, periodHolding } from './periods.ts';

/** The stored facts of a subscription that time changes. */
export interface SubscriptionState {
  planId: string;
  status: SubscriptionView['status'];
  currentPeriodStart: Date;
  currentPeriodEnd: Date;
  cancelAtPeriodEnd: boolean;
  scheduledPlanId: string | null;
  endedAt: Date | null;
  pastDueAt: Date | null;
}

export type PlanOf = (id: string) => Plan | undefined;
export type Renewal = 'auto' | 'payment';

const HOUR = 3_600_000;

export function stateOf(row: SubscriptionRow): SubscriptionState {
  return {
    planId: row.planId, status: row.status as SubscriptionState['status'],
    currentPeriodStart: new Date(row.currentPeriodStart), currentPeriodEnd: new Date(row.currentPeriodEnd),
    cancelAtPeriodEnd: row.cancelAtPeriodEnd, scheduledPlanId: row.scheduledPlanId ?? null,
    endedAt: row.endedAt ? new Date(row.endedAt) : null, pastDueAt: row.pastDueAt ? new Date(row.pastDueAt) : null,
  };
}

/** Whether the subscription still grants its plan. */
export function entitled(s: SubscriptionState): boolean {
  return s.status === 'active' || s.status === 'past_due';
}

const graceMs = (plan: Plan | undefined) => (plan?.gracePeriodHours ?? 0) * HOUR;

/** A paid plan under `payment` renewal lapses at its period end unless payments renew it. */
function renewsItself(plan: Plan | undefined, renewal: Renewal): boolean {
  return renewal === 'auto' || !plan || plan.priceCents === 0;
}

/**
 * The state at `now`, from the state last written: period ends (renewal, a scheduled downgrade,
 * a cancellation taking effect, a lapse into past_due) and the end of a grace period. Pure: the
 * same facts give the same answer on every instance, whether or not a server was up at the moment.
 */
export function advance(stored: SubscriptionState, now: number, planOf: PlanOf, renewal: Renewal): SubscriptionState {
  const s = { ...stored };
  for (let guard = 0; guard < 4; guard++) {
    if (s.status === 'cancelled' || s.status === 'expired') return s;
    if (s.status === 'past_due') {
      const until = (s.pastDueAt ?? s.currentPeriodEnd).getTime() + graceMs(planOf(s.planId));
      if (now >= until) Object.assign(s, { status: 'expired', endedAt: new Date(until) });
      return s;
    }
    const end = s.currentPeriodEnd.getTime();
    if (now < end) return s;
    if (s.cancelAtPeriodEnd) return { ...s, status: 'cancelled', endedAt: s.currentPeriodEnd };
    if (s.scheduledPlanId) {
      // The downgrade starts a fresh period of the new plan at the old period's end.
      const plan = planOf(s.scheduledPlanId);
      const start = s.currentPeriodEnd;
      Object.assign(s, {
        planId: s.scheduledPlanId, scheduledPlanId: null, currentPeriodStart: start,
        currentPeriodEnd: addInterval(start, plan?.interval ?? 'month', 1),
      });
      continue;
    }
    const plan = planOf(s.planId);
    if (renewsItself(plan, renewal)) {
      const period = periodHolding(s.currentPeriodEnd, plan?.interval ?? 'month', now);
      return { ...s, currentPeriodStart: period.start, currentPeriodEnd: period.end };
    }
    Object.assign(s, { status: 'past_due', pastDueAt: s.currentPeriodEnd });
  }
  return s;
}

/** When the plan stops applying if nothing else happens; null while it renews itself. */
export function expiresAt(s: SubscriptionState, planOf: PlanOf, renewal: Renewal): Date | null {
  if (s.status === 'cancelled' || s.status === 'expired') return s.endedAt;
  const plan = planOf(s.planId);
  if (s.status === 'past_due') return new Date((s.pastDueAt ?? s.currentPeriodEnd).getTime() + graceMs(plan));
  if (s.cancelAtPeriodEnd) return s.currentPeriodEnd;
  if (!s.scheduledPlanId && !renewsItself(plan, renewal)) {
    return new Date(s.currentPeriodEnd.getTime() + graceMs(plan));
  }
  return null;
}

/** The next instant at which `advance` would give another answer (for caches). */
export function nextChange(s: SubscriptionState, planOf: PlanOf): number {
  if (s.status === 'cancelled' || s.status === 'expired') return Infinity;
  if (s.status === 'past_due') return (s.pastDueAt ?? s.currentPeriodEnd).getTime() + graceMs(planOf(s.planId));
  return s.currentPeriodEnd.getTime();
}

/** `periodEndExpiry`: a subscription that renews itself shows its period end as `expiresAt` (seed 001). */
export function subscriptionView(
  row: SubscriptionRow, s: SubscriptionState, planOf: PlanOf, renewal: Renewal, periodEndExpiry = false,
): SubscriptionDetail {
  const expiry = expiresAt(s, planOf, renewal) ?? (periodEndExpiry && entitled(s) ? s.currentPeriodEnd : null);
  return {
    id: row.id, userId: row.userId, planId: s.planId, status: s.status,
    currentPeriodStart: s.currentPeriodStart.toISOString(), currentPeriodEnd: s.currentPeriodEnd.toISOString(),
    cancelAtPeriodEnd: s.cancelAtPeriodEnd, expiresAt: expiry ? expiry.toISOString() : null,
    scheduledPlanId: s.scheduledPlanId, source: row.source as SubscriptionDetail['source'],
    externalId: row.externalId ?? null,
  };
}
