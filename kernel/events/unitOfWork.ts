import type { EntityManager } from '@mikro-orm/core';

/**
 * The guard behind "publish before you flush": an event staged after its change was flushed
 * would be stored by a second transaction of its own, so a crash (or a failed outbox insert)
 * between the two splits them. The request context counts its EntityManager's flushes; when
 * it settles, an earlier flush plus pending changes that are only outbox rows means exactly
 * that mistake.
 */
export function countFlushes(em: EntityManager): { count: number } {
  const counter = { count: 0 };
  const flush = em.flush.bind(em);
  em.flush = async () => {
    await flush();
    counter.count++;
  };
  return counter;
}

/** True when the changes `em` would flush now are outbox rows and nothing else. */
export function onlyEventsPending(em: EntityManager): boolean {
  const uow = em.getUnitOfWork();
  uow.computeChangeSets();
  const sets = uow.getChangeSets();
  return sets.length > 0 && sets.every((cs) => cs.rootName === 'KernelOutbox' || cs.name === 'KernelOutbox');
}

export class PublishAfterFlushError extends Error {
  constructor(operationId: string) {
    super(`${operationId}: an event was published after em.flush() had already written the change; ` +
      'publish before you flush so the event is stored in the same transaction (the outbox)');
    this.name = 'PublishAfterFlushError';
  }
}

/** Outside production the mistake fails the request (and so its test); in production it is logged. */
export const strictUnitOfWork = () => process.env.NODE_ENV !== 'production';
