import { LockMode, type EntityManager, type MikroORM } from '@mikro-orm/core';
import type { Clock, IdGenerator } from '../../kernel/index.ts';
import { AppError } from '../../kernel/index.ts';
import type { AccountRow, EntryRow, HoldRow } from './entities.ts';
import { monthKey } from './periods.ts';

/** A refusal decided inside a transaction, thrown after it commits (so the sweeps it made stay done). */
export class Refusal {
  constructor(readonly error: AppError) {}
}

const RETRYABLE = /SQLITE_BUSY|database is locked|deadlock detected|could not serialize/i;

/**
 * One user's ledger operations take turns: each runs in a transaction that first locks the user's
 * account row (PostgreSQL: `SELECT ... FOR UPDATE`, so other transactions and other processes wait;
 * SQLite: one writer at a time). Inside, it brings the account up to date with the clock (this month's
 * free credits, expired holds) before `work` decides. Busy or deadlocked attempts are retried.
 */
export class AccountLocks {
  constructor(
    private orm: MikroORM,
    private clock: Clock,
    private ids: IdGenerator,
  ) {}

  async run<T>(
    userId: string,
    allowanceMicros: number,
    work: (em: EntityManager, account: AccountRow, info: { reset: boolean }) => Promise<T | Refusal>,
  ): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        const result = await this.orm.em.fork().transactional(async (em) => {
          const account = await this.lock(em, userId);
          await this.sweepHolds(em, account);
          const reset = this.resetFreeCredits(em, account, allowanceMicros);
          return work(em, account, { reset });
        });
        if (result instanceof Refusal) throw result.error;
        return result;
      } catch (e) {
        if (attempt >= 20 || !RETRYABLE.test(String((e as Error)?.message))) throw e;
        await new Promise((r) => setTimeout(r, Math.min(200, 5 * 2 ** Math.min(attempt, 6)) * Math.random()));
      }
    }
  }

  private async lock(em: EntityManager, userId: string): Promise<AccountRow> {
    const found = await em.findOne<AccountRow>('BillingAccount', { userId }, { lockMode: LockMode.PESSIMISTIC_WRITE });
    if (found) return found;
    // A first operation opens the account (the reset after the lock gives this month's free credits);
    // a concurrent opener's row wins.
    const id = this.ids.next();
    await em.upsert<AccountRow>(
      'BillingAccount',
      {
        id,
        userId,
        freeMicros: 0,
        freePeriod: '0000-00',
        purchasedMicros: 0,
        heldMicros: 0,
        lifetimeUsageMicros: 0,
        createdAt: this.clock.date(),
        updatedAt: this.clock.date(),
      } as AccountRow,
      { onConflictFields: ['userId'], onConflictAction: 'ignore' },
    );
    em.clear();
    const row = await em.findOne<AccountRow>('BillingAccount', { userId }, { lockMode: LockMode.PESSIMISTIC_WRITE });
    if (!row) throw new Error(`billing account of ${userId} could not be opened`);
    return row;
  }

  /** Holds past their expiry free their amount (a caller that crashed never settles). */
  private async sweepHolds(em: EntityManager, account: AccountRow): Promise<void> {
    if (account.heldMicros <= 0) return;
    const now = this.clock.date();
    const expired = await em.find<HoldRow>('BillingHold', {
      userId: account.userId,
      status: 'held',
      expiresAt: { $lte: now },
    });
    for (const hold of expired) {
      hold.status = 'expired';
      hold.settledAt = now;
      account.heldMicros -= hold.amountMicros;
    }
  }

  /** A new month replaces what is left of the free credits with the plan's allowance (no roll-over). */
  private resetFreeCredits(em: EntityManager, account: AccountRow, allowanceMicros: number): boolean {
    const period = monthKey(this.clock.now());
    if (account.freePeriod === period) return false;
    const unused = account.freeMicros;
    account.freeMicros = allowanceMicros;
    account.freePeriod = period;
    const change = allowanceMicros - unused;
    em.create<EntryRow>('BillingEntry', {
      userId: account.userId,
      kind: 'free_credit',
      amountMicros: change,
      freeMicros: change,
      balanceAfterMicros: account.freeMicros + account.purchasedMicros,
      freePeriod: period,
      reference: null,
      reason:
        unused > 0
          ? `free credits for ${period}; ${unused} µ¢ unused from before expired`
          : `free credits for ${period}`,
      idempotencyKey: `free:${period}`,
      holdId: null,
      refundOf: null,
      refundedMicros: 0,
      uncollectedMicros: 0,
      actorId: null,
      createdAt: this.clock.date(),
    } as EntryRow);
    return true;
  }
}
