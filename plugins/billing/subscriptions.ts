import { LockMode, type EntityManager, type MikroORM } from '@mikro-orm/core';
import { AppError, errors, type Clock, type Publish } from '../../kernel/index.ts';
import type { ActivateOptions, Plan, SubscriptionDetail, Subscriptions } from './api.ts';
import type { SubscriptionRow } from './entities.ts';
import type { PlanCatalog } from './plans.ts';
import { addInterval } from './periods.ts';
import {
  advance, entitled, nextChange, stateOf, subscriptionView, type PlanOf, type Renewal, type SubscriptionState,
} from './subscriptionState.ts';
import type { BillingAuditLog } from './audit.ts';

export type Source = 'payment' | 'admin' | 'user';
/** What a change did, as `billing.subscription.changed` names it. */
export type Change = 'subscribed' | 'upgraded' | 'downgrade_scheduled' | 'unchanged' | 'cancel_scheduled' | 'resumed'
  | 'activated' | 'past_due' | 'changed_by_admin' | 'ended';

/** The provider's event names another subscription than the user's current one (an upgrade replaced it). */
const replaced = (row: SubscriptionRow | null, externalId: string | undefined) =>
  !!externalId && !!row?.externalId && row.externalId !== externalId;

export interface PlanChangeHook {
  /** Called after an upgrade commits (the ledger tops up this month's free credits). */
  upgraded(userId: string, from: Plan, to: Plan, key: string): Promise<void>;
}

/** A monthly price, to tell an upgrade (now) from a downgrade (at the period end). */
export const monthly = (p: Plan) => (p.interval === 'year' ? p.priceCents / 12 : p.priceCents);

/**
 * Subscriptions (the exported `subscriptions` service): one row per user. Reads compute the state at
 * the clock's now (subscriptionState.ts); every write first stores that state, under a row lock, so a
 * period end that passed while no server ran is applied exactly once, by whichever write comes first.
 */
export class SubscriptionService implements Subscriptions {
  private readonly listeners: Array<(userId: string) => void> = [];

  constructor(
    private orm: MikroORM, private clock: Clock, private catalog: PlanCatalog, private renewal: Renewal,
    private publishIn: (em: EntityManager) => Publish, private hook: PlanChangeHook,
    private periodEndExpiry = false,
  ) {}

  /** Called with the user id after any change (tier caches drop their copy). */
  onChange(listener: (userId: string) => void): void {
    this.listeners.push(listener);
  }

  async planOf(): Promise<PlanOf> {
    const plans = await this.catalog.all();
    return (id) => plans.find((p) => p.id === id);
  }

  async current(userId: string): Promise<{ subscription: SubscriptionDetail | null; plan: Plan; changesAt: number }> {
    const row = await this.orm.em.fork().findOne<SubscriptionRow>('BillingSubscription', { userId });
    return this.resolve(row);
  }

  /** The state of `row` now, the plan it grants (the default plan when none), and when that next changes. */
  async resolve(row: SubscriptionRow | null): Promise<{ subscription: SubscriptionDetail | null; plan: Plan;
    changesAt: number }> {
    if (!row) return { subscription: null, plan: await this.catalog.fallback(), changesAt: Infinity };
    const planOf = await this.planOf();
    const state = advance(stateOf(row), this.clock.now(), planOf, this.renewalOf(row));
    const plan = (entitled(state) && planOf(state.planId)) || (await this.catalog.fallback());
    return {
      subscription: subscriptionView(row, state, planOf, this.renewalOf(row), this.periodEndExpiry),
      plan,
      changesAt: nextChange(state, planOf),
    };
  }

  /** A subscription paid through a provider renews only when the provider says it was paid. */
  private renewalOf(row: SubscriptionRow): Renewal {
    return row.externalId && row.source !== 'admin' ? 'payment' : this.renewal;
  }

  async plans(): Promise<Plan[]> {
    return this.catalog.all();
  }

  async plan(id: string): Promise<Plan | null> {
    return this.catalog.get(id);
  }

  /**
   * `POST /subscription`: subscribe (no active subscription), upgrade (a higher monthly price: now, with a
   * fresh period), or downgrade (a lower one: scheduled for the period end). The same plan clears a
   * scheduled change or cancellation.
   */
  async choose(userId: string, planId: string): Promise<{ subscription: SubscriptionDetail; change: Change }> {
    const plan = await this.catalog.get(planId);
    if (!plan || plan.visibility === 'hidden') throw errors.notFound(`Plan ${planId} not found`);
    if (plan.status === 'retired') throw new AppError(409, 'PLAN_RETIRED', `Plan ${planId} takes no new subscribers`);
    let upgradedFrom: Plan | undefined;
    const fallback = await this.catalog.fallback();
    const result = await this.mutate(userId, 'user', async (s, planOf) => {
      if (!s || !entitled(s)) {
        upgradedFrom = fallback;
        return { state: this.fresh(plan), change: 'subscribed' as Change };
      }
      if (s.planId === planId) {
        return { state: { ...s, scheduledPlanId: null, cancelAtPeriodEnd: false }, change: 'unchanged' as Change };
      }
      const from = planOf(s.planId);
      if (!from || monthly(plan) >= monthly(from)) {
        upgradedFrom = from;
        return { state: this.fresh(plan), change: 'upgraded' as Change };
      }
      return {
        state: { ...s, scheduledPlanId: planId, cancelAtPeriodEnd: false },
        change: 'downgrade_scheduled' as Change,
      };
    });
    if (upgradedFrom)
      await this.hook.upgraded(userId, upgradedFrom, plan, `upgrade:${result.subscription.id}:${result.version}`);
    return result;
  }

