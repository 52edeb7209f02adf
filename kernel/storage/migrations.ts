import type { Knex } from '@mikro-orm/knex';

/**
 * A plugin's SQL migration. `up`/`down` get a knex instance inside a transaction; use its
 * schema builder so one migration serves SQLite and PostgreSQL. History is kept per plugin
 * in `kernel_migrations`. MongoDB needs none: indexes are ensured from the entities.
 */
export interface Migration {
  /** Sortable and unique within the plugin, e.g. `0001_create_notes`. */
  name: string;
  up(knex: Knex): Promise<void>;
  down(knex: Knex): Promise<void>;
}

export interface MigrationStatus { plugin: string; name: string; appliedAt: string | null }

const TABLE = 'kernel_migrations';
/** SQLite's lock row: a write to it is the first statement of a migration transaction. */
const LOCK_TABLE = 'kernel_migrations_lock';
/** Arbitrary constant key for pg_advisory_xact_lock. */
const MIGRATION_LOCK = 734_211_001;
/** How long an instance waits for another one's migrations before giving up. */
const LOCK_WAIT_MS = 120_000;

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Runs plugins' migrations. `up` and `down` run in one transaction that first takes a lock,
 * so instances booting together take turns and the later one finds nothing pending:
 * PostgreSQL takes an advisory transaction lock; SQLite writes a lock row as the first
 * statement (taking the database's write lock) and retries while another process holds it.
 * `status` and `pending` only read: a missing history table means every migration is pending.
 */
export class Migrator {
  constructor(private knex: Knex, private plugins: Array<{ name: string; migrations: Migration[] }>) {}

  /** The plugin names this migrator knows (`kernel` included when the outbox is on). */
  get pluginNames(): string[] { return this.plugins.map((p) => p.name); }

  private async ensureTable(db: Knex) {
    if (await db.schema.hasTable(TABLE)) return;
    await db.schema.createTable(TABLE, (t) => {
      t.string('plugin', 100).notNullable();
      t.string('name', 200).notNullable();
      t.string('applied_at', 40).notNullable();
      t.primary(['plugin', 'name']);
    });
  }

  async status(db: Knex = this.knex): Promise<MigrationStatus[]> {
    const rows: Array<{ plugin: string; name: string; applied_at: string }> =
      (await db.schema.hasTable(TABLE)) ? await db(TABLE).select('*') : [];
    const applied = new Map(rows.map((r) => [`${r.plugin}/${r.name}`, r.applied_at]));
    return this.plugins.flatMap((p) =>
      p.migrations.map((m) => ({
        plugin: p.name,
        name: m.name,
        appliedAt: applied.get(`${p.name}/${m.name}`) ?? null,
      })),
    );
  }

  async pending(): Promise<MigrationStatus[]> {
    return (await this.status()).filter((s) => s.appliedAt === null);
  }

  /** Applies every pending migration, plugin by plugin in start order, in one locked transaction. */
  async up(): Promise<MigrationStatus[]> {
    return this.locked(async (trx) => {
      const ran: MigrationStatus[] = [];
      for (const s of (await this.status(trx)).filter((m) => m.appliedAt === null)) {
        const appliedAt = new Date().toISOString();
        await this.find(s).up(trx);
        await trx(TABLE).insert({ plugin: s.plugin, name: s.name, applied_at: appliedAt });
        ran.push({ ...s, appliedAt });
      }
      return ran;
    });
  }

  /** Reverts the most recently applied migration (of one plugin, when named), under the same lock as `up`. */
  async down(plugin?: string): Promise<MigrationStatus | null> {
    return this.locked(async (trx) => {
      const applied = (await this.status(trx)).filter((s) => s.appliedAt !== null && (!plugin || s.plugin === plugin));
      // Stable: migrations applied in the same millisecond keep their apply order.
      const last = applied
        .sort((x, y) => (x.appliedAt! < y.appliedAt! ? -1 : x.appliedAt! > y.appliedAt! ? 1 : 0))
        .at(-1);
      if (!last) return null;
      await this.find(last).down(trx);
      await trx(TABLE).where({ plugin: last.plugin, name: last.name }).delete();
      return last;
    });
  }

  private async locked<T>(work: (trx: Knex.Transaction) => Promise<T>): Promise<T> {
    if (this.isPostgres()) {
      return this.knex.transaction(async (trx) => {
        await trx.raw('select pg_advisory_xact_lock(?)', [MIGRATION_LOCK]);
        await this.ensureTable(trx);
        return work(trx);
      });
    }
    const deadline = Date.now() + LOCK_WAIT_MS;
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.knex.transaction(async (trx) => {
          await trx.raw(`create table if not exists ${LOCK_TABLE} (id integer primary key, locked_at text not null)`);
          await trx.raw(`insert into ${LOCK_TABLE} (id, locked_at) values (1, ?)
            on conflict (id) do update set locked_at = excluded.locked_at`, [new Date().toISOString()]);
          await this.ensureTable(trx);
          return work(trx);
        });
      } catch (e) {
        const open = isNestedBegin(e);
        if ((!isSqliteBusy(e) && !open) || Date.now() > deadline) throw e;
        // A busy failure can leave the connection inside the failed transaction: end it before the next try.
        await this.knex.raw('rollback').catch(() => {});
        await pause(Math.min(1000, 25 * 2 ** Math.min(attempt, 6)) * (0.5 + Math.random()));
      }
    }
  }

  private isPostgres(): boolean {
    return /^(pg|postgres)/.test(String((this.knex.client as { dialect?: string }).dialect ?? ''));
  }

  private find(s: MigrationStatus): Migration {
    return this.plugins.find((p) => p.name === s.plugin)!.migrations.find((m) => m.name === s.name)!;
  }
}

