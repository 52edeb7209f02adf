import { errors } from './errors.ts';
import type { FastReads, Where } from './storage/fastReads.ts';

/** Keyset cursors: opaque, URL-safe, and rejected with a 400 when tampered with. */
export function encodeCursor(value: string): string {
  return Buffer.from(value, 'utf8').toString('base64url');
}

export function decodeCursor(
  cursor: string | undefined,
  check: (value: string) => boolean = () => true,
): string | undefined {
  if (cursor === undefined) return undefined;
  const value = Buffer.from(cursor, 'base64url').toString('utf8');
  if (!check(value))
    throw errors.validation([{ field: 'query.cursor', message: 'is not a cursor this API issued', code: 'cursor' }]);
  return value;
}

/** Page sizes are capped whatever the contract says. */
export const MAX_PAGE_LIMIT = 100;

/**
 * A list request as the deployment's paging style reads it (`server.pagination`). The kernel
 * fills `req.paging` with it for operations marked `x-paging: true`; hand it to `paginate`.
 */
export type PageRequest =
  | { style: 'cursor'; limit: number; cursor?: string }
  | { style: 'page'; limit: number; page: number };

export function pageRequest(style: 'cursor' | 'page', query: Record<string, unknown>): PageRequest {
  const limit = Math.min(MAX_PAGE_LIMIT, Math.max(1, Math.trunc(Number(query.limit ?? 20)) || 20));
  if (style === 'page') return { style, limit, page: Math.max(1, Math.trunc(Number(query.page ?? 1)) || 1) };
  return { style, limit, cursor: typeof query.cursor === 'string' ? query.cursor : undefined };
}

/** The pagination object of either style; the deployment's contract shows the one it serves. */
export type Pagination =
  | { limit: number; nextCursor: string | null }
  | { page: number; limit: number; total: number; totalPages: number; hasMore: boolean };

/** What `paginate` needs of an EntityManager (MikroORM's `find` and `findAndCount`). */
interface Finder {
  find(entity: string, where: object, options: object): Promise<unknown[]>;
  findAndCount(entity: string, where: object, options: object): Promise<[unknown[], number]>;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * One list query, either wire style: keyset on `id` (UUIDv7, so newest first by default)
 * with an opaque cursor, or page/limit with `total`, `totalPages` and `hasMore`.
 * `where` scopes the query (owner, filters); `map` turns a row into its view.
 */
export async function paginate<Row extends { id: string }, View>(
  em: Finder,
  entity: string,
  options: {
    request: PageRequest; where?: Record<string, unknown>; map: (row: Row) => View; order?: 'asc' | 'desc';
    /** `ctx.db`: cursor pages then read through a prepared statement (plain `where` only: no raw fragments). */
    reads?: FastReads;
  },
): Promise<{ data: View[]; pagination: Pagination }> {
  const { request, map } = options;
  const order = options.order ?? 'desc';
  const where = { ...options.where };
  const limit = Math.min(MAX_PAGE_LIMIT, Math.max(1, request.limit));
  if (request.style === 'page') {
    const [rows, total] = await em.findAndCount(entity, where, {
      orderBy: { id: order },
      limit,
      offset: (request.page - 1) * limit,
    });
    const totalPages = Math.ceil(total / limit);
    return {
      data: (rows as Row[]).map(map),
      pagination: { page: request.page, limit, total, totalPages, hasMore: request.page * limit < total },
    };
  }
  const after = decodeCursor(request.cursor, (v) => UUID.test(v));
  if (after) where.id = { [order === 'desc' ? '$lt' : '$gt']: after };
  const rows = options.reads
    ? await options.reads.find<Row>(entity, where as Where, { orderBy: { id: order }, limit: limit + 1 })
    : ((await em.find(entity, where, { orderBy: { id: order }, limit: limit + 1 })) as Row[]);
  const page = rows.slice(0, limit);
  const nextCursor = rows.length > limit ? encodeCursor(page[page.length - 1].id) : null;
  return { data: page.map(map), pagination: { limit, nextCursor } };
}
