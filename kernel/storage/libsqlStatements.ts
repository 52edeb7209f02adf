import { EventType, type MikroORM } from '@mikro-orm/core';
import { LibSqlKnexDialect } from '@mikro-orm/knex';
import { asTransaction, CapturedInserts, INSERT_RUNNER, type InsertRunner } from './insertBatch.ts';
import { LibsqlGroupCommit } from './libsqlGroupCommit.ts';

/**
 * A direct path for MikroORM on libsql. MikroORM inlines every parameter into the SQL text
 * (`platform.formatQuery`), runs it through knex's runner, and opens each transaction through
 * knex (a new knex instance per transaction): every query paid SQLite's compile of a fresh
 * text plus ~50 µs of knex, every transaction ~250 µs. Here MikroORM's connection runs its
 * statements on the pool's libsql connection itself: plain parameters are bound (the text
 * keeps its placeholders, so each connection prepares it once), others are inlined as MikroORM
 * does; transactions are BEGIN/COMMIT (savepoints when nested) on the connection taken from the
 * pool for the transaction's length, exactly as knex held it, with MikroORM's transaction events.
 * Queries MikroORM gives as knex builders, and knex's own (migrations), keep knex's path.
 */
export function reuseLibsqlStatements(orm: MikroORM): void {
  cachePreparedStatements();
  const connection = orm.em.getConnection() as unknown as SqlConnection;
  if (connection[BOUND]) return;
  connection[BOUND] = true;
  const inline = connection.execute;
  connection[INSERT_RUNNER] = (statements, options) => insertInOne(connection, statements, options);
  connection.execute = function execute(this: SqlConnection, query, params = [], method = 'all', ctx, loggerContext) {
    if (ctx instanceof CapturedInserts && typeof query === 'string') return ctx.record(query, params);
    const ours = ctx === undefined || ctx === null || ctx instanceof LibsqlTransaction;
    if (!ours || (typeof query !== 'string' && !ctx)) {
      return inline.call(this, query, params, method, ctx, loggerContext);
    }
    const trx = ctx as LibsqlTransaction | undefined;
    if (typeof query === 'string') return direct.call(this, query, params, method, trx, loggerContext);
    // A knex builder inside our transaction: its SQL, run on the transaction's connection.
    const built = (query as { toSQL(): { sql: string; bindings?: unknown[] } }).toSQL();
    return direct.call(this, built.sql, [...(built.bindings ?? [])], method, trx, loggerContext);
  };
  connection.begin = function begin(this: SqlConnection, options: BeginOptions = {}) {
    return beginTransaction(this, options);
  };
  connection.commit = function commit(this: SqlConnection, ctx, broadcaster, loggerContext) {
    return endTransaction(this, ctx as LibsqlTransaction, 'commit', broadcaster, loggerContext);
  };
  connection.rollback = function rollback(this: SqlConnection, ctx, broadcaster, loggerContext) {
    return endTransaction(this, ctx as LibsqlTransaction, 'rollback', broadcaster, loggerContext);
  };
}

/** A transaction on one raw connection held from the pool; `parent` when it is a savepoint. */
class LibsqlTransaction {
  done = false;
  constructor(
    readonly connection: RawConnection,
    readonly index = 0,
    readonly parent?: LibsqlTransaction,
    readonly savepointName?: string,
  ) {}
}

async function beginTransaction(c: SqlConnection, options: BeginOptions): Promise<LibsqlTransaction> {
  await c.ensureConnection();
  const parent = options.ctx as LibsqlTransaction | undefined;
  if (parent) {
    const name = `trx${parent.index + 1}`;
    const sql = c.getPlatform().getSavepointSQL(name);
    runOn(parent.connection, sql, []);
    c.logQuery(sql, options.loggerContext);
    return new LibsqlTransaction(parent.connection, parent.index + 1, parent, name);
  }
  await options.eventBroadcaster?.dispatchEvent(EventType.beforeTransactionStart);
  const client = c.getKnex().client;
  const raw = (await client.acquireConnection()) as RawConnection;
  try {
    runOn(raw, 'begin', []);
  } catch (err) {
    await client.releaseConnection(raw);
    throw err;
  }
  c.logQuery('begin', options.loggerContext);
  const trx = new LibsqlTransaction(raw);
  await options.eventBroadcaster?.dispatchEvent(EventType.afterTransactionStart, trx);
  return trx;
}

/**
 * COMMIT or ROLLBACK (RELEASE / ROLLBACK TO for a savepoint). A COMMIT that fails (SQLITE_BUSY
 * from another process) rolls back, so the connection goes back to the pool clean; the
 * rollback MikroORM calls next finds the transaction over.
 */