/** SQLITE_BUSY (another connection holds the write lock) and SQLITE_BUSY_SNAPSHOT (our read snapshot is stale). */
function isSqliteBusy(e: unknown): boolean {
  const err = e as { code?: string; message?: string };
  return /SQLITE_BUSY/.test(String(err?.code ?? ''))
    || /SQLITE_BUSY|database is locked/i.test(String(err?.message ?? ''));
}

/** libsql's answer to BEGIN on a connection still inside a transaction a busy failure left open. */
function isNestedBegin(e: unknown): boolean {
  return /cannot start a transaction within a transaction/i.test(String((e as { message?: string })?.message ?? ''));
}

/** The part of a MongoDB collection the lock uses (kept structural: the kernel does not load the driver). */
export interface LockCollection {
  updateOne(filter: object, update: object, options?: object):
    Promise<{ modifiedCount: number; upsertedCount: number }>;
  deleteOne(filter: object): Promise<unknown>;
}

const MONGO_LEASE_MS = 30_000;

/**
 * MongoDB's migration lock: a document `{ _id: name, owner, expiresAt }` in `kernel_locks`.
 * Taken by an upsert that matches only a free or expired lock (a held one makes the upsert
 * hit the unique `_id`); renewed while `work` runs; deleted after. A crashed holder's lock
 * expires after the lease.
 */
export async function withMongoLock<T>(locks: LockCollection, name: string, work: () => Promise<T>): Promise<T> {
  const owner = `${process.pid}-${Math.random().toString(36).slice(2)}`;
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (let attempt = 0; ; attempt++) {
    const now = Date.now();
    try {
      const r = await locks.updateOne(
        { _id: name, $or: [{ expiresAt: { $lt: new Date(now) } }, { owner }] },
        { $set: { owner, expiresAt: new Date(now + MONGO_LEASE_MS) } },
        { upsert: true },
      );
      if (r.modifiedCount + r.upsertedCount === 1) break;
    } catch (e) {
      if ((e as { code?: number }).code !== 11000) throw e; // 11000: held by another instance
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for the ${name} lock held by another instance`);
    await pause(Math.min(1000, 50 * 2 ** Math.min(attempt, 5)));
  }
  const renew = setInterval(() => {
    const expiresAt = new Date(Date.now() + MONGO_LEASE_MS);
    locks.updateOne({ _id: name, owner }, { $set: { expiresAt } }).catch(() => {});
  }, MONGO_LEASE_MS / 3);
  try {
    return await work();
  } finally {
    clearInterval(renew);
    await locks.deleteOne({ _id: name, owner });
  }
}
