import { EventType, type MikroORM } from '@mikro-orm/core';
import { asTransaction, CapturedInserts, INSERT_RUNNER, type InsertRunner } from './insertBatch.ts';
import { PgInsertGroups } from './pgInsertGroups.ts';

/**
 * A direct path for the kernel's insert flush (kernel/storage/insertFlush.ts) on PostgreSQL.
 * MikroORM runs every statement through knex with its parameters inlined into the text
 * (`platform.formatQuery`, then `knex.raw`, a new text for PostgreSQL to parse each time), and
 * opens each transaction through knex (a transaction client per transaction): about half of a
 * note-plus-outbox flush's CPU. A transaction begun with `{ [DIRECT_TRANSACTION]: true }`
 * instead holds one pg client from knex's pool, runs BEGIN/COMMIT on it, and its statements
 * as named prepared statements with bound values (each connection parses a text once), with
 * MikroORM's transaction events, query logging and error conversion. Every other statement and
 * transaction keeps MikroORM's path, untouched.
 */
export const DIRECT_TRANSACTION = Symbol('kernel.directTransaction');

export function directPgTransactions(orm: MikroORM): void {
  const connection = orm.em.getConnection() as unknown as PgConnection;
  if (connection[PATCHED]) return;
  connection[PATCHED] = true;
  const { execute, begin, commit, rollback } = connection;
  connection.begin = function (this: PgConnection, options: BeginOptions = {}) {
    if (!options[DIRECT_TRANSACTION] || options.ctx) return begin.call(this, options);
    return beginDirect(this, options);
  };
  connection.commit = function (this: PgConnection, ctx, broadcaster, loggerContext) {
    if (!(ctx instanceof PgTransaction)) return commit.call(this, ctx, broadcaster, loggerContext);
    return endDirect(this, ctx, 'commit', broadcaster, loggerContext);
  };
  connection.rollback = function (this: PgConnection, ctx, broadcaster, loggerContext) {
    if (!(ctx instanceof PgTransaction)) return rollback.call(this, ctx, broadcaster, loggerContext);
    return endDirect(this, ctx, 'rollback', broadcaster, loggerContext);
  };
  connection[INSERT_RUNNER] = (statements, options) => insertAsOne(connection, statements, options);
  connection.execute = function (this: PgConnection, query, params = [], method = 'all', ctx, loggerContext) {
    if (ctx instanceof CapturedInserts && typeof query === 'string') return ctx.record(query, params);
    if (!(ctx instanceof PgTransaction) || typeof query !== 'string') {
      return execute.call(this, query, params, method, ctx, loggerContext);
    }
    return run(this, query, params, method, ctx, loggerContext);
  };
}

const PATCHED = Symbol('kernel.pgDirect');
const GROUPS = Symbol('kernel.pgInsertGroups');
const MAX_NAMES = 500;
/** Statement names by text, shared by every client of the process (pg keeps each client's parsed ones). */
const names = new Map<string, string>();
let named = 0;

class PgTransaction {
  done = false;
  constructor(readonly client: PgClient) {}
}

async function beginDirect(c: PgConnection, options: BeginOptions): Promise<PgTransaction> {
  await options.eventBroadcaster?.dispatchEvent(EventType.beforeTransactionStart);
  const pool = c.getKnex().client;
  const client = (await pool.acquireConnection()) as PgClient;
  try {
    await client.query('begin');
  } catch (err) {
    await pool.releaseConnection(client);
    throw err;
  }
  c.logQuery('begin', options.loggerContext);
  const trx = new PgTransaction(client);
  await options.eventBroadcaster?.dispatchEvent(EventType.afterTransactionStart, trx);
  return trx;
}

/** COMMIT or ROLLBACK; a COMMIT that fails is rolled back, so the client goes back to the pool clean. */
async function endDirect(c: PgConnection, trx: PgTransaction, end: 'commit' | 'rollback',
  broadcaster: EventBroadcaster | undefined, loggerContext: unknown): Promise<void> {
  const [before, after] = end === 'commit'
    ? [EventType.beforeTransactionCommit, EventType.afterTransactionCommit]
    : [EventType.beforeTransactionRollback, EventType.afterTransactionRollback];
  await broadcaster?.dispatchEvent(before, trx);
  if (!trx.done) {
    trx.done = true;
    try {
      await trx.client.query(end);
    } catch (err) {
      if (end === 'commit') await trx.client.query('rollback').catch(() => {});
      throw err;
    } finally {
      await c.getKnex().client.releaseConnection(trx.client);
    }
    c.logQuery(end, loggerContext);
  }
  await broadcaster?.dispatchEvent(after, trx);
}

async function run(c: PgConnection, query: string, params: unknown[], method: string, trx: PgTransaction,
  loggerContext: unknown): Promise<unknown> {
  const sql = c.config.get('onQuery')(query, params);
  const bound = toPgBindings(sql, params);
  const formatted = bound ? undefined : c.getPlatform().formatQuery(sql, params);
  const logged = c.getSql(sql, formatted ?? lazyFormatted(c, sql, params), loggerContext);
  return c.executeQuery(logged, async () => {
    if (trx.done) throw new Error('pg: the transaction is already over');
    const res = bound
      ? await trx.client.query({ name: nameOf(bound.text), text: bound.text, values: bound.values })
      : await trx.client.query(formatted!);
    return c.transformRawResult(res, method);
  }, { query: sql, params, ...(loggerContext as object) });
}

/**
 * The insert path's rows as one statement: every insert but the last a data-modifying CTE
 * (`with w1 as (insert ...), w2 as (...) insert ...`). A statement is its own transaction on
 * PostgreSQL, so the rows are written together or not at all (constraints, foreign keys included,
 * are checked at its end), in one round trip instead of BEGIN, one per row and COMMIT.
 */
