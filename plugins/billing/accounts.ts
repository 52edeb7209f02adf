import type { EntityManager, MikroORM } from '@mikro-orm/core';
import type { AppError, Clock, IdGenerator } from '../../kernel/index.ts';
import { directTransaction } from '../../kernel/index.ts';
import type { EntryRow } from './entities.ts';
import { entryColumns, LedgerSql, type SqlTarget } from './ledgerSql.ts';
import { monthKey } from './periods.ts';

/** A refusal decided inside a transaction, thrown after it commits (so the sweeps it made stay done). */
export class Refusal {
  constructor(readonly error: AppError) {}
}

/** A user's account row while locked: `work` changes it, the lock writes it back. */
export interface Account {
  userId: string; freeMicros: number; freePeriod: string; purchasedMicros: number; heldMicros: number;
  lifetimeUsageMicros: number;
}

/** What `work` gets besides the account: where its statements run, the statements, the time. */
export interface Tx {
  /** The transaction's connection: every ledger statement runs here. */
  db: SqlTarget;
  /**
   * An EntityManager in the transaction, for callers' hooks (`within`, `audit`); made on first use. In a `direct`
   * run, only plain statements through it (`em.getConnection().execute(sql, params, method,
   * em.getTransactionContext())`) are supported on PostgreSQL; on SQLite its flush runs in the transaction too.
   */
  readonly em: EntityManager;
  sql: LedgerSql;
  now: Date;
  /** Records an entry with the account's balance after it; returns it. */
  entry(e: Partial<EntryRow> & Pick<EntryRow, 'kind' | 'amountMicros' | 'freeMicros' | 'idempotencyKey'>):
    Promise<EntryRow>;
  newId(): string;
  /**
   * Expires this user's holds past their expiry (once per transaction; a no-op after). Done before `work` unless
   * the operation runs with `lazySweep`: then `work` calls it only when an unswept expired hold could change its
   * decision (the balance looks short), which keeps the common hold and capture one statement shorter.
   */
  sweep(): Promise<void>;
}

const RETRYABLE = /SQLITE_BUSY|database is locked|deadlock detected|could not serialize/i;
const FIELDS = ['freeMicros', 'freePeriod', 'purchasedMicros', 'heldMicros', 'lifetimeUsageMicros'] as const;

/**
 * One user's ledger operations take turns: each runs in a transaction that first locks the user's
 * account row (PostgreSQL: `SELECT ... FOR UPDATE`, so other transactions and other processes wait;
 * SQLite: one writer at a time). Inside, it brings the account up to date with the clock (this month's
 * free credits, expired holds) before `work` decides. Busy or deadlocked attempts are retried.
 */
export class AccountLocks {
  readonly sql: LedgerSql;

  constructor(
    private orm: MikroORM,
    private clock: Clock,
    private ids: IdGenerator,
    driver: string,
  ) {
    this.sql = new LedgerSql(driver);
  }

