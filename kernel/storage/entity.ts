
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

export function defineEntity(spec: EntitySpec): EntitySpec {
  return spec;
}