  async cancel(userId: string): Promise<SubscriptionDetail> {
    return (await this.mutate(userId, 'user', async (s) => {
      if (!s || !entitled(s))
        throw new AppError(409, 'NO_ACTIVE_SUBSCRIPTION', 'There is no active subscription to cancel');
      return { state: { ...s, cancelAtPeriodEnd: true, scheduledPlanId: null }, change: 'cancel_scheduled' as Change };
    })).subscription;
  }

  async resume(userId: string): Promise<SubscriptionDetail> {
    return (await this.mutate(userId, 'user', async (s) => {
      if (!s || !entitled(s) || !s.cancelAtPeriodEnd) {
        throw new AppError(409, 'NOT_CANCELLED', 'Only an active subscription marked for cancellation can be resumed');
      }
      return { state: { ...s, cancelAtPeriodEnd: false }, change: 'resumed' as Change };
    })).subscription;
  }

  /** Payments (a paid checkout or renewal) and admins: the plan applies now, until `periodEnd`. */
  async activate(userId: string, planId: string, o: ActivateOptions): Promise<SubscriptionDetail> {
    const plan = await this.catalog.get(planId);
    if (!plan) throw errors.notFound(`Plan ${planId} not found`);
    const fallback = await this.catalog.fallback();
    let upgradedFrom: Plan | undefined;
    const result = await this.mutate(userId, o.source, async (s, planOf) => {
      const now = this.clock.date();
      const renewing = s && entitled(s) && s.planId === planId;
      const start = o.periodStart ?? (renewing ? s.currentPeriodStart : now);
      const end =
        o.periodEnd ??
        (renewing ? addInterval(s.currentPeriodEnd, plan.interval, 1) : addInterval(now, plan.interval, 1));
      if (end.getTime() <= now.getTime()) throw errors.badRequest('periodEnd must be in the future');
      const from = (s && entitled(s) ? planOf(s.planId) : undefined) ?? fallback;
      if (from.id !== plan.id && from.monthlyFreeCreditsCents < plan.monthlyFreeCreditsCents) upgradedFrom = from;
      // A renewal keeps a downgrade scheduled for the period end (the provider was told to stop at it).
      const scheduledPlanId = renewing && o.source === 'payment' ? s.scheduledPlanId : null;
      const state: SubscriptionState = {
        planId, status: 'active', currentPeriodStart: start, currentPeriodEnd: end,
        cancelAtPeriodEnd: scheduledPlanId ? false : o.cancelAtPeriodEnd ?? false,
        scheduledPlanId, endedAt: null, pastDueAt: null,
      };
      return {
        state,
        change: (o.source === 'admin' ? 'changed_by_admin' : 'activated') as Change,
        externalId: o.externalId,
      };
    });
    if (upgradedFrom)
      await this.hook.upgraded(userId, upgradedFrom, plan, `upgrade:${result.subscription.id}:${result.version}`);
    return result.subscription;
  }

  async markPastDue(userId: string, externalId?: string): Promise<void> {
    await this.mutate(userId, 'payment', async (s, _planOf, row) => {
      if (!s || !entitled(s) || s.status === 'past_due' || replaced(row, externalId)) {
        return { state: s, change: 'unchanged' as Change };
      }
      return {
        state: { ...s, status: 'past_due', pastDueAt: this.clock.date() },
        change: 'past_due' as Change,
        externalId,
      };
    });
  }

  /** One query for the rows stored as granting; each is advanced to now (a lapsed one no longer counts). */
  async activeByPlan(): Promise<Array<{ planId: string; count: number }>> {
    const planOf = await this.planOf();
    const rows = await this.orm.em.fork().find<SubscriptionRow>('BillingSubscription', {
      status: { $in: ['active', 'past_due'] },
    });
    const counts = new Map<string, number>();
    for (const row of rows) {
      const state = advance(stateOf(row), this.clock.now(), planOf, this.renewalOf(row));
      if (entitled(state)) counts.set(state.planId, (counts.get(state.planId) ?? 0) + 1);
    }
    return [...counts].map(([planId, count]) => ({ planId, count })).sort((a, b) => a.planId.localeCompare(b.planId));
  }