  /**
   * `direct`: the transaction is BEGIN/COMMIT on the connection itself (the kernel's direct transactions on libsql
   * and PostgreSQL), not MikroORM's `em.transactional` (a fork, its transaction context, a flush: about 35 µs per
   * operation here). For the hot path (hold, capture, release), whose statements are all plain SQL; a hook's ORM
   * writes on `tx.em` are flushed before the commit (SQLite only: see `Tx.em`). `first` (direct only) runs in the
   * transaction before the account is read: a value it returns is the result; undefined goes on to `work`.
   */
  async run<T>(
    userId: string,
    allowanceMicros: number,
    work: (tx: Tx, account: Account, info: { reset: boolean }) => Promise<T | Refusal>,
    o: { lazySweep?: boolean; direct?: boolean; first?: (db: SqlTarget, now: Date) => Promise<T | undefined> } = {},
  ): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        const result = o.direct
          ? await this.direct(async (db) => (o.first && (await o.first(db, this.clock.date())))
            ?? this.locked(db, undefined, userId, allowanceMicros, work, o))
          : await this.orm.em.fork().transactional((em) => this.locked(em, em, userId, allowanceMicros, work, o));
        if (result instanceof Refusal) throw result.error;
        return result;
      } catch (e) {
        if (attempt >= 20 || !RETRYABLE.test(String((e as Error)?.message))) throw e;
        await new Promise((r) => setTimeout(r, Math.min(200, 5 * 2 ** Math.min(attempt, 6)) * Math.random()));
      }
    }
  }

  private async direct<T>(work: (db: SqlTarget) => Promise<T>): Promise<T> {
    const connection = this.orm.em.getConnection('write');
    return directTransaction(connection, (ctx) => work({ getConnection: () => connection,
      getTransactionContext: () => ctx }));
  }

  private async locked<T>(db: SqlTarget, em: EntityManager | undefined, userId: string, allowanceMicros: number,
    work: (tx: Tx, account: Account, info: { reset: boolean }) => Promise<T | Refusal>,
    o: { lazySweep?: boolean }): Promise<T | Refusal> {
    const now = this.clock.date();
    const account = await this.lock(db, userId);
    const before = { ...account };
    let swept: Promise<void> | undefined;
    let hookEm = em;
    const orm = this.orm;
    const tx: Tx = {
      db,
      get em() {
        if (!hookEm) {
          hookEm = orm.em.fork();
          hookEm.setTransactionContext(db.getTransactionContext());
        }
        return hookEm;
      },
      sql: this.sql,
      now,
      newId: () => this.ids.next(),
      entry: (e) => this.entry(db, account, now, e),
      sweep: () => (swept ??= this.sweepHolds(tx, account)),
    };
    if (!o.lazySweep) await tx.sweep();
    const reset = await this.resetFreeCredits(tx, account, allowanceMicros);
    const out = await work(tx, account, { reset });
    if (FIELDS.some((f) => account[f] !== before[f])) await this.save(tx, account);
    // A hook's ORM writes in a direct transaction: flushed into it before the commit (em.transactional does that).
    if (hookEm && hookEm !== em) await hookEm.flush();
    return out;
  }

  private async lock(em: SqlTarget, userId: string): Promise<Account> {
    const select = `select free_micros, free_period, purchased_micros, held_micros, lifetime_usage_micros
      from billing_accounts where user_id = ?${this.sql.forUpdate}`;
    let [row] = await this.sql.all(em, select, [userId]);
    if (!row) {
      // A first operation opens the account (the reset below gives this month's free credits); a concurrent
      // opener's row wins.
      const now = this.sql.ts(this.clock.date());
      await this.sql.run(
        em,
        `insert into billing_accounts (id, user_id, free_micros, free_period, purchased_micros,
        held_micros, lifetime_usage_micros, created_at, updated_at) values (?, ?, 0, '0000-00', 0, 0, 0, ?, ?)
        on conflict (user_id) do nothing`,
        [this.ids.next(), userId, now, now],
      );
      [row] = await this.sql.all(em, select, [userId]);
    }
    return {
      userId,
      freeMicros: Number(row.free_micros),
      freePeriod: String(row.free_period),
      purchasedMicros: Number(row.purchased_micros),
      heldMicros: Number(row.held_micros),
      lifetimeUsageMicros: Number(row.lifetime_usage_micros),
    };
  }

  private async save(tx: Tx, a: Account): Promise<void> {
    await tx.sql.run(
      tx.db,
      `update billing_accounts set free_micros = ?, free_period = ?, purchased_micros = ?,
      held_micros = ?, lifetime_usage_micros = ?, updated_at = ? where user_id = ?`,
      [a.freeMicros, a.freePeriod, a.purchasedMicros, a.heldMicros, a.lifetimeUsageMicros, tx.sql.ts(tx.now), a.userId],
    );
  }

  /** Holds past their expiry free their amount (a caller that crashed never settles). */
  private async sweepHolds(tx: Tx, account: Account): Promise<void> {
    if (account.heldMicros <= 0) return;
    const params = [account.userId, tx.sql.ts(tx.now)];
    const where = `user_id = ? and status = 'held' and expires_at <= ?`;
    const expired = await tx.sql.all(tx.db, `select amount_micros from billing_holds where ${where}`, params);
    if (!expired.length) return;
    await tx.sql.run(tx.db, `update billing_holds set status = 'expired', settled_at = ? where ${where}`, [
      tx.sql.ts(tx.now),
      ...params,
    ]);
    for (const h of expired) account.heldMicros -= Number(h.amount_micros);
  }

  /** A new month replaces what is left of the free credits with the plan's allowance (no roll-over). */
  private async resetFreeCredits(tx: Tx, account: Account, allowanceMicros: number): Promise<boolean> {
    const period = monthKey(tx.now.getTime());
    if (account.freePeriod === period) return false;
    const unused = account.freeMicros;
    account.freeMicros = allowanceMicros;
    account.freePeriod = period;
    const change = allowanceMicros - unused;
    await tx.entry({
      kind: 'free_credit',
      amountMicros: change,
      freeMicros: change,
      idempotencyKey: `free:${period}`,
      reason:
        unused > 0
          ? `free credits for ${period}; ${unused} µ¢ unused from before expired`
          : `free credits for ${period}`,
    });
    return true;
  }

  /** Records an entry with `account`'s balance (as it is after the entry) and period. */
  async entry(
    em: SqlTarget,
    account: Pick<Account, 'userId' | 'freeMicros' | 'purchasedMicros' | 'freePeriod'>,
    now: Date,
    e: Partial<EntryRow> & Pick<EntryRow, 'kind' | 'amountMicros' | 'freeMicros' | 'idempotencyKey'>,
  ): Promise<EntryRow> {
    const row: EntryRow = {
      id: e.id ?? this.ids.next(), // the capture names its entry (the hold row points at it): no id made to drop
      userId: account.userId,
      balanceAfterMicros: account.freeMicros + account.purchasedMicros,
      freePeriod: account.freePeriod,
      reference: null,
      reason: null,
      holdId: null,
      refundOf: null,
      refundedMicros: 0,
      uncollectedMicros: 0,
      actorId: null,
      createdAt: now,
      ...e,
    };
    await this.sql.insert(em, 'billing_entries', entryColumns(row));
    return row;
  }
}
