import type { EntityManager, MikroORM } from '@mikro-orm/core';
import { AppError, errors, type Clock } from '../../kernel/index.ts';
import type { BalanceDetail, Hold, Ledger, LedgerEntry, LedgerEntryDetail, Plan } from './api.ts';
import { MICROS_PER_CENT } from './api.ts';
import type { AccountRow, EntryRow, HoldRow } from './entities.ts';
import { AccountLocks, Refusal } from './accounts.ts';
import { balanceCents, costCents, entryView, holdView } from './ledgerViews.ts';
import { monthKey, nextMonthStart } from './periods.ts';

export interface LedgerOptions {
  overdraftMicros: number;
  holdTtlSeconds: number;
  /** The user's plan now (cached): its free allowance and the upgrade prompt. */
  planOf(userId: string): Promise<Plan>;
  plans(): Promise<Plan[]>;
}

type GrantKind = 'grant' | 'purchase' | 'adjustment';

function micros(value: number, field: string, o: { positive?: boolean; nonZero?: boolean } = {}): number {
  const bad = !Number.isSafeInteger(value) || (o.positive && value <= 0) || (!o.positive && o.nonZero && value === 0)
    || (!o.positive && !o.nonZero && value < 0);
  if (bad) {
    const rule = o.positive ? 'a positive' : o.nonZero ? 'a non-zero' : 'a non-negative';
    throw errors.validation([{ field, message: `must be ${rule} safe integer (microcents)`, code: 'micros' }]);
  }
  return value;
}

function key(value: string, field = 'idempotencyKey'): string {
  if (typeof value !== 'string' || !value.length || value.length > 190) {
    throw errors.validation([{ field, message: 'must be 1-190 characters', code: 'idempotencyKey' }]);
  }
  return value;
}

/** Spendable now: both buckets, less what open holds reserve, plus the overdraft. */
const spendable = (a: AccountRow, overdraft: number) => a.freeMicros + a.purchasedMicros + overdraft - a.heldMicros;
const ledgerBalance = (a: AccountRow) => a.freeMicros + a.purchasedMicros;

/**
 * The credit ledger (the exported `ledger` service). Money is integer microcents. Free monthly credits are
 * spent first and reset (not rolled over) each UTC month; purchased credits never expire. Every operation
 * locks the user's account row (AccountLocks), so concurrent holds can never reserve more than the balance.
 */
export class LedgerService implements Ledger {
  private locks: AccountLocks;

  constructor(
    private orm: MikroORM,
    private clock: Clock,
    ids: { next(): string },
    private o: LedgerOptions,
  ) {
    this.locks = new AccountLocks(orm, clock, ids);
  }

  private async allowance(userId: string): Promise<number> {
    return (await this.o.planOf(userId)).monthlyFreeCreditsCents * MICROS_PER_CENT;
  }

  /**
   * What a refusal needs, read before the transaction: a query made inside it through another connection
   * would wait for a pool slot that the transactions queued on this user's lock may all hold.
   */
  private async prompt(
    userId: string,
  ): Promise<{ allowance: number; refuse: (need: number, have: number) => AppError }> {
    const [plan, plans] = await Promise.all([this.o.planOf(userId), this.o.plans()]);
    return {
      allowance: plan.monthlyFreeCreditsCents * MICROS_PER_CENT,
      refuse: (need, have) => insufficient(plan, plans, need, have),
    };
  }

