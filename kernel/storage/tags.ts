import { raw, type EntityManager } from '@mikro-orm/core';

/**
 * Array membership, one way on every driver: rows whose array property `field` (`p.array`,
 * JSON on SQL) holds `value`. Merge the result into an `em.find` / `paginate` where:
 *   `{ ...where, ...whereHasTag(em, 'Note', 'tags', tag) }`
 * SQLite: `exists (select 1 from json_each(tags) where value = ?)`; PostgreSQL: `tags @> '["x"]'`
 * on jsonb (a GIN index on the column serves it); MongoDB: plain equality, which matches an
 * element of an array. The value is always a bound parameter.
 */
export function whereHasTag(
  em: EntityManager, entity: string, field: string, value: string | number,
): Record<string, unknown> {
  const meta = em.getMetadata().find(entity);
  const prop = meta?.properties[field];
  if (!prop) throw new Error(`whereHasTag: ${entity} has no property ${field}`);
  const platform = em.getPlatform();
  const kind = platform.constructor.name.toLowerCase();
  if (kind.includes('mongo')) return { [field]: value };
  const column = (alias: string) => platform.quoteIdentifier(`${alias}.${prop.fieldNames[0]}`);
  if (kind.includes('postgre')) {
    return { [raw((alias: string) => `${column(alias)} @> ?::jsonb`, [JSON.stringify([value])])]: [] };
  }
  const member = (alias: string) => `exists (select 1 from json_each(${column(alias)}) where json_each.value = ?)`;
  return { [raw(member, [value])]: [] };
}
