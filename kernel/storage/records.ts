import type { EntityManager } from '@mikro-orm/core';
import { errors } from '../errors.ts';
import { MAX_PAGE_LIMIT, paginate, type PageRequest } from '../paging.ts';
import type { Page } from '../plugin.ts';
import type { Publish } from '../types/cradle.ts';
import type { CreateOf, DefinedEntity, Props, RowOf, ViewOf } from './define.ts';
import type { FastReads, Where } from './fastReads.ts';
import { whereHasTag } from './tags.ts';
import { stampOwner } from './ownership.ts';
import { flushInserts, setCreateValues } from './insertFlush.ts';
import { isoTime } from './recordsIsoTime.ts';

/**
 * `records(cradle, Entity)`: the CRUD every resource needs, for one entity made by
 * `defineEntity`, so a plugin writes none of it:
 *   .scoped('notes', (c) => records(c, Note, { events: { created: 'notes.note.created' } }))
 * With `ownedBy` it is owned CRUD with no owner code: the request's `em` and `db` are scoped to
 * the principal (kernel/storage/ownership.ts), so another user's row is a 404 and `create`
 * stamps the owner. Reads that can (`get`, `list` and `all` without an array filter) go
 * through the prepared `db` path; writes go through `em`, one flush each, with the declared
 * event staged before it (same unit of work, via the outbox).
 */

/** What `records` uses of a container: a request's `em`, `db` and `publish`, or a subscriber's `em`. */
export interface RecordsCradle {
  readonly em: EntityManager;
  readonly db?: FastReads;
  readonly publish?: Publish;
}

/**
 * Equality per property, ANDed; `undefined` values are ignored (pass optional query values
 * as they come). On a `p.array` property the value is one element: rows holding it
 * (`whereHasTag`, on every driver).
 */
export type Filter<Row> = {
  [K in keyof Row]?: (Row[K] extends Array<infer T> ? T : Row[K]) | undefined;
};

export interface RecordsOptions<Row, View> {
  /** Row to response body; by default `ViewOf<Entity>` (no owner, no hidden property, ISO dates). */
  view?: (row: Row) => View;
  /** Events published (keyed by the row's id) with `EventOf<E>`: the default view plus the owner; declare them. */
  events?: { created?: string; updated?: string; deleted?: string };
  /** `list` order by id (UUIDv7, so by creation): newest first unless `asc`. */
  order?: 'asc' | 'desc';
}

export interface Records<Row, View, Create, Change> {
  /** A page in the deployment's paging style (`req.paging`), newest first. */
  list(paging: PageRequest, filter?: Filter<Row>): Promise<Page<View>>;
  /** Up to `limit` (at most MAX_PAGE_LIMIT) matching rows, ordered by one property (default: id). */
  all(filter?: Filter<Row>, options?: { orderBy?: keyof Row & string; order?: 'asc' | 'desc'; limit?: number }):
    Promise<View[]>;
  /** One row's view, or a 404 (also for another owner's row: its existence is not revealed). */
  get(id: string): Promise<View>;
  /** The managed row, for changes made by hand (then `em.flush()`), or a 404. */
  load(id: string): Promise<Row>;
  /** The first managed row matching `filter` (by id), or null: find-or-create, counters. */
  first(filter?: Filter<Row>): Promise<Row | null>;
  create(input: Create): Promise<View>;
  update(id: string, changes: Change): Promise<View>;
  delete(id: string): Promise<void>;
}

/** A records service over one entity; `V` is the view, `ViewOf<E>` unless `view` says otherwise. */
export function records<E extends DefinedEntity<Props, string>, V = ViewOf<E>>(
  cradle: RecordsCradle,
  entity: E,
  options: RecordsOptions<RowOf<E>, V> = {},
): Records<RowOf<E>, V, CreateOf<E>, Partial<Omit<CreateOf<E>, 'id'>>> {
  return new EntityRecords(cradle, entity, options as RecordsOptions<Record<string, unknown>, unknown>) as never;
}