async function endTransaction(c: SqlConnection, trx: LibsqlTransaction, end: 'commit' | 'rollback',
  broadcaster: EventBroadcaster | undefined, loggerContext: unknown): Promise<void> {
  const root = !trx.parent;
  const [before, after] = end === 'commit'
    ? [EventType.beforeTransactionCommit, EventType.afterTransactionCommit]
    : [EventType.beforeTransactionRollback, EventType.afterTransactionRollback];
  if (root) await broadcaster?.dispatchEvent(before, trx);
  const platform = c.getPlatform();
  if (trx.savepointName) {
    const sql = end === 'commit'
      ? platform.getReleaseSavepointSQL(trx.savepointName)
      : platform.getRollbackToSavepointSQL(trx.savepointName);
    runOn(trx.connection, sql, []);
    c.logQuery(sql, loggerContext);
  } else if (!trx.done) {
    try {
      runOn(trx.connection, end, []);
    } catch (err) {
      if (end === 'rollback') throw err;
      try { runOn(trx.connection, 'rollback', []); } catch { /* the commit's error is the one to report */ }
      throw err;
    } finally {
      trx.done = true;
      await c.getKnex().client.releaseConnection(trx.connection);
    }
    c.logQuery(end, loggerContext);
  }
  if (root) await broadcaster?.dispatchEvent(after, trx);
}

async function direct(this: SqlConnection, query: string, params: unknown[], method: string,
  trx: LibsqlTransaction | undefined, loggerContext: unknown) {
  await this.ensureConnection();
  const sql = this.config.get('onQuery')(query, params);
  const bindings = params.length ? toBindings(sql, params) : [];
  const text = bindings ? sql : this.getPlatform().formatQuery(sql, params);
  const logged = this.getSql(sql, bindings ? lazyFormatted(this, sql, params) : text, loggerContext);
  const knex = this.getKnex();
  // knex's `query` event, as its runner emits it (listeners count queries; MikroORM's own one is a no-op).
  if (knex.listenerCount('query') > 1) knex.emit('query', { sql: text, bindings: bindings ?? [], method: 'raw' });
  return this.executeQuery(logged, async () => {
    if (trx) {
      if (trx.done) throw new Error('libsql: the transaction is already over');
      return this.transformRawResult(runOn(trx.connection, text, bindings ?? []), method);
    }
    const raw = (await knex.client.acquireConnection()) as RawConnection;
    try {
      return this.transformRawResult(runOn(raw, text, bindings ?? []), method);
    } finally {
      await knex.client.releaseConnection(raw);
    }
  }, { query: sql, params, ...(loggerContext as object) });
}

/**
 * The insert path's rows: one unit of a group commit (kernel/storage/libsqlGroupCommit.ts): BEGIN, the bound
 * statements of every unit that arrived in this turn (each in a savepoint when there are several), COMMIT on one
 * pooled connection, in one synchronous run (nothing else runs on the connection meanwhile), without MikroORM's
 * per-statement wrapper; queries are logged only when the query log is on.
 */
async function insertInOne(c: SqlConnection, statements: CapturedInserts['statements'],
  options: Parameters<InsertRunner>[1]): Promise<void> {
  await c.ensureConnection();
  const knex = c.getKnex();
  const logged = c.config.getLogger().isEnabled('query');
  const emits = knex.listenerCount('query') > 1;
  const texts = statements.map(({ sql: query, params }) => {
    const sql = c.config.get('onQuery')(query, params);
    const bindings = params.length ? toBindings(sql, params) : [];
    return { sql, params, bindings: bindings ?? [], inlined: !bindings,
      text: bindings ? sql : c.getPlatform().formatQuery(sql, params) };
  });
  await asTransaction(options, async () => {
    if (emits) for (const { bindings, text } of texts) knex.emit('query', { sql: text, bindings, method: 'raw' });
    await groupCommitOf(c).write({ statements: texts });
    if (!logged) return;
    c.logQuery('begin');
    for (const { sql, params, inlined, text } of texts) {
      c.logQuery(c.getSql(sql, inlined ? text : lazyFormatted(c, sql, params), undefined));
    }
    c.logQuery('commit');
  });
}

/** The connection's group commit, on its pool's raw connections. */
function groupCommitOf(c: SqlConnection): LibsqlGroupCommit {
  if (c[GROUP_COMMIT]) return c[GROUP_COMMIT];
  const client = c.getKnex().client;
  c[GROUP_COMMIT] = new LibsqlGroupCommit({
    acquire: () => client.acquireConnection() as Promise<RawConnection>,
    release: (raw) => client.releaseConnection(raw),
    run: (raw, sql, bindings) => runOn(raw as RawConnection, sql, bindings),
  });
  return c[GROUP_COMMIT];
}

/** The group commit of `orm`'s libsql connection, when the insert path has used one (tests read its stats). */
export function libsqlGroupCommitOf(orm: MikroORM): LibsqlGroupCommit | undefined {
  return (orm.em.getConnection() as unknown as SqlConnection)[GROUP_COMMIT];
}

/** Runs one statement as knex's libsql dialect would (`run` for writes without RETURNING, else `all`). */
function runOn(raw: RawConnection, sql: string, bindings: unknown[]): unknown {
  if (!raw[CACHED]) cacheOn(raw);
  const statement = raw.prepare(sql) as { run(b: unknown[]): unknown; all(b: unknown[]): unknown };
  const head = sql.trimStart().slice(0, 12).toLowerCase();
  const write = head.startsWith('insert into') || head.startsWith('update') || head.startsWith('delete') ||
    head.startsWith('truncate');
  return write && !/ returning /i.test(sql) ? statement.run(bindings) : statement.all(bindings);
}

