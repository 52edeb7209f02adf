
/**
 * A driver-neutral entity description. The kernel turns it into a MikroORM EntitySchema
 * for the configured driver, so every entity gets a UUIDv7 string `id` on SQLite,
 * PostgreSQL and MongoDB alike (on Mongo it is stored as `_id`).
 */
export type PropertyType = 'string' | 'text' | 'integer' | 'bigint' | 'number' | 'boolean' | 'datetime' | 'json';

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
  /** The column's database default (also given on create when no value was set). */
  default?: string | number | boolean | null;
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
  /**
   * The property holding the owning user's id. Reads, updates and deletes through a request's
   * `em` and `db` see only the principal's rows; `em.create` stamps it (kernel/storage/ownership.ts).
   */
  ownedBy?: string;
}

export type Driver = 'sqlite' | 'postgresql' | 'mongodb';

export { defineEntity } from './define.ts';