type AnyRow = Record<string, unknown> & { id: string };

/**
 * `records()`' service: a class, because a request-scoped service is made per request and
 * methods on a prototype cost nothing then (closures would, and under tsx each named one an
 * Object.defineProperty). What it derives from the entity is made once (`entityParts`).
 */
class EntityRecords {
  private readonly name: string;
  private readonly made: EntityParts;
  private readonly view: (row: AnyRow) => unknown;

  constructor(
    private readonly cradle: RecordsCradle,
    private readonly entity: DefinedEntity<Props, string>,
    private readonly options: RecordsOptions<Record<string, unknown>, unknown>,
  ) {
    this.name = entity.name;
    this.made = entityParts(entity);
    this.view = (options.view ?? this.made.view) as (row: AnyRow) => unknown;
  }

  list(paging: PageRequest, filter?: Filter<AnyRow>): Promise<Page<unknown>> {
    const { where: w, reads } = this.where(filter);
    return paginate<AnyRow, unknown>(this.cradle.em, this.name, {
      request: paging, where: w, map: this.view, reads, order: this.options.order,
    });
  }

  async all(filter?: Filter<AnyRow>, o: { orderBy?: string; order?: 'asc' | 'desc'; limit?: number } = {}) {
    const { where: w, reads } = this.where(filter);
    const limit = Math.min(o.limit ?? MAX_PAGE_LIMIT, MAX_PAGE_LIMIT);
    const find = { orderBy: { [o.orderBy ?? 'id']: o.order ?? 'asc' } as Record<string, 'asc' | 'desc'>, limit };
    const rows = reads
      ? await reads.find<AnyRow>(this.name, w as Where, find)
      : ((await this.cradle.em.find(this.name, w as never, find as never)) as AnyRow[]);
    return rows.map(this.view);
  }

  async get(id: string): Promise<unknown> {
    const db = this.cradle.db;
    if (!db) return this.view(await this.load(id));
    const row = await db.findOne<AnyRow>(this.name, { id });
    if (!row) throw this.notFound(id);
    return this.view(row);
  }

  async load(id: string): Promise<AnyRow> {
    const row = await this.cradle.em.findOne<AnyRow>(this.name, { id } as never);
    if (!row) throw this.notFound(id);
    return row;
  }

  async first(filter?: Filter<AnyRow>): Promise<AnyRow | null> {
    const { where: w } = this.where(filter);
    return (await this.cradle.em.findOne(this.name, w as never, { orderBy: { id: 'asc' } } as never)) as AnyRow | null;
  }

  async create(input: object): Promise<unknown> {
    const { cradle, name } = this;
    // Defaults now, not at the flush: the event staged before the flush carries the whole view.
    const given = Object.entries(input).filter(([, v]) => v !== undefined);
    const data = { ...this.made.initial(), ...Object.fromEntries(given) } as Record<string, unknown>;
    const owner = this.entity.ownedBy;
    if (owner && data[owner] === undefined) data[owner] = stampOwner(name)(data, cradle.em);
    setCreateValues(cradle.em, name, data); // the id: the event staged before the flush names it
    if (data.id === undefined) {
      // MongoDB: the key is `_id`, and `id` is the entity's serialized view of it: made as an entity, flushed.
      const made = cradle.em.create(name, data as never) as AnyRow;
      await this.publish(this.options.events?.created, made);
      await cradle.em.flush();
      return this.view(made);
    }
    const row = data as AnyRow;
    await this.publish(this.options.events?.created, row);
    // Written as data when the request has only new rows pending (no entity made), else em.create + flush.
    await flushInserts(cradle.em, [{ entity: name, data }]);
    return this.view(row);
  }

  async update(id: string, changes: object): Promise<unknown> {
    const row = await this.load(id);
    this.cradle.em.assign(row, { ...changes, ...this.made.touched() } as object);
    await this.publish(this.options.events?.updated, row);
    await this.cradle.em.flush();
    return this.view(row);
  }