  async hold(
    userId: string,
    amountMicros: number,
    o: { idempotencyKey: string; reference?: string; ttlSeconds?: number },
  ): Promise<Hold> {
    micros(amountMicros, 'amountMicros', { positive: true });
    const idempotencyKey = key(o.idempotencyKey);
    const ttl = o.ttlSeconds ?? this.o.holdTtlSeconds;
    if (!Number.isFinite(ttl) || ttl <= 0) throw errors.validation([{ field: 'ttlSeconds', message: 'must be > 0' }]);
    const { allowance, refuse } = await this.prompt(userId);
    return this.locks.run(userId, allowance, async (em, account) => {
      const first = await em.findOne<HoldRow>('BillingHold', { userId, idempotencyKey });
      if (first) return holdView(first);
      const available = spendable(account, this.o.overdraftMicros);
      if (amountMicros > available) return new Refusal(refuse(amountMicros, available));
      account.heldMicros += amountMicros;
      const hold = em.create<HoldRow>('BillingHold', {
        userId,
        amountMicros,
        status: 'held',
        expiresAt: new Date(this.clock.now() + ttl * 1000),
        reference: o.reference ?? null,
        idempotencyKey,
        entryId: null,
        settledAt: null,
        createdAt: this.clock.date(),
      } as HoldRow);
      return holdView(hold);
    });
  }

  async capture(holdId: string, actualMicros: number): Promise<LedgerEntryDetail> {
    micros(actualMicros, 'actualMicros');
    const found = await this.findHold(holdId);
    return this.locks.run(found.userId, await this.allowance(found.userId), async (em, account) => {
      const hold = (await em.findOne<HoldRow>('BillingHold', { id: holdId }))!;
      if (hold.status === 'captured')
        return entryView((await em.findOne<EntryRow>('BillingEntry', { id: hold.entryId! }))!);
      if (hold.status !== 'held') {
        return new Refusal(
          new AppError(
            409,
            hold.status === 'expired' ? 'HOLD_EXPIRED' : 'HOLD_NOT_ACTIVE',
            `Hold ${holdId} is ${hold.status}`,
            { details: { status: hold.status } },
          ),
        );
      }
      account.heldMicros -= hold.amountMicros;
      // Capped at the hold, and (should the free credits have been reset below it) at what is left to spend.
      const charge = Math.max(0, Math.min(actualMicros, hold.amountMicros, spendable(account, this.o.overdraftMicros)));
      const fromFree = Math.min(charge, Math.max(0, account.freeMicros));
      account.freeMicros -= fromFree;
      account.purchasedMicros -= charge - fromFree;
      account.lifetimeUsageMicros += charge;
      const entry = this.record(em, account, {
        kind: 'charge',
        amountMicros: -charge,
        freeMicros: -fromFree,
        reference: hold.reference ?? null,
        idempotencyKey: `capture:${hold.id}`,
        holdId: hold.id,
        uncollectedMicros: actualMicros - charge,
      });
      Object.assign(hold, { status: 'captured', entryId: entry.id, settledAt: this.clock.date() });
      return entryView(entry);
    });
  }

  async release(holdId: string): Promise<void> {
    const found = await this.findHold(holdId);
    await this.locks.run(found.userId, await this.allowance(found.userId), async (em, account) => {
      const hold = (await em.findOne<HoldRow>('BillingHold', { id: holdId }))!;
      if (hold.status === 'captured') {
        return new Refusal(
          new AppError(409, 'HOLD_CAPTURED', `Hold ${holdId} was captured; refund the charge instead`),
        );
      }
      if (hold.status !== 'held') return undefined; // released or expired already: nothing moves
      account.heldMicros -= hold.amountMicros;
      Object.assign(hold, { status: 'released', settledAt: this.clock.date() });
      return undefined;
    });
  }

