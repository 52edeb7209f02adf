import type { EntitySpec, IndexSpec, PropertySpec } from './entity.ts';

/**
 * `defineEntity('Note', { table, properties: { title: p.string(), ... }, ownedBy })`: one
 * declaration gives the MikroORM schema on every driver, the SQL diffed by `migrate create`,
 * the Mongo and SQL indexes, and the row type (`RowOf<typeof Note>`).
 *
 * Column names: a camelCase property becomes its snake_case column (`ownerId` -> `owner_id`,
 * `createdAt` -> `created_at`), MikroORM's default naming strategy; nothing else is renamed.
 */

/**
 * A property declaration; `T` is its value in a row and `D` whether it needs no value on
 * create (a default, an onCreate or the id): phantoms, for `RowOf` and `CreateOf`.
 */
export interface Prop<T, D extends boolean = boolean, H extends boolean = boolean> extends PropertySpec {
  /** Never set: carry the types. */
  readonly __value?: T;
  readonly __optional?: D;
  /** `hidden: true`: left out of `ViewOf` and of the views `records()` makes. */
  readonly __hidden?: H;
  /** The `id` marker: the kernel gives every entity its UUIDv7 `id`. */
  readonly idMarker?: true;
  /** An array of scalars, stored as JSON on SQL (filter with `whereHasTag`). */
  readonly arrayOf?: PropertySpec['type'];
}

interface Common<N extends boolean, H extends boolean = false> { nullable?: N; hidden?: H }
type Maybe<T, N> = N extends true ? T | null : T;
type Has<D> = [D] extends [undefined] ? false : true;
/** `hidden: true` (a conditional, so that the contextual type of `properties` cannot widen it). */
type Is<H> = [H] extends [true] ? true : false;
type Scalar<T> = <N extends boolean = false, D extends T | undefined = undefined, H extends boolean = false>(
  o?: Common<N, H> & { default?: D },
) => Prop<Maybe<T, N>, Has<D>, Is<H>>;

const scalar = <T extends string | number | boolean>(type: PropertySpec['type']): Scalar<T> =>
  (o = {}) => ({ type, ...o });

export const p = {
  /** The UUIDv7 primary key every entity has (declare it to see it in the row type). */
  id: (): Prop<string, true, false> => ({ type: 'string', length: 36, idMarker: true }),
  string: <N extends boolean = false, D extends string | undefined = undefined, H extends boolean = false>(
    o: Common<N, H> & { length?: number; default?: D } = {},
  ): Prop<Maybe<string, N>, Has<D>, Is<H>> => ({ type: 'string', ...o }),
  text: scalar<string>('text'),
  integer: scalar<number>('integer'),
  /** A 64-bit integer, read as a JS number. */
  bigint: scalar<number>('bigint'),
  number: scalar<number>('number'),
  boolean: scalar<boolean>('boolean'),
  datetime: <N extends boolean = false, H extends boolean = false>(
    o: Common<N, H> = {},
  ): Prop<Maybe<Date, N>, false, Is<H>> => ({ type: 'datetime', ...o }),
  json: <T, N extends boolean = false, H extends boolean = false>(
    o: Common<N, H> = {},
  ): Prop<Maybe<T, N>, false, Is<H>> => ({ type: 'json', ...o }),
  /**
   * An array of strings or numbers: JSON on SQL (jsonb on PostgreSQL), a native array on Mongo;
   * `[]` on create when unset and as the column default. Filter with `records().list(paging, { tags: 'x' })`
   * or `whereHasTag`.
   */
  array: <T, H extends boolean = false>(of: Prop<T>, o: { hidden?: H } = {}): Prop<T[], true, Is<H>> =>
    ({ type: 'json', arrayOf: of.type, default: '[]', onCreate: () => [], ...o }),
  /** Set once, on insert. */
  createdAt: (): Prop<Date, true, false> => ({ type: 'datetime', onCreate: () => new Date() }),
  /** Set on insert and on every update. */
  updatedAt: (): Prop<Date, true, false> =>
    ({ type: 'datetime', onCreate: () => new Date(), onUpdate: () => new Date() }),
};