/** `getSql` reads the formatted text only when query params are logged (debug): format it only then. */
function lazyFormatted(connection: SqlConnection, sql: string, params: unknown[]): string {
  const logger = connection.config.getLogger();
  return logger.isEnabled('query-params') ? connection.getPlatform().formatQuery(sql, params) : sql;
}

/**
 * The values as libsql binds them, with the meaning MikroORM's inlining gives them on SQLite
 * (Date: epoch ms; boolean: 1/0; undefined: NULL), or undefined when the statement must be
 * inlined: another kind of value, `??`/`\?` in the text, or placeholders not matching the values.
 */
function toBindings(sql: string, params: unknown[]): unknown[] | undefined {
  let marks = 0;
  for (let i = sql.indexOf('?'); i !== -1; i = sql.indexOf('?', i + 1)) {
    if (sql[i + 1] === '?' || sql[i - 1] === '\\') return undefined;
    marks++;
  }
  if (marks !== params.length) return undefined;
  const out = new Array<unknown>(params.length);
  for (let i = 0; i < params.length; i++) {
    const v = params[i];
    switch (typeof v) {
      case 'string':
      case 'number':
      case 'bigint':
        out[i] = v;
        break;
      case 'boolean':
        out[i] = v ? 1 : 0;
        break;
      case 'undefined':
        out[i] = null;
        break;
      default:
        if (v === null) out[i] = null;
        else if (v instanceof Date) out[i] = +v;
        else if (Buffer.isBuffer(v)) out[i] = v;
        else return undefined;
    }
  }
  return out;
}

const MAX_STATEMENTS = 300;
const MAX_SQL_LENGTH = 4096;
const CACHED = Symbol('kernel.preparedStatements');
const BOUND = Symbol('kernel.boundParams');
const GROUP_COMMIT = Symbol('kernel.groupCommit');
let dialectPatched = false;

/**
 * Each raw libsql connection keeps its statements by text (bounded, oldest dropped first).
 * libsql runs a statement to completion synchronously (`run`, `all`), so one prepared
 * statement is never used by two queries at once. Patched on the dialect's prototype because
 * knex's transaction clients are made from the prototype, not from the client instance.
 */
function cachePreparedStatements(): void {
  if (dialectPatched) return;
  dialectPatched = true;
  const proto = LibSqlKnexDialect.prototype as unknown as { _query(connection: RawConnection, obj: unknown): unknown };
  const query = proto._query;
  proto._query = function _query(connection: RawConnection, obj: unknown) {
    if (connection && !connection[CACHED]) cacheOn(connection);
    return query.call(this, connection, obj);
  };
}

function cacheOn(connection: RawConnection): void {
  const prepare = connection.prepare.bind(connection);
  const statements = new Map<string, unknown>();
  connection[CACHED] = statements;
  connection.prepare = (sql: string) => {
    if (sql.length > MAX_SQL_LENGTH) return prepare(sql);
    let statement = statements.get(sql);
    if (statement) return statement;
    statement = prepare(sql);
    if (statements.size >= MAX_STATEMENTS) statements.delete(statements.keys().next().value!);
    statements.set(sql, statement);
    return statement;
  };
}

interface RawConnection { prepare(sql: string): unknown; [CACHED]?: Map<string, unknown> }
interface EventBroadcaster { dispatchEvent(type: EventType, trx?: unknown): Promise<void> }
interface BeginOptions { ctx?: unknown; eventBroadcaster?: EventBroadcaster; loggerContext?: unknown }
interface PoolClient { acquireConnection(): Promise<unknown>; releaseConnection(connection: unknown): Promise<unknown> }
interface SqlConnection {
  [BOUND]?: boolean;
  [GROUP_COMMIT]?: LibsqlGroupCommit;
  [INSERT_RUNNER]?: InsertRunner;
  execute(query: unknown, params?: unknown[], method?: string, ctx?: unknown, loggerContext?: unknown):
    Promise<unknown>;
  begin(options?: BeginOptions): Promise<unknown>;
  commit(ctx: unknown, broadcaster?: EventBroadcaster, loggerContext?: unknown): Promise<void>;
  rollback(ctx: unknown, broadcaster?: EventBroadcaster, loggerContext?: unknown): Promise<void>;
  logQuery(sql: string, context?: unknown): void;
  ensureConnection(): Promise<void>;
  config: {
    get(key: 'onQuery'): (sql: string, params: unknown[]) => string;
    getLogger(): { isEnabled(namespace: string): boolean };
  };
  getPlatform(): {
    formatQuery(sql: string, params: unknown[]): string;
    getSavepointSQL(name: string): string;
    getReleaseSavepointSQL(name: string): string;
    getRollbackToSavepointSQL(name: string): string;
  };
  getSql(query: string, formatted: string, context: unknown): string;
  executeQuery<T>(query: string, cb: () => Promise<T>, context: object): Promise<T>;
  getKnex(): { client: PoolClient; listenerCount(event: string): number; emit(event: string, data: unknown): void };
  transformRawResult(res: unknown, method: string): unknown;
}
