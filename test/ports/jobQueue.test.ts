import pino from 'pino';
import { ManualClock } from '../../kernel/ports/clock.ts';
import memoryJobs from '../../adapters/jobQueue/memory.ts';
import databaseJobs from '../../adapters/jobQueue/database.ts';
import type { Knex } from '@mikro-orm/knex';
import { openOrm } from '../../kernel/storage/orm.ts';
import { toEntitySchema } from '../../kernel/storage/schema.ts';
import { JobEntity, jobTableMigrations } from '../../kernel/jobs/table.ts';
import { testDatabases } from '../helpers/databases.ts';
import { jobQueueConformance } from './jobQueue.suite.ts';

const defaultDatabase = { migrate: 'off', poolMax: 10, debug: false };

const context = (clock: ManualClock) => ({ logger: pino({ level: 'silent' }), clock, serviceName: 'kernel-test' });

jobQueueConformance('memory', async () => {
  const clock = new ManualClock();
  const queue = await memoryJobs.create({}, context(clock));
  return { queue, advance: (ms) => clock.advance(ms), close: async () => {} };
});

/** The database adapter on a fresh database of each available driver (SQLite always, PostgreSQL when set). */
for (const makeDb of await testDatabases('jobQueue conformance: database')) {
  const probe = await makeDb();
  if (probe.driver === 'mongodb') { await probe.drop(); continue; }
  await probe.drop();
  jobQueueConformance(`database (${probe.driver})`, async () => {
    const db = await makeDb();
    const clock = new ManualClock();
    const orm = await openOrm(
      { ...defaultDatabase, driver: db.driver, url: db.url } as never,
      [toEntitySchema(JobEntity, db.driver)], pino({ level: 'silent' }),
    );
    const knex = (orm.em.getConnection() as unknown as { getKnex(): Knex }).getKnex();
    for (const m of jobTableMigrations) await m.up(knex);
    const queue = await databaseJobs.create({}, context(clock));
    queue.attachDatabase!(orm, db.driver);
    return {
      queue, advance: (ms) => clock.advance(ms),
      close: async () => { await orm.close(true); await db.drop(); },
    };
  });
}
