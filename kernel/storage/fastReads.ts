import type { EntityManager, EntityMetadata, EntityProperty, MikroORM } from '@mikro-orm/core';
import type { Driver } from './entity.ts';
import type { QueryEvent } from './orm.ts';
import { OWNER_FILTER, ownerIdOf, scopeOf, type OwnerScope } from './ownership.ts';

/** A value a fast read compares with. */
export type Scalar = string | number | boolean | Date | null;
/** Equality, or one comparison operator, per property; all of them must hold (AND). */
export type Where = Record<string, Scalar | { $ne?: Scalar; $lt?: Scalar; $lte?: Scalar; $gt?: Scalar; $gte?: Scalar }>;
export interface FindOptions { orderBy?: Record<string, 'asc' | 'desc'>; limit?: number; fields?: string[] }

/**
 * Reads for hot paths: one prepared, parameterised statement per query shape, run on the
 * connection pool's connection (libsql: the statement is prepared once per connection;
 * PostgreSQL: a named prepared statement), rows mapped to the entity's property names and
 * JS types by MikroORM's own result mapper. No EntityManager fork, no query builder, no
 * identity map, no hydration: rows come back as plain data, not managed entities.
 *
 * Inside a transaction of the request's EntityManager the read goes through that
 * transaction's connection instead (so it sees the transaction's writes). Changes made to
 * managed entities and not flushed yet are not seen (it reads the database).
 *
 * An owned entity (`ownedBy`) is read with the request's owner scope, as through `em`
 * (kernel/storage/ownership.ts): another user's row is not found.
 */
export interface FastReads {
  /** One row matching `where`, or null. */
  findOne<T extends object>(entity: string, where: Where, options?: Pick<FindOptions, 'fields'>): Promise<T | null>;
  /** Rows matching `where`, ordered and limited. */
  find<T extends object>(entity: string, where: Where, options?: FindOptions): Promise<T[]>;
}

const OPS: Record<string, string> = { $eq: '=', $ne: '<>', $lt: '<', $lte: '<=', $gt: '>', $gte: '>=' };
const MAX_STATEMENTS = 500;
/** PostgreSQL prepared-statement names are per connection and shared by every path on the pool: unique per process. */
let statementNames = 0;

interface Compiled { sql: string; pgSql: string; name: string; props: EntityProperty[] }
type Row = Record<string, unknown>;
interface Statement {
  all(params: unknown[]): unknown[];
  get(params: unknown[]): unknown;
  raw(on?: boolean): Statement;
  columns(): Array<{ name: string }>;
  readonly reader: boolean;
}
/**
 * A statement that returns rows, prepared in raw mode (rows as arrays, no `_metadata`) with its result's column
 * names; one that returns none (an update without `returning`: libsql refuses raw mode there) without `columns`.
 */
interface RawStatement { statement: Statement; columns?: string[] }
/**
 * libsql (0.5) answers a `get` that follows an `all` on the same statement with the `all`'s stale row, and a
 * connection's `prepare` hands out one statement per text (kernel/storage/libsqlStatements.ts caches them, for
 * knex's queries too: MikroORM's run of a fast read's SQL in a transaction then shared its raw mode): a query's
 * `get` and `all` each have their own statement, prepared from a text of their own (a trailing comment) that
 * nothing else prepares.
 */
interface Prepared { one?: RawStatement; all?: RawStatement }
interface LibsqlConnection { prepare(sql: string): Statement }
interface PgConnection { query(q: { name: string; text: string; values: unknown[] }): Promise<{ rows: Row[] }> }

/** The kernel's fast read path over MikroORM's connection; `bind(em)` gives a request its view. */
export class FastReadPath {
  private readonly compiled = new Map<string, Compiled>();
  private readonly statements = new WeakMap<object, Map<string, Prepared>>();
  /** Metadata by entity name (fixed once the ORM is up); MikroORM's `find` builds a lookup key per call. */
  private readonly metas = new Map<string, EntityMetadata>();
  private readonly customProps = new WeakMap<EntityMetadata, EntityProperty[]>();

