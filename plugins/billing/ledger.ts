import type { EntityManager, MikroORM } from '@mikro-orm/core';
import { AppError, errors, type Clock } from '../../kernel/index.ts';
import type { BalanceDetail, CaptureOptions, Hold, Ledger, LedgerEntry, LedgerEntryDetail, Plan } from './api.ts';
import { MICROS_PER_CENT } from './api.ts';
import type { AccountRow, EntryRow, HoldRow } from './entities.ts';
import { AccountLocks, Refusal, type Account, type Tx } from './accounts.ts';
import { entryFromRow, holdFromRow } from './ledgerSql.ts';
import { balanceCents, costCents, entryView, holdView } from './ledgerViews.ts';
import { monthKey, nextMonthStart } from './periods.ts';
import type { SqlTarget } from './ledgerSql.ts';

export interface LedgerOptions {
  driver: string;
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
const spendable = (a: Account, overdraft: number) => a.freeMicros + a.purchasedMicros + overdraft - a.heldMicros;

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
    private ids: { next(): string },
    private o: LedgerOptions,
  ) {
    this.locks = new AccountLocks(orm, clock, ids, o.driver);
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

  async hold(userId: string, amountMicros: number, o: { idempotencyKey: string; reference?: string;
    ttlSeconds?: number }): Promise<Hold> {
    micros(amountMicros, 'amountMicros', { positive: true });
    const idempotencyKey = key(o.idempotencyKey);
    const ttl = o.ttlSeconds ?? this.o.holdTtlSeconds;
    if (!Number.isFinite(ttl) || ttl <= 0) throw errors.validation([{ field: 'ttlSeconds', message: 'must be > 0' }]);
    const { allowance, refuse } = await this.prompt(userId);
    const rowOf = (id: string, now: Date): HoldRow => ({
      id, userId, amountMicros, status: 'held', expiresAt: new Date(now.getTime() + ttl * 1000),
      reference: o.reference ?? null, idempotencyKey, entryId: null, settledAt: null, createdAt: now,
    });
    return this.locks.run(userId, allowance, async (tx, account) => {
      const replay = async () => {
        const [first] = await tx.sql.all(tx.db, 'select * from billing_holds where user_id = ? and idempotency_key = ?',
          [userId, idempotencyKey]);
        return first ? holdView(holdFromRow(first)) : undefined;
      };
      if (amountMicros > spendable(account, this.o.overdraftMicros)) await tx.sweep(); // expired holds count then
      const available = spendable(account, this.o.overdraftMicros);
      if (amountMicros > available) return (await replay()) ?? new Refusal(refuse(amountMicros, available));
      const hold = rowOf(tx.newId(), tx.now);
      // The unique (user, key) index answers a replay (nothing inserted).
      const inserted = await this.insertHold(tx.db, hold);
      if (!inserted) return (await replay())!;
      account.heldMicros += amountMicros;
      return holdView(hold);
    }, { lazySweep: true, direct: true, first: (db, now) => this.quickHold(db, rowOf(this.ids.next(), now)) });
  }

  private insertHold(db: SqlTarget, hold: HoldRow): Promise<number> {
    return this.locks.sql.insert(db, 'billing_holds', {
      id: hold.id, user_id: hold.userId, amount_micros: hold.amountMicros, status: 'held', expires_at: hold.expiresAt,
      reference: hold.reference, idempotency_key: hold.idempotencyKey, entry_id: null, settled_at: null,
      created_at: hold.createdAt,
    }, ' on conflict (user_id, idempotency_key) do nothing');
  }

  /**
   * The common hold in two statements, no read of the account: the hold row, then the account's held amount raised
   * by one UPDATE guarded by exactly the check the full path makes (this month's account, spendable covers it), which
   * takes the account's row lock (PostgreSQL re-checks the guard on the row it waited for). Anything else (a replay,
   * a balance that looks short, a new month, no account yet) leaves nothing behind and takes the full path.
   */
  private async quickHold(db: SqlTarget, hold: HoldRow): Promise<Hold | undefined> {
    const sql = this.locks.sql;
    if (!(await this.insertHold(db, hold))) return undefined;
    const raised = await sql.run(db, `update billing_accounts set held_micros = held_micros + ?, updated_at = ?
      where user_id = ? and free_period = ? and free_micros + purchased_micros + ? - held_micros >= ?`, [
      hold.amountMicros, sql.ts(hold.createdAt), hold.userId, monthKey(hold.createdAt.getTime()),
      this.o.overdraftMicros, hold.amountMicros]);
    if (raised) return holdView(hold);
    await sql.run(db, 'delete from billing_holds where id = ?', [hold.id]);
    return undefined;
  }

  private async lockedHold(tx: Tx, holdId: string): Promise<HoldRow> {
    const [row] = await tx.sql.all(tx.db, 'select * from billing_holds where id = ?', [holdId]);
    return holdFromRow(row);
  }

  private async settle(tx: Tx, holdId: string, status: string, entryId: string | null): Promise<void> {
    await tx.sql.run(tx.db, 'update billing_holds set status = ?, entry_id = ?, settled_at = ? where id = ?',
      [status, entryId, tx.sql.ts(tx.now), holdId]);
  }

  /**
   * `o.userId` (the hold's user, which the caller knows) saves the lookup before the lock; a wrong one is 404.
   * `o.within` (and `o.sql`) run in the capture's transaction after the charge (not on a replay): what they write
   * commits or rolls back with the charge (the gateway's usage row), and should one throw, nothing is charged.
   */
  async capture(holdId: string, actualMicros: number, o: CaptureOptions = {}): Promise<LedgerEntryDetail> {
    micros(actualMicros, 'actualMicros');
    const userId = o.userId ?? (await this.findHold(holdId)).userId;
    return this.locks.run(userId, await this.allowance(userId), async (tx, account) => {
      const entryId = tx.newId();
      // The common case in one statement: the hold is still held and not past its expiry (the sweep is lazy).
      const [won] = await tx.sql.all(tx.db, `update billing_holds set status = 'captured', entry_id = ?,
        settled_at = ? where id = ? and user_id = ? and status = 'held' and expires_at > ?
        returning amount_micros, reference`, [entryId, tx.sql.ts(tx.now), holdId, userId, tx.sql.ts(tx.now)]);
      if (!won) {
        await tx.sweep();
        return this.capturedOrRefused(tx, holdId, userId);
      }
      const amount = Number(won.amount_micros);
      account.heldMicros -= amount;
      // Unswept expired holds only understate what is spendable: they matter when the cap below could bind.
      if (Math.min(actualMicros, amount) > spendable(account, this.o.overdraftMicros)) await tx.sweep();
      // Capped at the hold, and (should the free credits have been reset below it) at what is left to spend.
      const charge = Math.max(0, Math.min(actualMicros, amount, spendable(account, this.o.overdraftMicros)));
      const fromFree = Math.min(charge, Math.max(0, account.freeMicros));
      account.freeMicros -= fromFree;
      account.purchasedMicros -= charge - fromFree;
      account.lifetimeUsageMicros += charge;
      const entry = entryView(await tx.entry({
        id: entryId, kind: 'charge', amountMicros: -charge, freeMicros: -fromFree,
        reference: won.reference === null || won.reference === undefined ? null : String(won.reference),
        idempotencyKey: `capture:${holdId}`, holdId, uncollectedMicros: actualMicros - charge,
      }));
      await o.sql?.(tx.db, entry);
      await o.within?.(tx.em, entry);
      return entry;
    }, { lazySweep: true, direct: !o.within || this.o.driver === 'sqlite',
      first: o.within ? undefined : (db, now) => this.quickCapture(db, holdId, userId, actualMicros, now, o) });
  }

  /**
   * The common capture without reading the account first (one statement fewer): the hold taken as above, then the
   * account charged by one UPDATE guarded by exactly what lets the full path charge the whole amount without a sweep
   * (this month's account; spendable, once the hold is released, covers it), RETURNING the balance the entry records.
   * The guard also asks that the charge come wholly from the free credits (more of them than the charge) or wholly
   * from the purchased ones (none free): the free part is then known from the sign of what is left. Otherwise (the
   * capture that crosses the free credits' end, a new month, a short balance) the hold is put back as it was and the
   * full path runs.
   */
  private async quickCapture(db: SqlTarget, holdId: string, userId: string, actualMicros: number, now: Date,
    o: CaptureOptions): Promise<LedgerEntryDetail | undefined> {
    const sql = this.locks.sql;
    const entryId = this.ids.next();
    const at = sql.ts(now);
    const [won] = await sql.all(db, `update billing_holds set status = 'captured', entry_id = ?,
      settled_at = ? where id = ? and user_id = ? and status = 'held' and expires_at > ?
      returning amount_micros, reference`, [entryId, at, holdId, userId, at]);
    if (!won) return undefined;
    const amount = Number(won.amount_micros);
    const charge = Math.min(actualMicros, amount);
    const period = monthKey(now.getTime());
    const [after] = await sql.all(db, `update billing_accounts set held_micros = held_micros - ?,
      free_micros = free_micros - case when free_micros > 0 then cast(? as bigint) else 0 end,
      purchased_micros = purchased_micros - case when free_micros > 0 then 0 else cast(? as bigint) end,
      lifetime_usage_micros = lifetime_usage_micros + ?, updated_at = ?
      where user_id = ? and free_period = ? and (free_micros > ? or free_micros <= 0)
        and free_micros + purchased_micros + ? - (held_micros - ?) >= ?
      returning free_micros, purchased_micros`, [amount, charge, charge, charge, at, userId, period, charge,
      this.o.overdraftMicros, amount, charge]);
    if (!after) {
      await sql.run(db, `update billing_holds set status = 'held', entry_id = null, settled_at = null where id = ?`,
        [holdId]);
      return undefined;
    }
    const freeMicros = Number(after.free_micros);
    const entry = entryView(await this.locks.entry(db, { userId, freeMicros,
      purchasedMicros: Number(after.purchased_micros), freePeriod: period }, now, {
      id: entryId, kind: 'charge', amountMicros: -charge, freeMicros: freeMicros > 0 ? -charge : 0,
      reference: won.reference === null || won.reference === undefined ? null : String(won.reference),
      idempotencyKey: `capture:${holdId}`, holdId, uncollectedMicros: actualMicros - charge,
    }));
    await o.sql?.(db, entry);
    return entry;
  }

  /** A capture that found no held hold: the first capture's entry (a replay), else why not (404, 409). */
  private async capturedOrRefused(tx: Tx, holdId: string, userId: string): Promise<LedgerEntryDetail | Refusal> {
    const [row] = await tx.sql.all(tx.db, 'select * from billing_holds where id = ? and user_id = ?', [holdId, userId]);
    if (!row) return new Refusal(errors.notFound(`Hold ${holdId} not found`));
    const hold = holdFromRow(row);
    if (hold.status === 'captured') {
      const [entry] = await tx.sql.all(tx.db, 'select * from billing_entries where id = ?', [hold.entryId]);
      return entryView(entryFromRow(entry));
    }
    return new Refusal(new AppError(409, hold.status === 'expired' ? 'HOLD_EXPIRED' : 'HOLD_NOT_ACTIVE',
      `Hold ${holdId} is ${hold.status}`, { details: { status: hold.status } }));
  }

  async release(holdId: string): Promise<void> {
    const found = await this.findHold(holdId);
    await this.locks.run(found.userId, await this.allowance(found.userId), async (tx, account) => {
      const hold = await this.lockedHold(tx, holdId);
      if (hold.status === 'captured') {
        return new Refusal(
          new AppError(409, 'HOLD_CAPTURED', `Hold ${holdId} was captured; refund the charge instead`),
        );
      }
      if (hold.status !== 'held') return undefined; // released or expired already: nothing moves
      account.heldMicros -= hold.amountMicros;
      await this.settle(tx, hold.id, 'released', null);
      return undefined;
    }, { direct: true });
  }

  private async entryByKey(tx: Tx, userId: string, idempotencyKey: string): Promise<EntryRow | undefined> {
    const [row] = await tx.sql.all(tx.db, 'select * from billing_entries where user_id = ? and idempotency_key = ?',
      [userId, idempotencyKey]);
    return row ? entryFromRow(row) : undefined;
  }

  /** `audit`, when given, is written in the same transaction as a new entry (not on a replay). */
  async grant(userId: string, amountMicros: number, o: { idempotencyKey: string; kind?: GrantKind; reason?: string;
    reference?: string; actorId?: string; audit?: (em: EntityManager, entry: LedgerEntryDetail) => Promise<void> }):
    Promise<LedgerEntryDetail> {
    const kind = o.kind ?? 'grant';
    if (!['grant', 'purchase', 'adjustment'].includes(kind)) {
      throw errors.validation([{ field: 'kind', message: 'must be grant, purchase or adjustment' }]);
    }
    micros(amountMicros, 'amountMicros', kind === 'adjustment' ? { nonZero: true } : { positive: true });
    const idempotencyKey = `ext:${key(o.idempotencyKey)}`; // never one of the ledger's own keys
    const { allowance, refuse } = await this.prompt(userId);
    return this.locks.run(userId, allowance, async (tx, account) => {
      const first = await this.entryByKey(tx, userId, idempotencyKey);
      if (first) return entryView(first);
      if (amountMicros < 0 && -amountMicros > spendable(account, this.o.overdraftMicros)) {
        return new Refusal(refuse(-amountMicros, spendable(account, this.o.overdraftMicros)));
      }
      account.purchasedMicros += amountMicros;
      const entry = entryView(await tx.entry({
        kind, amountMicros, freeMicros: 0, reference: o.reference ?? null, reason: o.reason ?? null, idempotencyKey,
        actorId: o.actorId ?? null,
      }));
      await o.audit?.(tx.em, entry);
      return entry;
    });
  }

  async refund(entryId: string, o: { idempotencyKey: string; amountMicros?: number; reason?: string }):
    Promise<LedgerEntryDetail> {
    const idempotencyKey = `ext:${key(o.idempotencyKey)}`; // never one of the ledger's own keys
    if (o.amountMicros !== undefined) micros(o.amountMicros, 'amountMicros', { positive: true });
    const found = await this.orm.em.fork().findOne<EntryRow>('BillingEntry', { id: entryId });
    if (!found) throw errors.notFound(`Ledger entry ${entryId} not found`);
    return this.locks.run(found.userId, await this.allowance(found.userId), async (tx, account) => {
      const first = await this.entryByKey(tx, found.userId, idempotencyKey);
      if (first) return entryView(first);
      const [row] = await tx.sql.all(tx.db, 'select * from billing_entries where id = ?', [entryId]);
      const charge = entryFromRow(row);
      if (charge.kind !== 'charge') {
        return new Refusal(new AppError(409, 'NOT_REFUNDABLE',
          `Only charges can be refunded; ${entryId} is a ${charge.kind}`));
      }
      const refundable = -charge.amountMicros - charge.refundedMicros;
      const amount = o.amountMicros ?? refundable;
      if (amount <= 0 || amount > refundable) {
        return new Refusal(new AppError(409, 'REFUND_EXCEEDS_CHARGE', 'The refund exceeds what is left of the charge',
          { details: { refundableMicros: refundable } }));
      }
      // The purchased part goes back first; the free part returns to the free credits while its month lasts.
      const purchasedPart = Math.max(0, -charge.amountMicros + charge.freeMicros - charge.refundedMicros);
      const toPurchased = Math.min(amount, purchasedPart);
      const toFree = charge.freePeriod === account.freePeriod ? amount - toPurchased : 0;
      account.freeMicros += toFree;
      account.purchasedMicros += amount - toFree;
      account.lifetimeUsageMicros -= amount;
      await tx.sql.run(tx.db, 'update billing_entries set refunded_micros = refunded_micros + ? where id = ?',
        [amount, charge.id]);
      return entryView(await tx.entry({
        kind: 'refund', amountMicros: amount, freeMicros: toFree, reference: charge.reference ?? null,
        reason: o.reason ?? null, idempotencyKey, refundOf: charge.id, holdId: charge.holdId ?? null,
      }));
    });
  }

  /**
   * A change of plan within the month: an upgrade adds the difference of the free allowances at once
   * (a downgrade takes effect at the period end, when the new allowance applies from the next month).
   */
  async topUpFreeCredits(userId: string, fromPlan: Plan, toPlan: Plan, idempotencyKey: string): Promise<void> {
    const extra = (toPlan.monthlyFreeCreditsCents - fromPlan.monthlyFreeCreditsCents) * MICROS_PER_CENT;
    if (extra <= 0) return;
    await this.locks.run(userId, toPlan.monthlyFreeCreditsCents * MICROS_PER_CENT, async (tx, account, info) => {
      // A reset just now (the first operation of a month) already granted the new plan's full allowance.
      if (info.reset || (await this.entryByKey(tx, userId, idempotencyKey))) return undefined;
      account.freeMicros += extra;
      await tx.entry({
        kind: 'free_credit', amountMicros: extra, freeMicros: extra, reference: `plan:${toPlan.id}`,
        reason: `upgrade from ${fromPlan.id} to ${toPlan.id}`, idempotencyKey,
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

  /** Which user a hold is for, read before the lock (a hold never changes hands). */
  private findHold = async (holdId: string): Promise<{ userId: string }> => {
    const outside = { getConnection: () => this.orm.em.getConnection(), getTransactionContext: () => undefined };
    const [row] = await this.locks.sql.all(outside, 'select user_id from billing_holds where id = ?', [
      holdId,
    ]);
    if (!row) throw errors.notFound(`Hold ${holdId} not found`);
    return { userId: String(row.user_id) };
  };
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
