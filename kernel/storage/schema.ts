import { BigIntType, EntitySchema } from '@mikro-orm/core';
import { uuidV7Ids } from '../ports/ids.ts';
import type { Driver, EntitySpec, PropertySpec, PropertyType } from './entity.ts';
import { ownerFilter, stampOwner } from './ownership.ts';

/** Turns a driver-neutral EntitySpec into MikroORM's EntitySchema (kept apart so plugins load without MikroORM). */
const TYPES: Record<PropertyType, unknown> = {
  string: 'string', text: 'text', integer: 'integer', bigint: new BigIntType('number'), number: 'double', boolean: 'boolean', datetime: 'datetime', json: 'json',
};

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
      ...(p.default !== undefined ? { default: p.default } : {}),
      ...(p.default !== undefined && !p.onCreate ? { onCreate: () => p.default } : {}),
    };
  }
  const filters = spec.ownedBy ? { owner: ownerFilter(spec.name, spec.ownedBy) } : {};
  if (spec.ownedBy) properties[spec.ownedBy].onCreate = stampOwner(spec.name);
  const indexes = (spec.indexes ?? [])
    .filter((i) => !i.unique)
    .map((i) => ({ properties: i.properties, name: i.name }));
  const uniques = (spec.indexes ?? []).filter((i) => i.unique).map((i) => ({ properties: i.properties, name: i.name }));
  // A class whose constructor sets the id, so `em.create()` returns an entity whose id can be
  // used at once (e.g. as another row's foreign key) before the flush. Rows loaded from the
  // database are hydrated without calling it.
  const key = driver === 'mongodb' ? '_id' : 'id';
  const cls = {
    [spec.name]: class {
      constructor() {
        (this as Record<string, unknown>)[key] = uuidV7Ids.next();
      }
    },
  }[spec.name];
  return new EntitySchema({
    class: cls,
    tableName: spec.table,
    collection: spec.table,
    properties,
    indexes,
    uniques,
    filters,
  } as any);
}
