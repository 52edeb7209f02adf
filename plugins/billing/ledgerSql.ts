import type { SqlTarget } from './api.ts';
import type { EntryRow, HoldRow } from './entities.ts';

export type { SqlTarget };

/**
 * The ledger's statements, written once for SQLite and PostgreSQL and run through the transaction's
 * connection: on this hot path (every paid operation holds and captures) an ORM find or flush costs several
 * times the statement itself. Datetimes are epoch milliseconds on SQLite and timestamptz on PostgreSQL, as
 * MikroORM stores them, so the entities read these rows unchanged.
 */
export class LedgerSql {
  readonly sqlite: boolean;

  constructor(driver: string) {
    this.sqlite = driver === 'sqlite';
  }

  ts(d: Date): Date | number {
    return this.sqlite ? d.getTime() : d;
  }

  async all(em: SqlTarget, sql: string, params: unknown[]): Promise<Array<Record<string, unknown>>> {
    return em.getConnection().execute(sql, params, 'all', em.getTransactionContext());
  }

  async run(em: SqlTarget, sql: string, params: unknown[]): Promise<number> {
    const res = await em.getConnection().execute(sql, params, 'run', em.getTransactionContext());
    return (res as { affectedRows?: number }).affectedRows ?? 0;
  }

  /** `FOR UPDATE` where the driver has row locks; SQLite's single writer needs none. */
  get forUpdate(): string {
    return this.sqlite ? '' : ' for update';
  }

  /** Inserts one row; `tail` (e.g. an `on conflict` clause) is appended. Returns the rows inserted (0 or 1). */
  async insert(em: SqlTarget, table: string, row: Record<string, unknown>, tail = ''): Promise<number> {
    const cols = Object.keys(row);
    const values = cols.map((c) => (row[c] instanceof Date ? this.ts(row[c] as Date) : row[c]));
    return this.run(em, `insert into ${table} (${cols.join(', ')}) values (${cols.map(() => '?').join(', ')})${tail}`,
      values);
  }
}

const num = (v: unknown) => (v === null || v === undefined ? 0 : Number(v));
const date = (v: unknown) => new Date(typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : (v as string | number));
const str = (v: unknown) => (v === null || v === undefined ? null : String(v));

export function holdFromRow(r: Record<string, unknown>): HoldRow {
  return {
    id: String(r.id),
    userId: String(r.user_id),
    amountMicros: num(r.amount_micros),
    status: String(r.status),
    expiresAt: date(r.expires_at),
    reference: str(r.reference),
    idempotencyKey: String(r.idempotency_key),
    entryId: str(r.entry_id),
    settledAt: r.settled_at === null ? null : date(r.settled_at),
    createdAt: date(r.created_at),
  };
}

export function entryFromRow(r: Record<string, unknown>): EntryRow {
  return {
    id: String(r.id), userId: String(r.user_id), kind: String(r.kind), amountMicros: num(r.amount_micros),
    freeMicros: num(r.free_micros), balanceAfterMicros: num(r.balance_after_micros), freePeriod: String(r.free_period),
    reference: str(r.reference), reason: str(r.reason), idempotencyKey: String(r.idempotency_key),
    holdId: str(r.hold_id), refundOf: str(r.refund_of), refundedMicros: num(r.refunded_micros),
    uncollectedMicros: num(r.uncollected_micros), actorId: str(r.actor_id), createdAt: date(r.created_at),
  };
}

/** An entry as a row of `billing_entries` (column names). */
export function entryColumns(e: EntryRow): Record<string, unknown> {
  return {
    id: e.id, user_id: e.userId, kind: e.kind, amount_micros: e.amountMicros, free_micros: e.freeMicros,
    balance_after_micros: e.balanceAfterMicros, free_period: e.freePeriod, reference: e.reference, reason: e.reason,
    idempotency_key: e.idempotencyKey, hold_id: e.holdId, refund_of: e.refundOf, refunded_micros: e.refundedMicros,
    uncollected_micros: e.uncollectedMicros, actor_id: e.actorId, created_at: e.createdAt,
  };
}
