import type { EntityManager } from '@mikro-orm/core';
import { acceptStagedRows, createStagedRows } from '../storage/insertFlush.ts';

/**
 * The guard behind "publish before you flush": an event staged after its change was flushed
 * would be stored by a second transaction of its own, so a crash (or a failed outbox insert)
 * between the two splits them. The request context counts its EntityManager's flushes; when
 * it settles, an earlier flush plus pending changes that are only outbox rows means exactly
 * that mistake.
 */
export function countFlushes(em: EntityManager): { count: number } {
  const counter = { count: 0 };
  takeStagedRows(em, () => counter.count++);
  return counter;
}

/**
 * Rows may be staged on `em` as data (events, receipts: `stageRow`) for the insert path to write with the
 * rows of the next `flushInserts`; its `flush` and `transactional` make them entities first.
 */
export function takeStagedRows(em: EntityManager, flushed?: () => void): void {
  const flush = em.flush.bind(em);
  acceptStagedRows(em);
  em.flush = async () => {
    createStagedRows(em);
    await flush();
    flushed?.();
  };
  const transactional = em.transactional.bind(em);
  em.transactional = ((cb, options) => {
    createStagedRows(em);
    return transactional(cb, options);
  }) as EntityManager['transactional'];
}

/** True when the changes `em` would flush now are outbox rows and nothing else. */
export function onlyEventsPending(em: EntityManager): boolean {
  const uow = em.getUnitOfWork();
  uow.computeChangeSets();
  const sets = uow.getChangeSets();
  return sets.length > 0 && sets.every((cs) => cs.rootName === 'KernelOutbox' || cs.name === 'KernelOutbox');
}

/**
 * True when `em.flush()` would write nothing and tell no one: no new, removed or orphaned entity, no collection or
 * extra update, nothing managed but outbox rows (written already; the kernel never hands them out, so none is
 * changed), and no subscriber listening to flush events unless it follows named entities, none of them these
 * (realtime's follows RealtimeEvent: an empty flush would only tell it of no change). Cheap (no change sets
 * computed): after the insert path (`flushInserts`) wrote a request's rows, the kernel's settle skips its flush.
 * Anything else managed (an entity a handler loaded and maybe changed) means the full flush, which diffs it.
 */
export function nothingToFlush(em: EntityManager): boolean {
  const uow = em.getUnitOfWork();
  const internals = uow as unknown as {
    working: boolean; orphanRemoveStack: Set<unknown>; extraUpdates: Set<unknown>;
    identityMap: { registry: Map<unknown, Map<unknown, unknown>> };
  };
  if (internals.working || uow.getPersistStack().size || uow.getRemoveStack().size) return false;
  if (internals.orphanRemoveStack.size || internals.extraUpdates.size) return false;
  if (uow.getCollectionUpdates().length) return false;
  const outbox = em.getMetadata().find('KernelOutbox')?.class;
  for (const [cls, store] of internals.identityMap.registry) if (store.size && cls !== outbox) return false;
  for (const subscriber of em.getEventManager().getSubscribers()) {
    const listener = subscriber as Record<string, unknown>;
    if (!FLUSH_EVENTS.some((e) => typeof listener[e] === 'function')) continue;
    // One that says which entities it follows (as the insert path asks) is not told of a flush of none of them.
    const follows = subscriber.getSubscribedEntities?.().map((e) => (typeof e === 'string' ? e : e.name));
    if (!follows?.length || follows.includes('KernelOutbox')) return false;
  }
  return true;
}
const FLUSH_EVENTS = ['beforeFlush', 'onFlush', 'afterFlush'] as const;

export class PublishAfterFlushError extends Error {
  constructor(operationId: string) {
    super(`${operationId}: an event was published after em.flush() had already written the change; ` +
      'publish before you flush so the event is stored in the same transaction (the outbox)');
    this.name = 'PublishAfterFlushError';
  }
}

/** Outside production the mistake fails the request (and so its test); in production it is logged. */
export const strictUnitOfWork = () => process.env.NODE_ENV !== 'production';