  async delete(id: string): Promise<void> {
    const row = await this.load(id);
    await this.publish(this.options.events?.deleted, row);
    await this.cradle.em.remove(row).flush();
  }

  private notFound(id: string) {
    return errors.notFound(`${this.name} ${id} not found`);
  }

  /** The where of a filter, and whether it needs `em` (an array filter is a per-driver fragment). */
  private where(filter: Filter<AnyRow> = {}): { where: Record<string, unknown>; reads?: FastReads } {
    const out: Record<string, unknown> = {};
    let fragments = false;
    for (const key in filter) {
      const value = filter[key];
      if (value === undefined) continue;
      if (!this.made.arrays.has(key)) out[key] = value;
      else {
        Object.assign(out, whereHasTag(this.cradle.em, this.name, key, value as string | number));
        fragments = true;
      }
    }
    return { where: out, reads: fragments ? undefined : this.cradle.db };
  }

  private async publish(event: string | undefined, row: AnyRow): Promise<void> {
    if (!event) return;
    const publish = this.cradle.publish;
    if (!publish) throw new Error(`records(${this.name}): publishing ${event} needs a request's container`);
    await publish(event, this.made.payload(row), { key: row.id });
  }
}

/** What `records` derives from an entity, once per entity (a request-scoped service calls `records` per request). */
interface EntityParts {
  view: (row: Record<string, unknown>) => unknown;
  payload: (row: Record<string, unknown>) => Record<string, unknown>;
  arrays: Set<string>;
  /** Defaults and `onCreate` values, now. */
  initial(): Record<string, unknown>;
  /** `onUpdate` values (updatedAt) now too, for the same reason (the flush sets them again, a moment later). */
  touched(): Record<string, unknown>;
}
const parts = new WeakMap<object, EntityParts>();

function entityParts(entity: DefinedEntity<Props, string>): EntityParts {
  let made = parts.get(entity);
  if (made) return made;
  const initializers = Object.entries(entity.properties).filter(([, p]) => p.onCreate || p.default !== undefined);
  const updaters = Object.entries(entity.properties).filter(([, p]) => p.onUpdate);
  made = {
    view: defaultView(entity),
    payload: defaultView(entity, true),
    arrays: new Set(entity.arrays),
    initial: () => Object.fromEntries(initializers.map(([key, p]) => [key, p.onCreate ? p.onCreate() : p.default])),
    touched: () => Object.fromEntries(updaters.map(([key, p]) => [key, p.onUpdate!()])),
  };
  parts.set(entity, made);
  return made;
}

/** `ViewOf<E>` at runtime (`EventOf<E>` with the owner): no hidden property, datetimes as ISO strings. */
function defaultView(
  entity: DefinedEntity<Props, string>, withOwner = false,
): (row: Record<string, unknown>) => Record<string, unknown> {
  const shown = Object.entries(entity.properties)
    .filter(([key, p]) => (withOwner || key !== entity.ownedBy) && !p.hidden);
  const dates = new Set(shown.filter(([, p]) => p.type === 'datetime').map(([key]) => key));
  // An unset value reads as `[]` for arrays and null for nullable properties (a created row is not re-read).
  const unset = new Map(shown.map(([key, p]) =>
    [key, entity.arrays.includes(key) ? [] : p.nullable ? null : undefined]));
  // One flat list read per row (a page maps every row): no Map or Set lookups, no Date copied to be formatted.
  const fields = ['id', ...shown.map(([key]) => key)]
    .map((key) => ({ key, date: dates.has(key), unset: unset.get(key) }));
  return (row) => {
    const out: Record<string, unknown> = {};
    for (let i = 0; i < fields.length; i++) {
      const { key, date, unset: none } = fields[i];
      const value = row[key];
      if (value == null) out[key] = none;
      else out[key] = date ? isoTime(value instanceof Date ? value : new Date(value as string | number)) : value;
    }
    return out;
  };
}