  /** `onQuery` (telemetry's DB spans) gets the statement with its placeholders, never the values. */
  constructor(
    private readonly orm: MikroORM,
    readonly driver: Driver,
    private readonly onQuery?: (e: QueryEvent) => void,
  ) {}

  /** The path for `orm`'s driver (read from its platform). */
  static for(orm: MikroORM, onQuery?: (e: QueryEvent) => void): FastReadPath {
    const platform = orm.em.getPlatform().constructor.name.toLowerCase();
    const driver: Driver = platform.includes('mongo')
      ? 'mongodb'
      : platform.includes('postgre')
        ? 'postgresql'
        : 'sqlite';
    return new FastReadPath(orm, driver, onQuery);
  }

  /**
   * Reads that follow `em`'s transaction when it has one (`em` may be absent: outside a request).
   * `owner` gives owned entities' scope (else `em`'s, else none: an owned entity then throws).
   */
  bind(em?: () => EntityManager | undefined, owner?: () => OwnerScope): FastReads {
    return new BoundReads(this, { currentEm: () => em?.(), ownerScope: owner });
  }

  /** `bind` for a source that is one object already (a request's context): no closures made. */
  bindTo(source: ReadSource): FastReads {
    return new BoundReads(this, source);
  }

  /** @internal BoundReads' one entry: `where` scoped to the owner, then read. */
  read(entity: string, where: Where, options: FindOptions, source: ReadSource, one: boolean): Promise<object[]> {
    try {
      return Promise.resolve(this.readNow(entity, where, options, source, one));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * @internal `read`, with the rows themselves when they could be read at once (a free libsql
   * connection): no promise to wait for. Throws what `read` rejects with.
   */
  readNow(entity: string, where: Where, options: FindOptions, source: ReadSource, one: boolean):
    object[] | Promise<object[]> {
    const em = source.currentEm();
    const scope = source.ownerScope?.() ?? scopeOf(em);
    const meta = this.meta(entity);
    return this.run(meta, this.scoped(meta, where, scope), options, em, one);
  }

  /**
   * One statement the kernel wrote itself (`?` placeholders, plain lowercase identifiers, a
   * `returning` clause when rows are wanted), prepared and reused like the reads, on the pool's
   * connection outside any transaction. SQL drivers only.
   */
  async statement(sql: string, params: Scalar[]): Promise<Row[]> {
    if (this.driver === 'mongodb') throw new Error('fast statement: SQL drivers only');
    let compiled = this.compiled.get(sql);
    if (!compiled) {
      let n = 0;
      compiled = { sql, pgSql: sql.replace(/\?/g, () => `$${++n}`), name: `kernel_fast_${++statementNames}`, props: [] };
      if (this.compiled.size >= MAX_STATEMENTS) this.compiled.clear();
      this.compiled.set(sql, compiled);
    }
    const started = this.onQuery ? performance.now() : 0;
    const rows = await this.execute(compiled, params.map((p) => this.toDb(p)), false);
    this.onQuery?.({ query: sql, tookMs: performance.now() - started });
    return rows;
  }

  /** `where` narrowed to the owner, for an owned entity (its schema carries the owner filter). */
  private scoped(meta: EntityMetadata, where: Where, scope: OwnerScope | undefined): Where {
    const ownedBy = (meta.filters?.[OWNER_FILTER] as { ownedBy?: string } | undefined)?.ownedBy;
    if (!ownedBy || (scope && 'unscoped' in scope)) return where;
    // As `{ ...where, [ownedBy]: owner }` (ownerCondition), copied in a loop: a hot read makes one object, not two.
    const out: Where = {};
    for (const name in where) out[name] = where[name];
    out[ownedBy] = ownerIdOf(meta.className, scope);
    return out;
  }

  private run(meta: EntityMetadata, where: Where, options: FindOptions, em: EntityManager | undefined, one: boolean):
    object[] | Promise<object[]> {
    if (this.driver === 'mongodb') return this.mongo(meta.className, where, options, em);
    const { key, params } = this.shape(meta, where, options);
    let compiled = this.compiled.get(key);
    if (!compiled) {
      compiled = this.compile(meta, where, options);
      if (this.compiled.size >= MAX_STATEMENTS) this.compiled.clear();
      this.compiled.set(key, compiled);
    }
    if (em?.isInTransaction()) return this.inTransaction(meta, compiled, params, em);
    // A free libsql connection runs in place, without execute's promise (no microtask hop per read).
    const free = this.freeLibsql();
    if (!free) return this.acquired(meta, compiled, params, one);
    const started = this.onQuery ? performance.now() : 0;
    const rows = this.runLibsql(free, compiled, params, one);
    this.onQuery?.({ query: compiled.sql, tookMs: performance.now() - started });
    return this.map(meta, rows);
  }

  /** Through MikroORM, on the transaction's connection (it reports the query to onQuery itself). */
  private async inTransaction(meta: EntityMetadata, compiled: Compiled, params: unknown[], em: EntityManager) {
    const rows: Row[] = await em.getConnection().execute(compiled.sql, params, 'all', em.getTransactionContext());
    return this.map(meta, rows);
  }

  /** On a connection acquired from the pool (PostgreSQL; libsql when every connection is taken). */
  private async acquired(meta: EntityMetadata, compiled: Compiled, params: unknown[], one: boolean) {
    const started = this.onQuery ? performance.now() : 0;
    const rows = await this.execute(compiled, params, one);
    this.onQuery?.({ query: compiled.sql, tookMs: performance.now() - started });
    return this.map(meta, rows);
  }

  /** MikroORM's result mapper (columns to properties, dates, booleans), then custom types (JSON) as its hydrator. */
  private map(meta: EntityMetadata, rows: Row[]): object[] {
    const comparator = this.orm.em.getComparator();
    const platform = this.orm.em.getPlatform();
    let custom = this.customProps.get(meta);
    if (!custom) this.customProps.set(meta, (custom = meta.props.filter((p) => p.customType)));
    // A loop, not rows.map(closure): no function made (and named, under keepNames) per read.
    const out: object[] = new Array(rows.length);
    for (let i = 0; i < rows.length; i++) {
      const data = comparator.mapResult(meta.className, rows[i]) as Row;
      for (let j = 0; j < custom.length; j++) {
        const prop = custom[j];
        const value = data[prop.name];
        if (value !== null && value !== undefined) data[prop.name] = prop.customType!.convertToJSValue(value, platform);
      }
      out[i] = data;
    }
    return out;
  }

  private knexClient(): KnexClient {
    return (this.orm.em.getConnection() as unknown as { getKnex(): { client: KnexClient } }).getKnex().client;
  }

  /**
   * libsql runs a statement to completion synchronously: a connection free in the pool now (no transaction holds
   * it) is used in place, with nothing able to take it meanwhile; the pool's acquire is two promises and a timer.
   */
  private freeLibsql(): LibsqlConnection | undefined {
    if (this.driver !== 'sqlite') return undefined;
    return this.knexClient().pool?.free?.[0]?.resource as LibsqlConnection | undefined;
  }

  private async execute(compiled: Compiled, params: unknown[], one: boolean): Promise<Array<Record<string, unknown>>> {
    const client = this.knexClient();
    const free = this.freeLibsql();
    if (free) return this.runLibsql(free, compiled, params, one);
    const connection = await client.acquireConnection();
    try {
      if (this.driver === 'postgresql') {
        const query = { name: compiled.name, text: compiled.pgSql, values: params };
        return (await (connection as PgConnection).query(query)).rows;
      }
      return this.runLibsql(connection as LibsqlConnection, compiled, params, one);
    } finally {
      await client.releaseConnection(connection);
    }
  }

  private runLibsql(connection: LibsqlConnection, compiled: Compiled, params: unknown[], one: boolean): Row[] {
    let cache = this.statements.get(connection);
    if (!cache) this.statements.set(connection, (cache = new Map()));
    let prepared = cache.get(compiled.sql);
    if (!prepared) cache.set(compiled.sql, (prepared = {}));
    if (one) {
      // `get` is one native call (`all` iterates in JS); raw, the row is an array (no `_metadata` to delete).
      const { statement, columns } = (prepared.one ??= prepareRaw(connection, `${compiled.sql} /* fast one */`));
      const row = statement.get(params) as unknown[] | Row | undefined;
      if (!row) return [];
      if (columns) return [toRow(columns, row as unknown[])];
      delete (row as Row)._metadata;
      return [row as Row];
    }
    const { statement, columns } = (prepared.all ??= prepareRaw(connection, `${compiled.sql} /* fast all */`));
    if (!columns) return statement.all(params) as Row[];
    const rows = statement.all(params) as unknown[][];
    const out: Row[] = new Array(rows.length);
    for (let i = 0; i < rows.length; i++) out[i] = toRow(columns, rows[i]);
    return out;
  }

  private meta(entity: string): EntityMetadata {
    let meta = this.metas.get(entity);
    if (!meta) {
      meta = this.orm.getMetadata().find(entity);
      if (!meta) throw new Error(`fast read: unknown entity ${entity}`);
      this.metas.set(entity, meta);
    }
    return meta;
  }

  /** The query's shape (what its SQL depends on) and its parameters, in one pass. */
  private shape(meta: EntityMetadata, where: Where, options: FindOptions): { key: string; params: unknown[] } {
    let key = meta.className;
    const params: unknown[] = [];
    for (const name in where) {
      const value = where[name];
      if (isOperator(value)) {
        for (const op in value) {
          key += `|${name}${op}`;
          params.push(this.toDb((value as Record<string, Scalar>)[op]));
        }
      } else {
        key += value === null ? `|${name}null` : `|${name}`;
        if (value !== null) params.push(this.toDb(value));
      }
    }
    if (options.orderBy) for (const name in options.orderBy) key += `^${name}${options.orderBy[name]}`;
    if (options.fields) key += `#${options.fields.join(',')}`;
    if (options.limit !== undefined) {
      key += '@';
      params.push(options.limit);
    }
    return { key, params };
  }

  private compile(meta: EntityMetadata, where: Where, options: FindOptions): Compiled {
    const platform = this.orm.em.getPlatform();
    const q = (id: string) => platform.quoteIdentifier(id);
    const column = (name: string) => {
      const prop = meta.properties[name];
      if (!prop?.fieldNames?.length || prop.kind !== 'scalar') {
        throw new Error(`fast read: ${meta.className} has no column property ${name}`);
      }
      return prop;
    };
    const props = options.fields
      ? [...new Set([...meta.primaryKeys, ...options.fields])].map(column)
      : meta.props.filter((p) => p.kind === 'scalar' && p.fieldNames?.length && p.persist !== false);
    const conditions: string[] = [];
    for (const name in where) {
      const field = q(column(name).fieldNames[0]);
      const value = where[name];
      if (isOperator(value)) {
        for (const op in value) {
          if (!OPS[op]) throw new Error(`fast read: unsupported operator ${op} (use ${Object.keys(OPS).join(', ')})`);
          conditions.push(`${field} ${OPS[op]} ?`);
        }
      } else {
        conditions.push(value === null ? `${field} is null` : `${field} = ?`);
      }
    }
    let sql = `select ${props.map((p) => q(p.fieldNames[0])).join(', ')} from ${q(meta.tableName)}`;
    if (conditions.length) sql += ` where ${conditions.join(' and ')}`;
    if (options.orderBy) {
      const order = Object.entries(options.orderBy).map(
        ([name, dir]) => `${q(column(name).fieldNames[0])} ${dir === 'desc' ? 'desc' : 'asc'}`,
      );
      sql += ` order by ${order.join(', ')}`;
    }
    if (options.limit !== undefined) sql += ' limit ?';
    let n = 0;
    return { sql, pgSql: sql.replace(/\?/g, () => `$${++n}`), name: `kernel_fast_${++statementNames}`, props };
  }

  /** A where value as the driver binds it: libsql takes neither booleans nor Dates. */
  private toDb(value: Scalar | undefined): unknown {
    if (value === undefined) throw new Error('fast read: undefined in where');
    if (this.driver !== 'sqlite') return value;
    if (typeof value === 'boolean') return value ? 1 : 0;
    if (value instanceof Date) return value.getTime();
    return value;
  }

  /** MongoDB: the driver's own find (no prepared statements there), still without the identity map or hydration. */
  private async mongo(entity: string, where: Where, options: FindOptions, em?: EntityManager): Promise<object[]> {
    const ctx = em?.isInTransaction() ? em.getTransactionContext() : undefined;
    const found = { orderBy: options.orderBy as never, limit: options.limit, ctx };
    const rows = (await this.orm.em.getDriver().find(entity, where as never, found)) as Row[];
    return rows.map((row) => (row.id === undefined && row._id !== undefined ? { ...row, id: String(row._id) } : row));
  }
}

/** What a bound view reads with: the EntityManager whose transaction it follows, and the owner scope. */
export interface ReadSource {
  currentEm(): EntityManager | undefined;
  /** Owned entities' scope; without it, `currentEm()`'s. */
  ownerScope?(): OwnerScope;
}

/** findOne's options without `fields` (read only: shape and compile never write to options). */
const ONE: FindOptions = Object.freeze({ limit: 1 });

/** A FastReads view (a class: methods on the prototype, nothing made per request but the object). */
class BoundReads implements FastReads {
  constructor(private readonly path: FastReadPath, private readonly source: ReadSource) {}

  findOne<T extends object>(entity: string, where: Where, options?: Pick<FindOptions, 'fields'>): Promise<T | null> {
    const one = options?.fields ? { fields: options.fields, limit: 1 } : ONE;
    let rows: object[] | Promise<object[]>;
    try {
      rows = this.path.readNow(entity, where, one, this.source, true);
    } catch (err) {
      return Promise.reject(err);
    }
    // Rows read at once: one resolved promise, not an async function awaiting another.
    if (Array.isArray(rows)) return Promise.resolve(((rows as T[])[0] ?? null) as T | null);
    return rows.then(firstOrNull) as Promise<T | null>;
  }

  async find<T extends object>(entity: string, where: Where, options?: FindOptions): Promise<T[]> {
    return (await this.path.read(entity, where, options ?? {}, this.source, false)) as T[];
  }
}

interface KnexClient {
  acquireConnection(): Promise<object>;
  releaseConnection(connection: object): Promise<unknown>;
  /** knex's tarn pool: `free` holds the connections no one has acquired. */
  pool?: { free?: Array<{ resource: object }> };
}

function firstOrNull(rows: object[]): object | null {
  return rows[0] ?? null;
}

function prepareRaw(connection: LibsqlConnection, sql: string): RawStatement {
  const statement = connection.prepare(sql);
  if (!statement.reader) return { statement };
  statement.raw(true);
  return { statement, columns: statement.columns().map((c) => c.name) };
}

/** A raw row as libsql's object rows are: keyed by the result's column names. */
function toRow(columns: string[], values: unknown[]): Row {
  const row: Row = {};
  for (let i = 0; i < columns.length; i++) row[columns[i]] = values[i];
  return row;
}

function isOperator(value: unknown): value is Record<string, Scalar> {
  return typeof value === 'object' && value !== null && !(value instanceof Date);
}
