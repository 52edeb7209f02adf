import type { EntityManager } from '@mikro-orm/core';
import type { Logger } from 'pino';
import type { Publish } from '../../kernel/index.ts';
import type {
  PaymentEvent, PaymentGateway, PaymentSucceededEvent, SubscriptionEvent, WebhookInput,
} from '../../kernel/ports/payments.ts';
import type { Subscriptions } from '../billing/api.ts';
import type { SubscriptionChanged } from './api.ts';
import type { PaymentEventReceiptRow, PaymentPurchaseRow, PaymentSubscriptionRow } from './entities.ts';
import type { Purchases } from './purchases.ts';
import { isUniqueViolation } from './uniqueViolation.ts';

export type Outcome = 'applied' | 'duplicate' | 'stale' | 'ignored' | 'unmatched';

export interface WebhookDeps {
  em: EntityManager;
  payments: PaymentGateway;
  subscriptions: Subscriptions;
  purchases: Purchases;
  publish: Publish;
  log: Logger;
  now: () => Date;
}

const STATUS: Record<SubscriptionEvent['type'], SubscriptionChanged['status']> = {
  'subscription.activated': 'active', 'subscription.renewed': 'active',
  'subscription.past_due': 'past_due', 'subscription.cancelled': 'cancelled',
};

/**
 * Applies one verified provider event, once. The receipt row (unique per provider and event id) is
 * written in the flush that applies the event; the ledger grant is keyed by the purchase, so a
 * crash between the two, or two deliveries racing, still grants once.
 */
export class Webhooks {
  constructor(private d: WebhookDeps) {}

  async receive(input: WebhookInput): Promise<{ received: true; eventId: string; outcome: Outcome }> {
    const event = await this.d.payments.parseWebhook(input);
    const provider = this.d.payments.provider;
    const seen = await this.d.em.findOne<PaymentEventReceiptRow>('PaymentEventReceipt', {
      provider, eventId: event.id,
    });
    if (seen) return { received: true, eventId: event.id, outcome: 'duplicate' };

    const outcome = await this.apply(event);
    this.d.em.create<PaymentEventReceiptRow>('PaymentEventReceipt', {
      provider, eventId: event.id, type: event.type === 'other' ? event.providerType : event.type, outcome,
      providerCreatedAt: new Date(event.createdAt), receivedAt: this.d.now(),
    } as PaymentEventReceiptRow);
    try {
      await this.d.em.flush();
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
      // A concurrent delivery of the same event committed first: drop ours, events included.
      this.d.em.clear();
      return { received: true, eventId: event.id, outcome: 'duplicate' };
    }
    this.d.log.info({ eventId: event.id, type: event.type, outcome }, 'payment webhook processed');
    return { received: true, eventId: event.id, outcome };
  }

  private apply(event: PaymentEvent): Promise<Outcome> {
    if (event.type === 'payment.succeeded') return this.paid(event);
    if (event.type === 'other') return Promise.resolve('ignored');
    return this.subscription(event);
  }

  private async paid(event: PaymentSucceededEvent): Promise<Outcome> {
    const { reference, externalId, amountCents } = event.payment;
    const em = this.d.em;
    const row = (reference ? await em.findOne<PaymentPurchaseRow>('PaymentPurchase', { id: reference }) : null) ??
      await em.findOne<PaymentPurchaseRow>('PaymentPurchase', { externalId });
    if (!row || (event.payment.userId && event.payment.userId !== row.userId)) {
      this.d.log.warn({ eventId: event.id, externalId }, 'payment names no purchase of ours: not granted');
      return 'unmatched';
    }
    if (row.status === 'completed') return 'duplicate';
    if (amountCents !== row.amountCents) {
      // What was paid is what is granted; a difference means the checkout was changed at the provider.
      this.d.log.warn({ purchaseId: row.id, asked: row.amountCents, paid: amountCents }, 'paid amount differs');
    }
    row.externalId ??= externalId;
    await this.d.purchases.complete(row, amountCents, { flush: false });
    return 'applied';
  }

  private async subscription(event: SubscriptionEvent): Promise<Outcome> {
    const s = event.subscription;
    const provider = this.d.payments.provider;
    const createdAt = new Date(event.createdAt);
    const state = await this.d.em.findOne<PaymentSubscriptionRow>('PaymentSubscription', {
      provider, externalId: s.externalId,
    });
    // Providers do not deliver in order: an event older than the state it would change is dropped.
    if (state && createdAt.getTime() < new Date(state.lastEventAt).getTime()) return 'stale';
    const userId = s.userId ?? state?.userId;
    const planId = s.planId ?? state?.planId ?? null;
    if (!userId) {
      this.d.log.warn({ eventId: event.id, externalId: s.externalId }, 'subscription event names no user');
      return 'unmatched';
    }
    const periodEnd = s.currentPeriodEnd ? new Date(s.currentPeriodEnd) : undefined;
    const periodStart = s.currentPeriodStart ? new Date(s.currentPeriodStart) : undefined;
    const status = STATUS[event.type];
    if (status === 'active') {
      if (!planId) return 'unmatched';
      // `periodEnd` in the past (a late renewal of an ended period) is not an activation.
      if (periodEnd && periodEnd.getTime() <= this.d.now().getTime()) return 'stale';
      await this.d.subscriptions.activate(userId, planId, {
        periodEnd, periodStart, externalId: s.externalId, source: 'payment', cancelAtPeriodEnd: s.cancelAtPeriodEnd,
      });
      await this.replaceOthers(userId, s.externalId);
    } else if (status === 'past_due') {
      await this.d.subscriptions.markPastDue(userId, s.externalId);
    } else if (this.d.subscriptions.end) {
      await this.d.subscriptions.end(userId, { externalId: s.externalId });
    }
    const fields = {
      userId, planId, status, currentPeriodEnd: periodEnd ?? state?.currentPeriodEnd ?? null,
      cancelAtPeriodEnd: s.cancelAtPeriodEnd, lastEventId: event.id, lastEventAt: createdAt,
    };
    if (state) Object.assign(state, fields);
    else {
      this.d.em.create<PaymentSubscriptionRow>('PaymentSubscription', {
        provider, externalId: s.externalId, ...fields,
      } as PaymentSubscriptionRow);
    }
    const changed: SubscriptionChanged = {
      userId, planId, externalId: s.externalId, provider, status,
      currentPeriodEnd: fields.currentPeriodEnd ? new Date(fields.currentPeriodEnd).toISOString() : null,
      cancelAtPeriodEnd: s.cancelAtPeriodEnd, eventType: event.type,
    };
    await this.d.publish('payments.subscription.changed', changed, { key: userId });
    return 'applied';
  }

  /**
   * A new provider subscription (an upgrade paid at a new checkout) replaces the user's others: they
   * are cancelled at the provider now, so the user is not billed twice; their own end events then
   * change nothing here (billing ends only the subscription it holds).
   */
  private async replaceOthers(userId: string, externalId: string): Promise<void> {
    const others = await this.d.em.find<PaymentSubscriptionRow>('PaymentSubscription', {
      provider: this.d.payments.provider, userId, externalId: { $ne: externalId },
      status: { $in: ['active', 'past_due'] },
    });
    for (const old of others) {
      await this.d.payments.cancelSubscription(old.externalId, { immediately: true });
      old.status = 'cancelled';
      this.d.log.info({ userId, replaced: old.externalId, by: externalId }, 'provider subscription replaced');
    }
  }
}
