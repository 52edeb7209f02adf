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
export interface Prop<T, D extends boolean = boolean> extends PropertySpec {
  /** Never set: carry the types. */
  readonly __value?: T;
  readonly __optional?: D;
  /** The `id` marker: the kernel gives every entity its UUIDv7 `id`. */
  readonly idMarker?: true;
  /** An array of scalars, stored as JSON on SQL (filter with `whereHasTag`). */
  readonly arrayOf?: PropertySpec['type'];
}

interface Common<N extends boolean> { nullable?: N; hidden?: boolean }
type Maybe<T, N> = N extends true ? T | null : T;
type Has<D> = [D] extends [undefined] ? false : true;
type Scalar<T> = <N extends boolean = false, D extends T | undefined = undefined>(
  o?: Common<N> & { default?: D },
) => Prop<Maybe<T, N>, Has<D>>;

const scalar = <T extends string | number | boolean>(type: PropertySpec['type']): Scalar<T> =>
  (o = {}) => ({ type, ...o });

export const p = {
  /** The UUIDv7 primary key every entity has (declare it to see it in the row type). */
  id: (): Prop<string, true> => ({ type: 'string', length: 36, idMarker: true }),
  string: <N extends boolean = false, D extends string | undefined = undefined>(
    o: Common<N> & { length?: number; default?: D } = {},
  ): Prop<Maybe<string, N>, Has<D>> => ({ type: 'string', ...o }),
  text: scalar<string>('text'),
  integer: scalar<number>('integer'),
  /** A 64-bit integer, read as a JS number. */
  bigint: scalar<number>('bigint'),
  number: scalar<number>('number'),
  boolean: scalar<boolean>('boolean'),
  datetime: <N extends boolean = false>(o: Common<N> = {}): Prop<Maybe<Date, N>, false> => ({ type: 'datetime', ...o }),
  json: <T, N extends boolean = false>(o: Common<N> = {}): Prop<Maybe<T, N>, false> => ({ type: 'json', ...o }),
  /**
   * An array of strings or numbers: JSON on SQL (jsonb on PostgreSQL), a native array on Mongo;
   * `[]` on create when unset and as the column default. Filter with `whereHasTag`.
   */
  array: <T>(of: Prop<T>, o: { hidden?: boolean } = {}): Prop<T[], true> =>
    ({ type: 'json', arrayOf: of.type, default: '[]', onCreate: () => [], ...o }),
  /** Set once, on insert. */
  createdAt: (): Prop<Date, true> => ({ type: 'datetime', onCreate: () => new Date() }),
  /** Set on insert and on every update. */
  updatedAt: (): Prop<Date, true> => ({ type: 'datetime', onCreate: () => new Date(), onUpdate: () => new Date() }),
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
}

/** The row type of an entity made by `defineEntity`: `type NoteRow = RowOf<typeof Note>`. */
export type RowOf<E> = E extends DefinedEntity<infer P, string>
  ? { id: string } & { -readonly [K in keyof P]: P[K] extends Prop<infer T> ? T : never }
  : never;

/** The properties `em.create` needs: those without a default, an onCreate, the id or the owner. */
export type CreateOf<E> = E extends DefinedEntity<infer P, infer O>
  ? { [K in Exclude<RequiredKeys<P>, O>]: RowOf<E>[K] } & { [K in keyof P]?: RowOf<E>[K] }
  : never;
type RequiredKeys<P extends Props> = { [K in keyof P]: P[K] extends Prop<unknown, true> ? never : K }[keyof P];

export function defineEntity(spec: EntitySpec): EntitySpec;
export function defineEntity<P extends Props, O extends keyof P & string = never>(
  name: string, declaration: EntityDeclaration<P, O>): DefinedEntity<P, O>;
export function defineEntity<P extends Props, O extends keyof P & string>(
  nameOrSpec: string | EntitySpec, declaration?: EntityDeclaration<P, O>,
): EntitySpec {
  if (typeof nameOrSpec !== 'string') return nameOrSpec;
  const d = declaration!;
  const properties: Record<string, PropertySpec> = {};
  for (const [key, prop] of Object.entries(d.properties)) {
    if (prop.idMarker) continue;
    const { arrayOf: _a, idMarker: _i, ...spec } = prop;
    properties[key] = spec;
  }
  if (d.ownedBy && !properties[d.ownedBy]) {
    throw new Error(`entity ${nameOrSpec}: ownedBy names ${d.ownedBy}, which is not a declared property`);
  }
  const indexes: IndexSpec[] | undefined = d.indexes?.map((i) => ({ ...i, properties: [...i.properties] }));
  return { name: nameOrSpec, table: d.table, properties, indexes, ownedBy: d.ownedBy };
}
