import { EventType } from '@mikro-orm/core';

/**
 * The insert path's statements, built by MikroORM (`driver.nativeInsertMany` with this as its
 * transaction context) but not run: the connection's patch (kernel/storage/pgStatements.ts,
 * libsqlStatements.ts) records each one's SQL and values. The driver's runner then writes them
 * in one unit: on PostgreSQL one statement (the inserts as data-modifying CTEs: one round trip,
 * atomic without BEGIN/COMMIT), on libsql BEGIN, the bound statements, COMMIT on one connection.
 */
export class CapturedInserts {
  readonly statements: Array<{ sql: string; params: unknown[] }> = [];

  /** What `execute` answers for a recorded insert (the rows' keys are set before the insert path runs). */
  record(sql: string, params: unknown[]) {
    this.statements.push({ sql, params });
    return Promise.resolve({ affectedRows: 1, insertId: 0, row: {}, rows: [] });
  }
}

export interface InsertRunnerOptions {
  eventBroadcaster?: { dispatchEvent(type: EventType, trx?: unknown): Promise<void> };
  /** The driver's error conversion (a unique violation becomes UniqueConstraintViolationException). */
  convert(err: unknown): Error;
}
export type InsertRunner = (statements: CapturedInserts['statements'], options: InsertRunnerOptions) => Promise<void>;

export const INSERT_RUNNER = Symbol('kernel.insertRunner');

/** The connection's runner of captured inserts, when its driver's patch installed one. */
export function insertRunnerOf(connection: unknown): InsertRunner | undefined {
  return (connection as { [INSERT_RUNNER]?: InsertRunner })[INSERT_RUNNER];
}

/** Stands for the insert path's transaction in MikroORM's transaction events. */
export class InsertTransaction {}

/**
 * MikroORM's transaction events around a write that is its own transaction: `trx` stands for it
 * (no statement can be run in it; listeners such as realtime's key their state by it).
 */
export async function asTransaction(options: InsertRunnerOptions, write: () => Promise<void>) {
  const trx = new InsertTransaction();
  const events = options.eventBroadcaster;
  await events?.dispatchEvent(EventType.beforeTransactionStart);
  await events?.dispatchEvent(EventType.afterTransactionStart, trx);
  await events?.dispatchEvent(EventType.beforeTransactionCommit, trx);
  try {
    await write();
  } catch (err) {
    await events?.dispatchEvent(EventType.beforeTransactionRollback, trx);
    await events?.dispatchEvent(EventType.afterTransactionRollback, trx);
    throw options.convert(err);
  }
  await events?.dispatchEvent(EventType.afterTransactionCommit, trx);
}
