import type { EntityManager } from '@mikro-orm/core';
import { AppError, errors } from '../errors.ts';
import { principalKind } from '../http/principalTypes.ts';

/**
 * Ownership (`ownedBy` on an entity). Each owned entity gets MikroORM's default filter `owner`,
 * which reads the request's owner scope from its EntityManager's filter params: every find,
 * count, update and delete is narrowed to `{ [ownedBy]: <user id> }`, and `em.create` stamps
 * the owner when unset. A request's `em` and `db` carry the scope of its principal:
 *  - a user principal (`type: 'user'`: a session, an API key or a token acting for its user,
 *    whose id it carries): that user's rows;
 *  - any other principal, e.g. an OAuth client-credentials one (`type: 'client'`, whose id is
 *    the client's): 403 `USER_PRINCIPAL_REQUIRED`, so a client never silently owns rows;
 *  - no principal: 401.
 * An EntityManager made outside a request (subscribers, scripts) has no scope and throws on an
 * owned entity until it says which: `unscoped(em)` (admin work, every row), or MikroORM's
 * per-query `filters: { owner: false }`.
 */
export const OWNER_FILTER = 'owner';

export type OwnerScope =
  | { userId: string }
  | { refused: 'anonymous' }
  | { refused: 'client'; principalType: string }
  | { unscoped: true };


/** The scope a request's principal gives owned entities. */
export function ownerScopeOf(principal: { type: string; id: string } | undefined): OwnerScope {
  if (!principal) return { refused: 'anonymous' };
  if (principalKind(principal) !== 'user') return { refused: 'client', principalType: principal.type };
  return { userId: principal.id };
}

/** The condition `scope` puts on an owned entity's queries (`{}` when unscoped); throws when refused. */
export function ownerCondition(
  entity: string, ownedBy: string, scope: OwnerScope | undefined,
): Record<string, unknown> {
  return 'unscoped' in (scope ?? {}) ? {} : { [ownedBy]: ownerIdOf(entity, scope) };
}

/** The user id rows of `entity` are owned by under `scope`; throws a 401/403 for a refused principal. */
export function ownerIdOf(entity: string, scope: OwnerScope | undefined): string {
  if (!scope) {
    throw new Error(`${entity} is owned (ownedBy): use it in a request, `
      + 'or say unscoped(em) / filters: { owner: false }');
  }
  if ('userId' in scope) return scope.userId;
  if ('refused' in scope && scope.refused === 'anonymous') throw errors.unauthorized();
  if ('refused' in scope) {
    throw new AppError(403, 'USER_PRINCIPAL_REQUIRED',
      `${entity} rows belong to users; a ${scope.principalType} credential cannot read or write them`);
  }
  throw new Error(`${entity}: no owner in an unscoped EntityManager`);
}

/** The MikroORM filter an owned entity's schema carries. */
export function ownerFilter(entity: string, ownedBy: string) {
  return {
    name: OWNER_FILTER,
    ownedBy,
    default: true,
    args: false,
    cond: (args: OwnerScope | undefined) =>
      ownerCondition(entity, ownedBy, args && Object.keys(args).length ? args : undefined),
  };
}

/** The owner property's onCreate (called only when no owner was set): the scope's user; unscoped, none. */
export function stampOwner(entity: string) {
  return (_row: unknown, em: EntityManager) => {
    const scope = scopeOf(em);
    return scope && 'unscoped' in scope ? undefined : ownerIdOf(entity, scope);
  };
}

/** Gives `em` (a request's fork) the scope of its principal. */
export function scopeToPrincipal(
  em: EntityManager, principal: { type: string; id: string } | undefined,
): EntityManager {
  em.setFilterParams(OWNER_FILTER, ownerScopeOf(principal));
  return em;
}

/**
 * An EntityManager that sees and writes every owner's rows: the explicit bypass for admin
 * routes and jobs. A fork: flush it to store what you change through it.
 */
export function unscoped(em: EntityManager): EntityManager {
  const fork = em.fork();
  fork.setFilterParams(OWNER_FILTER, { unscoped: true } satisfies OwnerScope);
  return fork;
}

/**
 * Scopes an EntityManager made outside a request (a subscriber's `ctx.em`, a job's) to one
 * user's rows, in place, as a request of theirs would be: owned queries see only theirs and
 * `create` stamps them. In place, so an idempotent subscriber's receipt still joins its flush.
 */
export function scopedTo(em: EntityManager, userId: string): EntityManager {
  em.setFilterParams(OWNER_FILTER, { userId } satisfies OwnerScope);
  return em;
}

export function scopeOf(em: EntityManager | undefined): OwnerScope | undefined {
  const scope = em?.getFilterParams(OWNER_FILTER) as OwnerScope | undefined;
  return scope && Object.keys(scope).length ? scope : undefined;
}

interface FlushArgs {
  entity: object;
  em: EntityManager;
  meta?: { className: string; filters?: Record<string, unknown> };
}

/**
 * A MikroORM event subscriber (registered by openOrm): under a user's scope an owned row can
 * be written only with that user as its owner, so a plugin cannot hand a row to someone else
 * by setting `ownerId` (403 `OWNER_MISMATCH`). Unscoped EntityManagers may.
 */
export class OwnerGuard {
  beforeCreate(args: FlushArgs): void { check(args); }
  beforeUpdate(args: FlushArgs): void { check(args); }
}

function check({ entity, em, meta }: FlushArgs): void {
  const ownedBy = (meta?.filters?.[OWNER_FILTER] as { ownedBy?: string } | undefined)?.ownedBy;
  if (!ownedBy) return;
  const scope = scopeOf(em);
  if (scope && 'unscoped' in scope) return;
  const owner = ownerIdOf(meta!.className, scope);
  if ((entity as Record<string, unknown>)[ownedBy] !== owner) {
    throw new AppError(403, 'OWNER_MISMATCH', `${meta!.className} rows can only be written as their owner's`);
  }
}