  async end(userId: string, o: { externalId: string }): Promise<void> {
    const row = await this.orm.em.fork().findOne<SubscriptionRow>('BillingSubscription', { userId });
    // Only the subscription the provider backs: a local one, or one an upgrade replaced, stays.
    if (row?.externalId !== o.externalId) return;
    await this.mutate(userId, 'payment', async (s, planOf, locked) => {
      // A downgrade to a free plan took effect: the provider no longer bills what the user holds.
      const free = s && (planOf(s.planId)?.priceCents ?? 0) === 0;
      if (!s || !entitled(s) || free || locked?.externalId !== o.externalId) {
        return { state: s, change: 'unchanged' as Change };
      }
      const now = this.clock.date();
      return {
        state: { ...s, status: 'cancelled', cancelAtPeriodEnd: false, scheduledPlanId: null, endedAt: now },
        change: 'ended' as Change,
      };
    });
  }

  private fresh(plan: Plan): SubscriptionState {
    const now = this.clock.date();
    return {
      planId: plan.id, status: 'active', currentPeriodStart: now, currentPeriodEnd: addInterval(now, plan.interval, 1),
      cancelAtPeriodEnd: false, scheduledPlanId: null, endedAt: null, pastDueAt: null,
    };
  }

  /**
   * Locks (or creates) the user's row, stores its state as of now, applies `decide`, and publishes
   * `billing.subscription.changed` in the same transaction.
   */
  private async mutate(
    userId: string, source: Source,
    decide: (s: SubscriptionState | null, planOf: PlanOf, row: SubscriptionRow | null) => Promise<{
      state: SubscriptionState | null; change: Change; externalId?: string }>,
    audit?: { log: BillingAuditLog; actorId: string; reason?: string },
  ): Promise<{ subscription: SubscriptionDetail; change: Change; version: number }> {
    const planOf = await this.planOf();
    const out = await this.orm.em.fork().transactional(async (em) => {
      let row = await em.findOne<SubscriptionRow>(
        'BillingSubscription',
        { userId },
        { lockMode: LockMode.PESSIMISTIC_WRITE },
      );
      const stored = row ? advance(stateOf(row), this.clock.now(), planOf, this.renewalOf(row)) : null;
      const before = row ? { planId: stored!.planId, status: stored!.status } : null;
      const { state, change, externalId } = await decide(stored, planOf, row);
      if (!state) throw new AppError(409, 'NO_ACTIVE_SUBSCRIPTION', 'There is no subscription');
      if (!row) {
        row = em.create<SubscriptionRow>('BillingSubscription', {
          userId, ...state, source, externalId: externalId ?? null, version: 0,
        } as unknown as SubscriptionRow);
      } else {
        em.assign(row, { ...state, source: change === 'unchanged' ? row.source : source, version: row.version + 1,
          ...(externalId ? { externalId } : {}) });
      }
      const view = subscriptionView(row, state, planOf, this.renewalOf(row), this.periodEndExpiry);
      if (change !== 'unchanged' || !before || before.status !== state.status) {
        await this.publishIn(em)('billing.subscription.changed', {
          userId, subscriptionId: row.id, planId: state.planId, status: state.status, change,
          previousPlanId: before?.planId ?? null,
        }, { key: userId });
      }
      if (audit) await audit.log.record(em, {
        actorId: audit.actorId,
        action: 'billing.subscription.changed',
        targetUserId: userId,
        details: { from: before, to: { planId: state.planId, status: state.status }, reason: audit.reason ?? null },
      });
      return { subscription: view, change, version: row.version };
    }).catch(async (e) => {
      if (/unique|duplicate/i.test(String((e as Error).message))) return undefined; // a concurrent first write: retry
      throw e;
    });
    for (const l of this.listeners) l(userId);
    return out ?? this.mutate(userId, source, decide, audit);
  }

  /** Admin: the plan applies now (a fresh period), whatever its price; audited. */
  async changeByAdmin(userId: string, planId: string, actorId: string, log: BillingAuditLog, reason?: string):
    Promise<SubscriptionDetail> {
    const plan = await this.catalog.get(planId);
    if (!plan) throw errors.notFound(`Plan ${planId} not found`);
    const fallback = await this.catalog.fallback();
    let upgradedFrom: Plan | undefined;
    const result = await this.mutate(userId, 'admin', async (s, planOf) => {
      const from = (s && entitled(s) ? planOf(s.planId) : undefined) ?? fallback;
      if (from.monthlyFreeCreditsCents < plan.monthlyFreeCreditsCents) upgradedFrom = from;
      return { state: this.fresh(plan), change: 'changed_by_admin' as Change };
    }, { log, actorId, reason });
    if (upgradedFrom)
      await this.hook.upgraded(userId, upgradedFrom, plan, `upgrade:${result.subscription.id}:${result.version}`);
    return result.subscription;
  }
}
