/**
 * Handlers typed per operationId from the plugin's generated contract types
 * (`plugins/<name>/contract.gen.ts`, `npm run cli -- types`): `params`, `query` and `body` are
 * the operation's validated input, and the return value must be its 2xx response (or a `reply`
 * carrying one), so a wrong body field or return shape fails tsc.
 *
 *   handlers: defineHandlers<Operations, typeof services>({
 *     'notes.get': ({ params }, { services }) => services.notes.get(params.id),
 *   })
 */
import type { HandlerRequest, Page, Reply, RequestContext } from '../plugin.ts';
import type { PageRequest } from '../paging.ts';
import type { ScopeCradleOf } from './services.ts';

/** One operation as the generator writes it. */
export interface OperationTypes {
  params: unknown;
  query: unknown;
  body: unknown;
  response: unknown;
  /** The bodies of the operation's other declared responses (3xx, 4xx), which a `reply` may carry. */
  replies?: unknown;
  /** Present on `x-paging: true` operations. */
  paging?: true;
}

/** A list response may be returned as the `Page` that `paginate()` makes. */
type Returned<R> = R extends { data: Array<infer T>; pagination: unknown } ? R | Page<T> : R;
type Answer<R, Other> = Returned<R> | Reply<Returned<R> | Other | undefined>;

/** `x-paging: true` operations always get `req.paging`. */
type PagedRequest<Op> = Op extends { paging: true } ? { paging: PageRequest } : unknown;

export type TypedHandler<Op extends OperationTypes, Scope> = (
  req: HandlerRequest<Op['body'], Op['query'], Op['params']> & PagedRequest<Op>,
  ctx: RequestContext<Scope>,
) => Answer<Op['response'], Op['replies']> | Promise<Answer<Op['response'], Op['replies']>>;

/** One handler for each operation of the contract. */
export type TypedHandlers<Ops, Scope> = {
  [K in keyof Ops]: Ops[K] extends OperationTypes ? TypedHandler<Ops[K], Scope> : never;
};

/**
 * Checks a plugin's handlers against its contract's `Operations` and gives `ctx.services` the
 * type of its service set `S` (from `defineServices`, or a cradle type). Returns them unchanged.
 */
export function defineHandlers<Ops, S = object>(
  handlers: TypedHandlers<Ops, ScopeCradleOf<S>>,
): TypedHandlers<Ops, ScopeCradleOf<S>> {
  return handlers;
}
