import { AppError, type Clock } from '../../kernel/index.ts';
import type { PaymentGateway } from '../../kernel/ports/payments.ts';
import type { PlanCatalog } from './plans.ts';
import { monthly, type SubscriptionService } from './subscriptions.ts';

export interface PendingSubscriptionView { status: 'pending'; planId: string; checkoutUrl: string }

/**
 * A paid plan a user starts, or upgrades to now, goes through the payment gateway first. The
 * `fake` gateway (the embedded default) completes at once and the change is made; `stripe` answers
 * a Checkout URL, and the plan starts when its webhook arrives (plugins/payments calls
 * `subscriptions.activate`). Free plans, the current plan and downgrades (at the period end) need no payment.
 */
export class PaymentGate {
  constructor(
    private payments: PaymentGateway, private subscriptions: SubscriptionService, private catalog: PlanCatalog,
    private clock: Clock, private urls: { successUrl: string; cancelUrl: string },
  ) {}

  async pending(userId: string, planId: string): Promise<PendingSubscriptionView | null> {
    const plan = await this.catalog.get(planId);
    if (!plan || plan.priceCents === 0 || plan.status !== 'active' || plan.visibility === 'hidden') return null;
    const { subscription, plan: current } = await this.subscriptions.current(userId);
    if (subscription && current.id === planId) return null;
    if (subscription && monthly(plan) < monthly(current)) return null;
    // One checkout per user, plan and day: a retried click gets the same one.
    const idempotencyKey = `subscribe:${userId}:${planId}:${this.clock.date().toISOString().slice(0, 10)}`;
    const result = await this.payments.createSubscription({ userId, planId, idempotencyKey, ...this.urls });
    return result.status === 'pending' ? { status: 'pending', planId, checkoutUrl: result.checkoutUrl } : null;
  }

  /**
   * `POST /subscription {planId}` on a subscription the provider bills. A downgrade to a free plan stops the
   * provider's renewal at the period end (the free plan then starts here); to a cheaper paid plan it is a
   * 409 (the provider's subscription is for the current plan: cancel, then subscribe to the other at the
   * period end). Choosing the current plan again, after a downgrade or a cancellation, resumes the renewal.
   */
  async beforeChoose(userId: string, planId: string): Promise<void> {
    const target = await this.catalog.get(planId);
    const { subscription: s, plan: current } = await this.subscriptions.current(userId);
    if (!target || !s?.externalId || s.source === 'admin' || !['active', 'past_due'].includes(s.status)) return;
    if (target.id === current.id) {
      if (s.scheduledPlanId || s.cancelAtPeriodEnd) await this.payments.resumeSubscription?.(s.externalId);
      return;
    }
    if (monthly(target) >= monthly(current)) return; // an upgrade: a new checkout (pending)
    if (target.priceCents > 0) {
      throw new AppError(409, 'DOWNGRADE_NEEDS_CHECKOUT', `Your ${current.id} plan is billed by ${
        this.payments.provider}: cancel it, then subscribe to ${target.id} when it ends`, {
        details: { planId: target.id, currentPlanId: current.id, currentPeriodEnd: s.currentPeriodEnd },
      });
    }
    if (!s.cancelAtPeriodEnd) await this.payments.cancelSubscription(s.externalId);
  }

  /**
   * `POST /subscription/cancel|resume` of a subscription the provider bills: told to the provider first
   * (at the period end, or undone), so a refusal there (503) changes nothing here.
   */
  async tellProvider(userId: string, action: 'cancel' | 'resume'): Promise<void> {
    const { subscription: s } = await this.subscriptions.current(userId);
    if (!s?.externalId || s.source === 'admin' || !['active', 'past_due'].includes(s.status)) return;
    if (action === 'cancel' && !s.cancelAtPeriodEnd) await this.payments.cancelSubscription(s.externalId);
    if (action === 'resume' && s.cancelAtPeriodEnd) await this.payments.resumeSubscription?.(s.externalId);
  }
}
