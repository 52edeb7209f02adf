import type { Connection, Transaction } from '@mikro-orm/core';
import { DIRECT_TRANSACTION } from './pgStatements.ts';

/**
 * A transaction on `connection` as BEGIN/COMMIT through the kernel's direct statement paths
 * (kernel/storage/pgStatements.ts, libsqlStatements.ts), without forking an EntityManager or
 * MikroORM's transaction wrapper: for a plugin's hot, hand-written statements (billing's ledger).
 * `work` gets the transaction context to run its statements in; nothing is flushed for it.
 */
export function directTransaction<T>(connection: Connection, work: (trx: Transaction) => Promise<T>): Promise<T> {
  return connection.transactional(work, { [DIRECT_TRANSACTION]: true } as never);
}