async function insertAsOne(c: PgConnection, statements: CapturedInserts['statements'],
  options: Parameters<InsertRunner>[1]): Promise<void> {
  // Grouped with the turn's other units (the query log shows the group's statement). A value that does not bind
  // makes its group's statement inlined, as it made its own.
  await asTransaction(options, () => groupsOf(c).write({ statements }));
}

/** The statements as one: every insert but the last a data-modifying CTE. */
async function sendAsOne(c: PgConnection, statements: CapturedInserts['statements']): Promise<void> {
  const last = statements.length - 1;
  const query = last === 0 ? statements[0].sql : 'with ' +
    statements.slice(0, last).map((s, i) => `"kernel_w${i + 1}" as (${s.sql})`).join(', ') + ' ' +
    statements[last].sql;
  const params = statements.length === 1 ? statements[0].params : statements.flatMap((s) => s.params);
  const sql = c.config.get('onQuery')(query, params);
  const bound = toPgBindings(sql, params);
  const formatted = bound ? undefined : c.getPlatform().formatQuery(sql, params);
  const pool = c.getKnex().client;
  const client = (await pool.acquireConnection()) as PgClient;
  const write = () => (bound
    ? client.query({ name: nameOf(bound.text), text: bound.text, values: bound.values })
    : client.query(formatted!));
  try {
    if (!c.config.getLogger().isEnabled('query')) await write();
    else await c.executeQuery(c.getSql(sql, formatted ?? lazyFormatted(c, sql, params), undefined), write,
      { query: sql, params });
  } finally {
    await pool.releaseConnection(client);
  }
}

function groupsOf(c: PgConnection): PgInsertGroups {
  return (c[GROUPS] ??= new PgInsertGroups({ send: (statements) => sendAsOne(c, statements) }));
}

/** The insert groups of `orm`'s PostgreSQL connection, once the insert path has used them (tests read the stats). */
export function pgInsertGroupsOf(orm: MikroORM): PgInsertGroups | undefined {
  return (orm.em.getConnection() as unknown as PgConnection)[GROUPS];
}

function nameOf(text: string): string {
  let name = names.get(text);
  if (!name) {
    if (names.size >= MAX_NAMES) names.clear();
    names.set(text, (name = `kernel_direct_${++named}`));
  }
  return name;
}

/** `getSql` reads the formatted text only when query params are logged (debug): format it only then. */
function lazyFormatted(c: PgConnection, sql: string, params: unknown[]): string {
  return c.config.getLogger().isEnabled('query-params') ? c.getPlatform().formatQuery(sql, params) : sql;
}

/**
 * `?` placeholders as `$n` with the values pg binds, meaning what MikroORM's inlining means
 * (Date: the instant, as ISO text; undefined: NULL), or undefined when the statement must be
 * inlined: another kind of value (arrays, objects, buffers), `??`/`\?` in the text, a quote
 * or a `$` in it (a `?` could be inside a literal), or placeholders not matching the values.
 */
export function toPgBindings(sql: string, params: unknown[]): { text: string; values: unknown[] } | undefined {
  if (sql.includes("'") || sql.includes('$')) return undefined;
  const values = new Array<unknown>(params.length);
  for (let i = 0; i < params.length; i++) {
    const v = params[i];
    switch (typeof v) {
      case 'string':
      case 'number':
      case 'boolean':
        values[i] = v;
        break;
      case 'bigint':
        values[i] = String(v);
        break;
      case 'undefined':
        values[i] = null;
        break;
      default:
        if (v === null) values[i] = null;
        else if (v instanceof Date) values[i] = v.toISOString();
        else return undefined;
    }
  }
  let n = 0;
  let text = '';
  let from = 0;
  for (let i = sql.indexOf('?'); i !== -1; i = sql.indexOf('?', i + 1)) {
    if (sql[i + 1] === '?' || sql[i - 1] === '\\') return undefined;
    text += `${sql.slice(from, i)}$${++n}`;
    from = i + 1;
  }
  if (n !== params.length) return undefined;
  return { text: text + sql.slice(from), values };
}

interface PgClient { query(q: string | { name: string; text: string; values: unknown[] }): Promise<unknown> }
interface EventBroadcaster { dispatchEvent(type: EventType, trx?: unknown): Promise<void> }
interface BeginOptions { ctx?: unknown; eventBroadcaster?: EventBroadcaster; loggerContext?: unknown;
  [DIRECT_TRANSACTION]?: boolean }
interface PgConnection {
  [PATCHED]?: boolean;
  [GROUPS]?: PgInsertGroups;
  [INSERT_RUNNER]?: InsertRunner;
  execute(query: unknown, params?: unknown[], method?: string, ctx?: unknown, loggerContext?: unknown):
    Promise<unknown>;
  begin(options?: BeginOptions): Promise<unknown>;
  commit(ctx: unknown, broadcaster?: EventBroadcaster, loggerContext?: unknown): Promise<void>;
  rollback(ctx: unknown, broadcaster?: EventBroadcaster, loggerContext?: unknown): Promise<void>;
  logQuery(sql: string, context?: unknown): void;
  config: {
    get(key: 'onQuery'): (sql: string, params: unknown[]) => string;
    getLogger(): { isEnabled(namespace: string): boolean };
  };
  getPlatform(): { formatQuery(sql: string, params: unknown[]): string };
  getSql(query: string, formatted: string, context: unknown): string;
  executeQuery<T>(query: string, cb: () => Promise<T>, context: object): Promise<T>;
  getKnex(): { client: { acquireConnection(): Promise<unknown>; releaseConnection(c: unknown): Promise<unknown> } };
  transformRawResult(res: unknown, method: string): unknown;
}
