import type { EntityManager } from '@mikro-orm/core';
import type { Knex } from '@mikro-orm/knex';

/**
 * The query builder of a SQL EntityManager, for the sums and groupings that MikroORM's `find`
 * cannot express. Metering's aggregates are SQL (SQLite, PostgreSQL); the MongoDB driver is not supported.
 */
export function knexOf(em: EntityManager): Knex {
  const sql = em as unknown as { getKnex?: () => Knex };
  if (typeof sql.getKnex !== 'function') throw new Error('metering needs a SQL database (sqlite or postgresql)');
  return sql.getKnex();
}

/** A count or sum as a number: PostgreSQL returns bigint aggregates as strings, SQLite a null over no rows. */
export function num(v: unknown): number {
  if (v === null || v === undefined) return 0;
  const n = Number(v);
  return Number.isFinite(n) ? n : 0;
}
