import { MikroORM, type Options, type EntitySchema, type LoggerNamespace } from '@mikro-orm/core';
import type { Logger } from 'pino';
import type { KernelConfig } from '../config/schema.ts';
import type { Driver } from './entity.ts';
import { OwnerGuard } from './ownership.ts';
import { checkpointInBackground, WAL_AUTOCHECKPOINT_PAGES } from './walCheckpointer.ts';

export interface QueryEvent { query: string; tookMs?: number }

/**
 * Opens MikroORM on the configured driver. Drivers are imported on demand, so a
 * deployment on SQLite never loads the PostgreSQL or Mongo client.
 */
export async function openOrm(
  db: KernelConfig['database'],
  entities: EntitySchema[],
  logger: Logger,
  onQuery?: (e: QueryEvent) => void,
): Promise<MikroORM> {
  const common: Options = {
    entities,
    discovery: { warnWhenNoEntities: false },
    allowGlobalContext: false,
    forceUtcTimezone: true,
    debug: db.debug || onQuery ? (['query'] as LoggerNamespace[]) : false,
    logger: (message: string) => logger.debug({ orm: message }),
    loggerFactory: onQuery ? (options) => queryLogger(options, logger, onQuery) : undefined,
    ensureIndexes: false,
    subscribers: [new OwnerGuard()],
  } as Options;
  const driver = db.driver as Driver;
  if (driver === 'sqlite') {
    const { LibSqlDriver } = await import('@mikro-orm/libsql');
    const dbName = db.url === ':memory:' ? ':memory:' : db.url.replace(/^file:/, '');
    // ensureDatabase would list the tables (SQLite creates the file on open anyway): a read that fails as
    // SQLITE_BUSY while another process migrates, outside the migration lock that waits for it.
    // knex's libsql dialect replaces its connection every 10 s (validateConnection); per-connection settings are
    // made on each new one, else commits after the first 10 s ran with synchronous = FULL (an fsync each).
    const pool = { afterCreate: (raw: { exec(sql: string): void }, done: (err: unknown, c: unknown) => void) => {
      try {
        // Another process writing the same file (two instances booting at once: plugins seed data in onStart)
        // is waited for, briefly, instead of failing the statement with SQLITE_BUSY. First, so that the pragmas
        // below wait too (one failed with "database is locked" while another process migrated).
        if (dbName !== ':memory:') raw.exec('pragma busy_timeout = 5000');
        raw.exec('pragma foreign_keys = on');
        if (dbName !== ':memory:') raw.exec('pragma synchronous = NORMAL');
        // The worker below checkpoints; a connection's own checkpoint (in a commit, on the event loop) is the bound.
        if (dbName !== ':memory:') raw.exec(`pragma wal_autocheckpoint = ${WAL_AUTOCHECKPOINT_PAGES}`);
        done(null, raw);
      } catch (err) {
        done(err, raw);
      }
    } };
    const options = { ...common, driver: LibSqlDriver, dbName, ensureDatabase: false, pool };
    const orm = await MikroORM.init(options as Options);
    (await import('./libsqlStatements.ts')).reuseLibsqlStatements(orm);
    // libsql runs on the event loop: WAL with NORMAL sync keeps commits from waiting on the disk there.
    if (dbName !== ':memory:') {
      // Switching to WAL needs a moment alone with the file: another process booting at once gets SQLITE_BUSY.
      await whileBusy(() => orm.em.getConnection().execute('pragma journal_mode = WAL'));
      await orm.em.getConnection().execute('pragma synchronous = NORMAL');
      checkpointInBackground(orm, dbName);
    }
    return orm;
  }
  if (driver === 'postgresql') {
    const { PostgreSqlDriver } = await import('@mikro-orm/postgresql');
    const orm = await MikroORM.init({
      ...common,
      driver: PostgreSqlDriver,
      clientUrl: db.url,
      pool: { min: 0, max: db.poolMax },
    } as Options);
    // The kernel's insert flush runs its transactions on a pg client directly (prepared, bound statements).
    (await import('./pgStatements.ts')).directPgTransactions(orm);
    return orm;
  }
  const { MongoDriver } = await import('@mikro-orm/mongodb');
  return MikroORM.init({ ...common, driver: MongoDriver, clientUrl: db.url, implicitTransactions: false } as Options);
}

/** Routes MikroORM's query log to telemetry (and to pino at debug). */
function queryLogger(_options: unknown, logger: Logger, onQuery: (e: QueryEvent) => void) {
  return {
    log(namespace: string, message: string, context?: { took?: number; query?: string }) {
      if (namespace === 'query') onQuery({ query: context?.query ?? message, tookMs: context?.took });
      logger.trace({ orm: namespace }, message);
    },
    // MikroORM's messages carry SQL with parameter values inlined: verbatim at debug only.
    error(namespace: string, message: string) {
      logger.error({ orm: namespace }, 'orm error');
      logger.debug({ orm: namespace }, message);
    },
    warn(namespace: string, message: string) {
      logger.warn({ orm: namespace }, 'orm warning');
      logger.debug({ orm: namespace }, message);
    },
    logQuery(context: { query: string; took?: number }) {
      onQuery({ query: context.query, tookMs: context.took });
    },
    setDebugMode() {},
    isEnabled(namespace: string) {
      return namespace === 'query';
    },
  } as any;
}

/** Checks the database answers; used by /health/ready. */
export async function checkOrm(orm: MikroORM): Promise<void> {
  const result = await orm.checkConnection();
  if (!result.ok) throw new Error(result.reason ?? 'database not reachable');
}

/** Retries `work` while SQLite answers SQLITE_BUSY (libsql has no busy timeout), for up to `ms`, without blocking. */
async function whileBusy<T>(work: () => Promise<T>, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (let attempt = 0; ; attempt++) {
    try {
      return await work();
    } catch (e) {
      const busy = /SQLITE_BUSY|database is locked/i.test(`${(e as { code?: string }).code} ${(e as Error).message}`);
      if (!busy || Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, Math.min(500, 10 * 2 ** Math.min(attempt, 6))));
    }
  }
}
