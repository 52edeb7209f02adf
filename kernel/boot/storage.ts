/** Boot step: the ORM over every plugin's entities, then migrations per `database.migrate` (or Mongo indexes). */
import type { Kernel } from '../boot.ts';
import { BootError } from '../config/problems.ts';
import { toEntitySchema } from '../storage/schema.ts';
import { openOrm } from '../storage/orm.ts';
import { Migrator, withMongoLock, type LockCollection } from '../storage/migrations.ts';
import { OutboxEntity, outboxMigrations } from '../events/outbox.ts';
import { EventReceiptEntity } from '../events/receipts.ts';
import { JobEntity, jobTableMigrations } from '../jobs/table.ts';
import type { JobQueue } from '../ports/jobQueue.ts';
import { keepPromiseHooksOffBetweenFlushes } from './flushContext.ts';

export async function openStorage(kernel: Kernel) {
  const { config } = kernel.options;
  const specs = kernel.plan.plugins.flatMap((p) => p.entities ?? []);
  const needsDb = specs.length > 0 || kernel.plan.plugins.some((p) => p.migrations?.length)
    || (usesJobTable(kernel) && kernel.plan.plugins.some((p) => p.jobs && Object.keys(p.jobs).length));
  if (!needsDb) return;
  keepPromiseHooksOffBetweenFlushes();
  if (usesOutbox(kernel)) specs.push(OutboxEntity, EventReceiptEntity);
  const driver = config.database.driver;
  if (kernel.config.adapters.jobQueue?.use === 'database' && driver === 'mongodb') {
    // The embedded default picks this adapter; a MongoDB deployment boots without jobs rather than not at all.
    kernel.jobsUnavailable = 'adapters.jobQueue.use: database needs a SQL database; jobs are off on mongodb';
    kernel.logger.warn(kernel.jobsUnavailable);
  } else if (usesJobTable(kernel)) {
    specs.push(JobEntity);
  }
  kernel.orm = await openOrm(
    config.database, specs.map((s) => toEntitySchema(s, driver)), kernel.logger.child({ component: 'orm' }),
    kernel.telemetry?.querySpan,
  );
  const jobQueue = kernel.adapters.find((a) => a.port === 'jobQueue')?.instance as JobQueue | undefined;
  jobQueue?.attachDatabase?.(kernel.orm, driver);
  if (driver === 'mongodb') {
    // `check` only reads: indexes are ensured by `auto` (or `migrate up`), one instance at a time.
    if (config.database.migrate === 'auto') {
      const locks = (kernel.orm.em as any).getConnection().getDb().collection('kernel_locks') as LockCollection;
      await withMongoLock(locks, 'migrations', () => kernel.orm!.getSchemaGenerator().ensureIndexes());
    }
    return;
  }
  const pending = config.database.migrate === 'off' ? [] : await kernel.migrator().pending();
  if (config.database.migrate === 'check' && pending.length) {
    const command = `npm run cli -- migrate up${kernel.options.configFile ? ` --config ${kernel.options.configFile}` : ''}`;
    throw new BootError(pending.map((m) => `migration ${m.plugin}/${m.name} is pending `
      + `(run \`${command}\` with the same environment, or set database.migrate: auto)`));
  }
  if (config.database.migrate === 'auto' && pending.length) {
    const ran = await kernel.migrator().up();
    kernel.logger.info({ migrations: ran.map((m) => `${m.plugin}/${m.name}`) }, 'migrations applied');
  }
}

/** The per-plugin migration runner (SQL drivers only). */
export function migrator(kernel: Kernel): Migrator {
  if (!kernel.orm || kernel.config.database.driver === 'mongodb') throw new Error('migrations need a SQL database');
  const knex = (kernel.orm.em as any).getConnection().getKnex();
  const plugins = kernel.plan.plugins.map((p) => ({ name: p.name, migrations: p.migrations ?? [] }));
  const jobs = usesJobTable(kernel) ? [{ name: 'kernel-jobs', migrations: jobTableMigrations }] : [];
  return new Migrator(
    knex, [...(usesOutbox(kernel) ? [{ name: 'kernel', migrations: outboxMigrations }] : []), ...jobs, ...plugins],
  );
}

/** The `database` JobQueue adapter keeps its jobs in the kernel's tables; `redis` uses the table as its outbox. */
export function usesJobTable(kernel: Kernel): boolean {
  return ['database', 'redis'].includes(String(kernel.config.adapters.jobQueue?.use))
    && kernel.config.database.driver !== 'mongodb';
}

export function usesOutbox(kernel: Kernel): boolean {
  return 'eventBus' in kernel.config.adapters
    && kernel.plan.plugins.some((p) => p.entities?.length || p.migrations?.length);
}