  /** `audit`, when given, is written in the same transaction as a new entry (not on a replay). */
  async grant(
    userId: string,
    amountMicros: number,
    o: {
      idempotencyKey: string;
      kind?: GrantKind;
      reason?: string;
      reference?: string;
      actorId?: string;
      audit?: (em: EntityManager, entry: LedgerEntryDetail) => Promise<void>;
    },
  ): Promise<LedgerEntryDetail> {
    const kind = o.kind ?? 'grant';
    if (!['grant', 'purchase', 'adjustment'].includes(kind)) {
      throw errors.validation([{ field: 'kind', message: 'must be grant, purchase or adjustment' }]);
    }
    micros(amountMicros, 'amountMicros', kind === 'adjustment' ? { nonZero: true } : { positive: true });
    const idempotencyKey = `ext:${key(o.idempotencyKey)}`; // never one of the ledger's own keys
    const { allowance, refuse } = await this.prompt(userId);
    return this.locks.run(userId, allowance, async (em, account) => {
      const first = await em.findOne<EntryRow>('BillingEntry', { userId, idempotencyKey });
      if (first) return entryView(first);
      if (amountMicros < 0 && -amountMicros > spendable(account, this.o.overdraftMicros)) {
        return new Refusal(refuse(-amountMicros, spendable(account, this.o.overdraftMicros)));
      }
      account.purchasedMicros += amountMicros;
      const entry = entryView(
        this.record(em, account, {
          kind,
          amountMicros,
          freeMicros: 0,
          reference: o.reference ?? null,
          reason: o.reason ?? null,
          idempotencyKey,
          actorId: o.actorId ?? null,
        }),
      );
      await o.audit?.(em, entry);
      return entry;
    });
  }

  async refund(
    entryId: string,
    o: { idempotencyKey: string; amountMicros?: number; reason?: string },
  ): Promise<LedgerEntryDetail> {
    const idempotencyKey = `ext:${key(o.idempotencyKey)}`; // never one of the ledger's own keys
    if (o.amountMicros !== undefined) micros(o.amountMicros, 'amountMicros', { positive: true });
    const found = await this.orm.em.fork().findOne<EntryRow>('BillingEntry', { id: entryId });
    if (!found) throw errors.notFound(`Ledger entry ${entryId} not found`);
    return this.locks.run(found.userId, await this.allowance(found.userId), async (em, account) => {
      const first = await em.findOne<EntryRow>('BillingEntry', { userId: found.userId, idempotencyKey });
      if (first) return entryView(first);
      const charge = (await em.findOne<EntryRow>('BillingEntry', { id: entryId }))!;
      if (charge.kind !== 'charge') {
        return new Refusal(
          new AppError(409, 'NOT_REFUNDABLE', `Only charges can be refunded; ${entryId} is a ${charge.kind}`),
        );
      }
      const refundable = -charge.amountMicros - charge.refundedMicros;
      const amount = o.amountMicros ?? refundable;
      if (amount <= 0 || amount > refundable) {
        return new Refusal(
          new AppError(409, 'REFUND_EXCEEDS_CHARGE', 'The refund exceeds what is left of the charge', {
            details: { refundableMicros: refundable },
          }),
        );
      }
      // The purchased part goes back first; the free part returns to the free credits while its month lasts.
      const purchasedPart = Math.max(0, -charge.amountMicros + charge.freeMicros - charge.refundedMicros);
      const toPurchased = Math.min(amount, purchasedPart);
      const toFree = charge.freePeriod === account.freePeriod ? amount - toPurchased : 0;
      account.freeMicros += toFree;
      account.purchasedMicros += amount - toFree;
      account.lifetimeUsageMicros -= amount;
      charge.refundedMicros += amount;
      return entryView(
        this.record(em, account, {
          kind: 'refund',
          amountMicros: amount,
          freeMicros: toFree,
          reference: charge.reference ?? null,
          reason: o.reason ?? null,
          idempotencyKey,
          refundOf: charge.id,
          holdId: charge.holdId ?? null,
        }),
      );
    });
  }

  /**
   * A change of plan within the month: an upgrade adds the difference of the free allowances at once
   * (a downgrade takes effect at the period end, when the new allowance applies from the next month).
   */
  async topUpFreeCredits(userId: string, fromPlan: Plan, toPlan: Plan, idempotencyKey: string): Promise<void> {
    const extra = (toPlan.monthlyFreeCreditsCents - fromPlan.monthlyFreeCreditsCents) * MICROS_PER_CENT;
    if (extra <= 0) return;
    await this.locks.run(userId, toPlan.monthlyFreeCreditsCents * MICROS_PER_CENT, async (em, account, info) => {
      // A reset just now (the first operation of a month) already granted the new plan's full allowance.
      if (info.reset || (await em.findOne<EntryRow>('BillingEntry', { userId, idempotencyKey }))) return undefined;
      account.freeMicros += extra;
      this.record(em, account, {
        kind: 'free_credit',
        amountMicros: extra,
        freeMicros: extra,
        reference: `plan:${toPlan.id}`,
        reason: `upgrade from ${fromPlan.id} to ${toPlan.id}`,
        idempotencyKey,
      });
      return undefined;
    });
  }

