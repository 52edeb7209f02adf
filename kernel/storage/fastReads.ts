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
interface Statement { all(params: unknown[]): Row[]; get(params: unknown[]): Row | undefined }
interface LibsqlConnection { prepare(sql: string): Statement }
interface PgConnection { query(q: { name: string; text: string; values: unknown[] }): Promise<{ rows: Row[] }> }

/** The kernel's fast read path over MikroORM's connection; `bind(em)` gives a request its view. */
export class FastReadPath {
  private readonly compiled = new Map<string, Compiled>();
  private readonly statements = new WeakMap<object, Map<string, Statement>>();
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

  private async run(meta: EntityMetadata, where: Where, options: FindOptions, em?: EntityManager, one = false) {
    if (this.driver === 'mongodb') return this.mongo(meta.className, where, options, em);
    const { key, params } = this.shape(meta, where, options);
    let compiled = this.compiled.get(key);
    if (!compiled) {
      compiled = this.compile(meta, where, options);
      if (this.compiled.size >= MAX_STATEMENTS) this.compiled.clear();
      this.compiled.set(key, compiled);
    }
    if (em?.isInTransaction()) {
      // Through MikroORM, which reports the query to onQuery itself.
      const rows: Row[] = await em.getConnection().execute(compiled.sql, params, 'all', em.getTransactionContext());
      return this.map(meta, rows);
    }
    const started = this.onQuery ? performance.now() : 0;
    // A free libsql connection runs in place, without execute's promise (one microtask hop less per read).
    const free = this.freeLibsql();
    const rows = free ? this.runLibsql(free, compiled, params, one) : await this.execute(compiled, params, one);
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
    let statement = cache.get(compiled.sql);
    if (!statement) {
      statement = connection.prepare(compiled.sql);
      cache.set(compiled.sql, statement);
    }
    if (!one) return statement.all(params);
    // `get` is one native call (`all` iterates in JS); libsql adds its timing to the row.
    const row = statement.get(params);
    if (!row) return [];
    delete row._metadata;
    return [row];
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

  async findOne<T extends object>(entity: string, where: Where, options?: Pick<FindOptions, 'fields'>) {
    const one = options?.fields ? { fields: options.fields, limit: 1 } : ONE;
    const rows = await this.path.read(entity, where, one, this.source, true);
    return ((rows as T[])[0] ?? null) as T | null;
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

function isOperator(value: unknown): value is Record<string, Scalar> {
  return typeof value === 'object' && value !== null && !(value instanceof Date);
}
