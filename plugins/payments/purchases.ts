import type { EntityManager } from '@mikro-orm/core';
import { AppError, errors, type Publish } from '../../kernel/index.ts';
import type { PaymentGateway } from '../../kernel/ports/payments.ts';
import { MICROS_PER_CENT, type Ledger } from '../billing/api.ts';
import type { PaymentsConfig, PurchaseCompleted, PurchaseView } from './api.ts';
import type { PaymentPurchaseRow } from './entities.ts';
import { isUniqueViolation } from './uniqueViolation.ts';

export interface PurchaseDeps {
  em: EntityManager;
  payments: PaymentGateway;
  ledger: Ledger;
  config: PaymentsConfig;
  publish: Publish;
}

/** Credit purchases for one request: made once per (user, Idempotency-Key), granted once per purchase. */
export class Purchases {
  constructor(private d: PurchaseDeps) {}

  async purchase(userId: string, amountCents: number, idempotencyKey: string): Promise<PurchaseView> {
    const { minPurchaseCents: min, maxPurchaseCents: max } = this.d.config;
    if (amountCents < min || amountCents > max) {
      throw errors.validation([{
        field: 'body.amountCents', code: 'range', message: `must be between ${min} and ${max} cents`, min, max,
      }]);
    }
    const row = await this.claim(userId, amountCents, idempotencyKey);
    if (row.status === 'completed' || row.checkoutUrl) return view(row);
    // A pending row without a checkout (a first try that failed at the provider) asks again, with the same key.
    const result = await this.d.payments.createCheckout({
      amountCents, userId, idempotencyKey, reference: row.id,
      successUrl: this.d.config.successUrl, cancelUrl: this.d.config.cancelUrl,
    });
    row.externalId = result.externalId;
    row.currency = result.currency;
    if (result.status === 'completed') return this.complete(row, result.amountCents);
    row.checkoutUrl = result.checkoutUrl;
    row.expiresAt = result.expiresAt ? new Date(result.expiresAt) : null;
    await this.d.em.flush();
    return view(row);
  }

  /**
   * Grants the credits (idempotent by purchase id) and marks the purchase completed with its event,
   * flushed together (or by the caller's flush, with `flush: false`).
   */
  async complete(row: PaymentPurchaseRow, paidCents: number, o: { flush?: boolean } = {}): Promise<PurchaseView> {
    if (row.status === 'completed') return view(row);
    const entry = await this.d.ledger.grant(row.userId, paidCents * MICROS_PER_CENT, {
      idempotencyKey: `payments:purchase:${row.id}`, kind: 'purchase', reference: row.id,
      reason: `Credit purchase (${row.provider})`,
    });
    Object.assign(row, {
      status: 'completed', ledgerEntryId: entry.id, completedAt: new Date(), amountCents: paidCents,
    });
    const data: PurchaseCompleted = {
      purchaseId: row.id, userId: row.userId, amountCents: paidCents, ledgerEntryId: entry.id, provider: row.provider,
    };
    await this.d.publish('payments.purchase.completed', data, { key: row.userId });
    if (o.flush !== false) await this.d.em.flush();
    return view(row);
  }

  /** The purchase for this key: the existing one (same amount), or a new pending row. */
  private async claim(userId: string, amountCents: number, idempotencyKey: string): Promise<PaymentPurchaseRow> {
    const existing = await this.find(userId, idempotencyKey);
    if (existing) return this.same(existing, amountCents);
    const row = this.d.em.create<PaymentPurchaseRow>('PaymentPurchase', {
      userId, idempotencyKey, amountCents, provider: this.d.payments.provider, status: 'pending',
    } as PaymentPurchaseRow);
    try {
      await this.d.em.flush();
      return row;
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
      // A concurrent request with the same key made it first.
      this.d.em.clear();
      const winner = await this.find(userId, idempotencyKey);
      if (!winner) throw err;
      return this.same(winner, amountCents);
    }
  }

  private find(userId: string, idempotencyKey: string) {
    return this.d.em.findOne<PaymentPurchaseRow>('PaymentPurchase', { userId, idempotencyKey });
  }

  private same(row: PaymentPurchaseRow, amountCents: number): PaymentPurchaseRow {
    if (row.amountCents !== amountCents) {
      throw new AppError(422, 'IDEMPOTENCY_KEY_REUSED', 'This Idempotency-Key was used with a different request', {
        details: { header: 'Idempotency-Key' },
      });
    }
    return row;
  }
}

const iso = (d: Date | string | null | undefined) => (d ? new Date(d).toISOString() : null);

export function view(r: PaymentPurchaseRow): PurchaseView {
  return {
    id: r.id, status: r.status as PurchaseView['status'], amountCents: r.amountCents, currency: r.currency ?? null,
    provider: r.provider, checkoutUrl: r.status === 'completed' ? null : r.checkoutUrl ?? null,
    expiresAt: iso(r.expiresAt), ledgerEntryId: r.ledgerEntryId ?? null, createdAt: iso(r.createdAt)!,
    completedAt: iso(r.completedAt),
  };
}
