import { TurnBatch, type Pending as PendingOf } from './turnBatch.ts';

/**
 * Group commit for the insert path on libsql. SQLite's cost of a small write is mostly its
 * commit: every page the transaction touched is appended to the WAL (the table's leaf, each
 * index's leaf). Rows keyed by UUIDv7 land on the same leaves, so units of work that arrive in
 * one turn of the event loop (concurrent requests' inserts, a subscriber's rows, their outbox
 * rows and receipts) are written by ONE transaction: BEGIN, each unit inside a SAVEPOINT,
 * COMMIT. A unit whose statement fails is rolled back to its savepoint alone and gets its own
 * error; the others commit. Each unit's promise settles only after the COMMIT (or its
 * failure), so nothing is acknowledged before it is durable. A lone unit is BEGIN, its
 * statements, COMMIT, as before; waiting for the turn's end (setImmediate) is the only delay.
 */
export interface GroupUnit {
  statements: Array<{ text: string; bindings: unknown[] }>;
}

export interface GroupCommitDeps {
  acquire(): Promise<RawStatementConnection>;
  release(connection: RawStatementConnection): Promise<unknown>;
  /** Runs one statement on the raw connection, synchronously (libsql runs it to completion). */
  run(connection: RawStatementConnection, sql: string, bindings: unknown[]): unknown;
}
export type RawStatementConnection = object;

/** One transaction holds at most this many units; more go to the next one. */
const MAX_UNITS = 64;

type Pending = PendingOf<GroupUnit>;

export class LibsqlGroupCommit {
  private batch = new TurnBatch<GroupUnit>(MAX_UNITS, (group) => void this.flush(group));
  /** Units written, and transactions that wrote them: for tests and the bench's notes. */
  readonly stats = { units: 0, transactions: 0 };

  constructor(private deps: GroupCommitDeps) {}

  /** Resolves once `unit`'s statements are committed; rejects with its own statement's error. */
  write(unit: GroupUnit): Promise<void> {
    return this.batch.add(unit);
  }

  private async flush(group: Pending[]): Promise<void> {
    let raw: RawStatementConnection;
    try {
      raw = await this.deps.acquire();
    } catch (err) {
      for (const p of group) p.reject(err);
      return;
    }
    let outcome: Array<unknown | undefined>;
    try {
      outcome = this.writeGroup(raw, group.map((p) => p.item));
    } catch (err) {
      outcome = group.map(() => err);
    } finally {
      await this.deps.release(raw).catch(() => undefined);
    }
    this.stats.units += group.length;
    this.stats.transactions++;
    group.forEach((p, i) => (outcome[i] === undefined ? p.resolve() : p.reject(outcome[i])));
  }

  /** The errors per unit (undefined: committed); throws when the transaction itself failed. */
  private writeGroup(raw: RawStatementConnection, units: GroupUnit[]): Array<unknown | undefined> {
    const { run } = this.deps;
    const errors: Array<unknown | undefined> = new Array(units.length).fill(undefined);
    run(raw, 'begin', []);
    try {
      if (units.length === 1) {
        for (const s of units[0].statements) run(raw, s.text, s.bindings);
      } else {
        units.forEach((unit, i) => {
          run(raw, 'savepoint kernel_unit', []);
          try {
            for (const s of unit.statements) run(raw, s.text, s.bindings);
          } catch (err) {
            errors[i] = err;
            run(raw, 'rollback to kernel_unit', []);
          }
          run(raw, 'release kernel_unit', []);
        });
      }
      if (errors.every((e) => e !== undefined)) run(raw, 'rollback', []);
      else run(raw, 'commit', []);
    } catch (err) {
      try { run(raw, 'rollback', []); } catch { /* the statement's error is the one to report */ }
      if (units.length === 1) return [err];
      throw err;
    }
    return errors;
  }
}