  async balance(userId: string): Promise<BalanceDetail> {
    const em = this.orm.em.fork();
    const now = this.clock.now();
    const account = await em.findOne<AccountRow>('BillingAccount', { userId });
    const allowance = await this.allowance(userId);
    const period = monthKey(now);
    const free = !account || account.freePeriod !== period ? allowance : account.freeMicros;
    const purchased = account?.purchasedMicros ?? 0;
    let held = account?.heldMicros ?? 0;
    if (account && held > 0) {
      // Computed as the next write will make it: holds past their expiry reserve nothing.
      const expired = await em.find<HoldRow>('BillingHold', {
        userId,
        status: 'held',
        expiresAt: { $lte: new Date(now) },
      });
      held -= expired.reduce((sum, h) => sum + h.amountMicros, 0);
    }
    const spendableMicros = free + purchased - held;
    const lifetime = account?.lifetimeUsageMicros ?? 0;
    return {
      balanceCents: balanceCents(spendableMicros),
      balanceMicros: spendableMicros,
      freeCreditsRemaining: balanceCents(Math.max(0, free)),
      freeCreditsRemainingMicros: free,
      freeCreditsResetAt: nextMonthStart(now).toISOString(),
      lifetimeUsageCents: costCents(lifetime),
      lifetimeUsageMicros: lifetime,
      purchasedMicros: purchased,
      heldMicros: held,
      overdraftMicros: this.o.overdraftMicros,
    };
  }

  async entry(userId: string, id: string): Promise<LedgerEntryDetail | null> {
    const row = await this.orm.em.fork().findOne<EntryRow>('BillingEntry', { id, userId });
    return row ? entryView(row) : null;
  }

  private findHold = async (holdId: string): Promise<HoldRow> => {
    const hold = await this.orm.em.fork().findOne<HoldRow>('BillingHold', { id: holdId });
    if (!hold) throw errors.notFound(`Hold ${holdId} not found`);
    return hold;
  };

  private record(
    em: EntityManager,
    account: AccountRow,
    e: Partial<EntryRow> & Pick<EntryRow, 'kind' | 'amountMicros' | 'freeMicros' | 'idempotencyKey'>,
  ): EntryRow {
    return em.create<EntryRow>('BillingEntry', {
      userId: account.userId,
      balanceAfterMicros: ledgerBalance(account),
      freePeriod: account.freePeriod,
      reference: null,
      reason: null,
      holdId: null,
      refundOf: null,
      refundedMicros: 0,
      uncollectedMicros: 0,
      actorId: null,
      createdAt: this.clock.date(),
      ...e,
    } as EntryRow);
  }
}

/** 402 INSUFFICIENT_CREDITS, with the plans that give more monthly credits than the user's. */
function insufficient(current: Plan, all: Plan[], requiredMicros: number, availableMicros: number): AppError {
  const plans = all
    .filter((p) => p.status === 'active' && p.visibility === 'public' && p.id !== current.id
      && p.monthlyFreeCreditsCents > current.monthlyFreeCreditsCents)
    .map((p) => p.id);
  const have = Math.max(0, availableMicros);
  return new AppError(402, 'INSUFFICIENT_CREDITS', 'Your credit balance does not cover this operation', {
    details: {
      requiredMicros, availableMicros: have, balanceCents: balanceCents(have),
      upgrade: {
        message: plans.length
          ? `Buy credits, or upgrade to ${plans.join(' or ')} for more monthly credits`
          : 'Buy credits to continue',
        plans, purchase: '/billing/purchase',
      },
    },
  });
}

export type { LedgerEntry };
