/**
 * Keeps Node's promise hooks off while no MikroORM flush is running.
 *
 * MikroORM runs every flush inside `insideFlush.run(true, ...)`, an AsyncLocalStorage private to
 * its UnitOfWork module. On Node 20 the first `run` of any AsyncLocalStorage turns async_hooks'
 * promise hooks on for the whole process, for good: every promise of every request (most of them
 * never touch the ORM) then pays an init hook and a store copy (about 10 µs per GET /health here).
 *
 * This wraps `UnitOfWork.prototype.commit` with a process-wide count of commits in progress and,
 * when the count falls to zero, calls `disable()` on that storage: with no other storage enabled,
 * Node turns the hooks off; the next commit's `run` turns them on again. MikroORM only asks the
 * storage "am I inside a flush?" (to refuse a flush from a flush hook and to skip auto-flush);
 * while no commit is in progress the answer is "no", which is what a disabled storage says.
 * The storage is found by watching, during the first commit's synchronous start, which
 * AsyncLocalStorage is run with `true` (MikroORM calls `run` before its first await).
 *
 * `em.transactional()`'s TransactionContext storage is counted and disabled the same way.
 * If MikroORM changes (no commit, no `run(true)` there), nothing is disabled: the hooks stay on,
 * as without this module. `flushContextState()` says which case holds (tested).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { TransactionContext, UnitOfWork } from '@mikro-orm/core';

let storage: AsyncLocalStorage<unknown> | undefined;
let found = false;
let attempts = 0;
let running = 0;
let installed = false;

type Commit = (this: UnitOfWork) => Promise<void>;

function find(commit: Commit, uow: UnitOfWork): Promise<void> {
  const run = AsyncLocalStorage.prototype.run;
  let seen: AsyncLocalStorage<unknown> | undefined;
  AsyncLocalStorage.prototype.run = function (this: AsyncLocalStorage<unknown>, store: unknown, ...rest: never[]) {
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- the storage itself is what is looked for
    if (store === true && !seen) seen = this;
    return (run as (...a: unknown[]) => unknown).call(this, store, ...rest);
  } as typeof run;
  try {
    return commit.call(uow);
  } finally {
    AsyncLocalStorage.prototype.run = run;
    // A commit queued behind another one on the same unit of work runs later: try the next ones.
    if (seen || ++attempts >= 20) found = true;
    storage = seen;
  }
}

function release(): void {
  if (--running === 0) storage?.disable();
}

let transactions = 0;
/** Private in MikroORM's types, a plain static field at run time. */
const transactionStorage = () => (TransactionContext as unknown as { storage?: unknown }).storage;

function transactionEnded(): void {
  if (--transactions === 0) (transactionStorage() as AsyncLocalStorage<unknown>).disable();
}

/**
 * The same for `em.transactional()`: MikroORM keeps the transaction's fork in
 * `TransactionContext.storage` (public) for the callback's length; between transactions
 * `getEntityManager()` has nothing to find, which is what a disabled storage answers.
 */
function countTransactions(): void {
  const create = TransactionContext.create;
  if (typeof create !== 'function' || !(transactionStorage() instanceof AsyncLocalStorage)) return;
  TransactionContext.create = function <T>(this: typeof TransactionContext, ...args: Parameters<typeof create<T>>) {
    transactions++;
    let work: Promise<T>;
    try {
      work = Promise.resolve(create.apply(this, args) as Promise<T>);
    } catch (err) {
      transactionEnded();
      throw err;
    }
    return work.finally(transactionEnded);
  } as typeof create;
}

/** Installs the wrappers once per process (idempotent). */
export function keepPromiseHooksOffBetweenFlushes(): void {
  if (installed) return;
  installed = true;
  countTransactions();
  const commit = UnitOfWork.prototype.commit as Commit;
  if (typeof commit !== 'function') return;
  UnitOfWork.prototype.commit = function (this: UnitOfWork) {
    running++;
    let work: Promise<void>;
    try {
      work = found ? commit.call(this) : find(commit, this);
    } catch (err) {
      release();
      throw err;
    }
    return work.finally(release);
  };
}

/** For tests: whether MikroORM's flush storage was found, and how many commits are running now. */
export function flushContextState(): { found: boolean; storageFound: boolean; running: number; transactions: number } {
  return { found, storageFound: storage !== undefined, running, transactions };
}
