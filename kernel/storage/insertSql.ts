import type { EntityMetadata, EntityProperty } from '@mikro-orm/core';
import { ReferenceKind } from '@mikro-orm/core';

/**
 * The one-row INSERT that MikroORM's `driver.nativeInsertMany(entity, [row])` builds, for the
 * insert path's rows, with its text made once per entity and column list: MikroORM rebuilds it
 * per row (its field lists, quoting and value loop were about a quarter of a POST's ORM time).
 * Only rows whose every column is a plain scalar with one field and nothing read back
 * (`returning`) are built here; anything else is MikroORM's (`undefined`). Values are what its
 * `addParams` gives: null for a nullable null, else the value or the property's default, custom
 * types converted when `convertCustomTypes`. test/storage/insertSql.test.ts compares the two.
 */
export interface InsertDriver {
  getPlatform(): InsertPlatform;
  getTableName?(meta: EntityMetadata, options: object): string;
}
interface InsertPlatform {
  quoteIdentifier(id: string): string;
  usesOutputStatement(): boolean;
  isRaw(value: unknown): boolean;
}

interface Shape {
  props: EntityProperty[];
  /** `insert into t (cols) values (`. */
  head: string;
  /** Each column's placeholder when its value is not null (a JSON column's may carry a cast on PostgreSQL). */
  marks: string[];
  /** The text for rows without a null in a column whose placeholder is not `?` (a null's is). */
  text: string;
}
const shapes = new WeakMap<EntityMetadata, Map<string, Shape | null>>();

export function buildInsert(driver: InsertDriver, meta: EntityMetadata, row: Record<string, unknown>,
  convertCustomTypes: boolean): { sql: string; params: unknown[] } | undefined {
  const keys = Object.keys(row);
  const key = keys.join('\u0000');
  let byKeys = shapes.get(meta);
  if (!byKeys) shapes.set(meta, (byKeys = new Map()));
  let shape = byKeys.get(key);
  if (shape === undefined) {
    shape = shapeOf(driver, meta, keys);
    if (byKeys.size < 64) byKeys.set(key, shape);
  }
  if (!shape) return undefined;
  const platform = driver.getPlatform();
  const params = new Array<unknown>(shape.props.length);
  let nullCast = false;
  for (let i = 0; i < shape.props.length; i++) {
    const prop = shape.props[i];
    const given = row[prop.name];
    if (typeof given === 'object' && given !== null && platform.isRaw(given)) return undefined; // a raw fragment
    if (given == null && shape.marks[i] !== '?') nullCast = true;
    if (prop.nullable && given === null) {
      params[i] = null;
      continue;
    }
    const value = given ?? prop.default;
    if (value === undefined) return undefined; // MikroORM writes `default` or null: its own path
    params[i] = convertCustomTypes && prop.customType
      ? prop.customType.convertToDatabaseValue(value, platform as never, { key: prop.name, mode: 'query-data' })
      : value;
  }
  const text = nullCast
    ? `${shape.head}${shape.props.map((p, i) => (row[p.name] == null ? '?' : shape.marks[i])).join(', ')})`
    : shape.text;
  return { sql: text, params };
}

function shapeOf(driver: InsertDriver, meta: EntityMetadata, keys: string[]): Shape | null {
  const platform = driver.getPlatform();
  if (!keys.length || platform.usesOutputStatement() || !driver.getTableName) return null;
  if (meta.root !== meta || meta.discriminatorColumn) return null;
  const props: EntityProperty[] = [];
  const marks: string[] = [];
  for (const name of keys) {
    const prop = meta.properties[name];
    if (!prop || prop.kind !== ReferenceKind.SCALAR || prop.fieldNames?.length !== 1 || prop.stiFieldNames) return null;
    if (prop.object) return null;
    const type = prop.customType as { convertToDatabaseValueSQL?(key: string, platform: unknown): string } | undefined;
    marks.push(type && 'convertToDatabaseValueSQL' in type ? type.convertToDatabaseValueSQL!('?', platform) : '?');
    props.push(prop);
  }
  // A column MikroORM would read back (a raw default, autoincrement or generated, not given): its own path.
  const readBack = meta.props.some((p) => ((p.persist !== false && p.defaultRaw) || p.autoincrement || p.generated)
    && !keys.includes(p.name));
  if (readBack) return null;
  const table = driver.getTableName(meta, {});
  const columns = props.map((p) => platform.quoteIdentifier(p.fieldNames[0])).join(', ');
  const head = `insert into ${table} (${columns}) values (`;
  return { props, head, marks, text: `${head}${marks.join(', ')})` };
}
