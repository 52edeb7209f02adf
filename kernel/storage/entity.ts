import { EntitySchema } from '@mikro-orm/core';
import { uuidV7Ids } from '../ports/ids.ts';

/**
 * A driver-neutral entity description. The kernel turns it into a MikroORM EntitySchema
 * for the configured driver, so every entity gets a UUIDv7 string `id` on SQLite,
 * PostgreSQL and MongoDB alike (on Mongo it is stored as `_id`).
 */
export type PropertyType = 'string' | 'text' | 'integer' | 'number' | 'boolean' | 'datetime' | 'json';

export interface PropertySpec {
  type: PropertyType;
  nullable?: boolean;
  /** Max length for `string` (default 255). */
  length?: number;
  /** Value given on insert when none was set. */
  onCreate?: () => unknown;
  /** Value given on every update. */
  onUpdate?: () => unknown;
  /** Kept out of serialisation (`wrap(e).toObject()`), for secrets. */
  hidden?: boolean;
}

export interface IndexSpec { properties: string[]; unique?: boolean; name?: string }

export interface EntitySpec {
  /** Entity name used with the EntityManager, e.g. `Note`. */
  name: string;
  /** Table (SQL) or collection (Mongo), e.g. `notes_notes`. Prefix it with the plugin name. */
  table: string;
  properties: Record<string, PropertySpec>;
  indexes?: IndexSpec[];
  /** Adds `createdAt` and `updatedAt` maintained by the kernel. */
  timestamps?: boolean;
}

export type Driver = 'sqlite' | 'postgresql' | 'mongodb';

const TYPES: Record<PropertyType, string> = {
  string: 'string', text: 'text', integer: 'integer', number: 'double', boolean: 'boolean', datetime: 'datetime', json: 'json',
};

export function defineEntity(spec: EntitySpec): EntitySpec {
  return spec;
}

export function toEntitySchema(spec: EntitySpec, driver: Driver): EntitySchema {
  const properties: Record<string, any> = {};
  if (driver === 'mongodb') {
    properties._id = { type: 'string', primary: true, onCreate: () => uuidV7Ids.next() };
    properties.id = { type: 'string', serializedPrimaryKey: true };
  } else {
    properties.id = { type: 'string', primary: true, length: 36, onCreate: () => uuidV7Ids.next() };
  }
  const all: Record<string, PropertySpec> = { ...spec.properties };
  if (spec.timestamps) {
    all.createdAt = { type: 'datetime', onCreate: () => new Date() };
    all.updatedAt = { type: 'datetime', onCreate: () => new Date(), onUpdate: () => new Date() };
  }
  for (const [name, p] of Object.entries(all)) {
    properties[name] = {
      type: TYPES[p.type],
      nullable: p.nullable ?? false,
      ...(p.type === 'string' ? { length: p.length ?? 255 } : {}),
      ...(p.onCreate ? { onCreate: p.onCreate } : {}),
      ...(p.onUpdate ? { onUpdate: p.onUpdate } : {}),
      ...(p.hidden ? { hidden: true } : {}),
    };
  }
  const indexes = (spec.indexes ?? []).filter((i) => !i.unique).map((i) => ({ properties: i.properties, name: i.name }));
  const uniques = (spec.indexes ?? []).filter((i) => i.unique).map((i) => ({ properties: i.properties, name: i.name }));
  // A class whose constructor sets the id, so `em.create()` returns an entity whose id can be
  // used at once (e.g. as another row's foreign key) before the flush. Rows loaded from the
  // database are hydrated without calling it.
  const key = driver === 'mongodb' ? '_id' : 'id';
  const cls = { [spec.name]: class { constructor() { (this as Record<string, unknown>)[key] = uuidV7Ids.next(); } } }[spec.name];
  return new EntitySchema({ class: cls, tableName: spec.table, collection: spec.table, properties, indexes, uniques } as any);
}