export type Props = Record<string, Prop<unknown>>;

export interface EntityDeclaration<P extends Props, O extends keyof P & string> {
  /** Table (SQL) or collection (Mongo); prefix it with the plugin name, e.g. `notes_notes`. */
  table: string;
  properties: P;
  /** One list for SQL (the migration `migrate create` writes) and Mongo (ensured at boot). */
  indexes?: Array<{ properties: Array<keyof P & string>; unique?: boolean; name?: string }>;
  /** Scope the entity to the request's user through this property (see EntitySpec.ownedBy). */
  ownedBy?: O;
}

/** An EntitySpec that also carries its row type (and its owner property, stamped on create). */
export interface DefinedEntity<P extends Props, O extends string = never> extends EntitySpec {
  readonly __props?: P;
  readonly __owner?: O;
  /** The `p.array` properties (membership filters in `records().list`). */
  readonly arrays: string[];
}

/** The row type of an entity made by `defineEntity`: `type NoteRow = RowOf<typeof Note>`. */
export type RowOf<E> = E extends DefinedEntity<infer P, string>
  ? { id: string } & { -readonly [K in keyof P]: P[K] extends Prop<infer T> ? T : never }
  : never;

/** The properties `em.create` needs: all but the id, the owner and those with a default, an onCreate or null. */
export type CreateOf<E> = E extends DefinedEntity<infer P, infer O>
  ? { [K in Exclude<RequiredKeys<P>, O>]: RowOf<E>[K] } & { [K in keyof P]?: RowOf<E>[K] }
  : never;
type RequiredKeys<P extends Props> = {
  [K in keyof P]: P[K] extends Prop<infer T, infer D> ? (D extends true ? never : null extends T ? never : K) : never;
}[keyof P];

/** What a client sees of a row: no owner and no hidden property, dates as ISO strings (`records()`' view). */
export type ViewOf<E> = E extends DefinedEntity<infer P, infer O>
  ? { [K in Exclude<keyof RowOf<E>, O | HiddenKeys<P>>]: Wire<RowOf<E>[K]> }
  : never;
type HiddenKeys<P extends Props> = { [K in keyof P]: P[K] extends Prop<unknown, boolean, true> ? K : never }[keyof P];
type Wire<T> = T extends Date ? string : T;
/** The payload of the events `records()` publishes: the view plus the owner (subscribers need to know whose). */
export type EventOf<E> = E extends DefinedEntity<infer _P, infer O>
  ? ViewOf<E> & { [K in O]: RowOf<E>[K] }
  : never;

export function defineEntity(spec: EntitySpec): EntitySpec;
export function defineEntity<P extends Props, O extends keyof P & string = never>(
  name: string, declaration: EntityDeclaration<P, O>): DefinedEntity<P, O>;
export function defineEntity<P extends Props, O extends keyof P & string>(
  nameOrSpec: string | EntitySpec, declaration?: EntityDeclaration<P, O>,
): EntitySpec {
  if (typeof nameOrSpec !== 'string') return nameOrSpec;
  const d = declaration!;
  const properties: Record<string, PropertySpec> = {};
  const arrays: string[] = [];
  for (const [key, prop] of Object.entries(d.properties)) {
    if (prop.idMarker) continue;
    if (prop.arrayOf) arrays.push(key);
    const { arrayOf: _a, idMarker: _i, ...spec } = prop;
    properties[key] = spec;
  }
  if (d.ownedBy && !properties[d.ownedBy]) {
    throw new Error(`entity ${nameOrSpec}: ownedBy names ${d.ownedBy}, which is not a declared property`);
  }
  const indexes: IndexSpec[] | undefined = d.indexes?.map((i) => ({ ...i, properties: [...i.properties] }));
  const defined: DefinedEntity<P, O> = {
    name: nameOrSpec, table: d.table, properties, indexes, ownedBy: d.ownedBy, arrays,
  };
  return defined;
}
