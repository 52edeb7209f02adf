import pino from 'pino';
import { ManualClock } from '../../kernel/ports/clock.ts';
import memoryJobs from '../../adapters/jobQueue/memory.ts';
import databaseJobs from '../../adapters/jobQueue/database.ts';
import type { Knex } from '@mikro-orm/knex';
import { openOrm } from '../../kernel/storage/orm.ts';
import { toEntitySchema } from '../../kernel/storage/schema.ts';
import { JobEntity, jobTableMigrations } from '../../kernel/jobs/table.ts';
import { testDatabases } from '../helpers/databases.ts';
import { uuidV7Ids } from '../../kernel/ports/ids.ts';
import { jobQueueConformance } from './jobQueue.suite.ts';
import redisJobs from '../../adapters/jobQueue/redis.ts';
import { systemClock } from '../../kernel/ports/clock.ts';
import { serviceUrl, uniqueName } from '../helpers/services.ts';
import { dropRedisPrefix } from '../jobs/redisKeys.ts';

const defaultDatabase = { migrate: 'off', poolMax: 10, debug: false };

const context = (clock: ManualClock) => ({ logger: pino({ level: 'silent' }), clock, serviceName: 'kernel-test' });

jobQueueConformance('memory', async () => {
  const clock = new ManualClock();
  const queue = await memoryJobs.create({}, context(clock));
  return { queue, advance: (ms) => clock.advance(ms), now: () => clock.now(), close: async () => {} };
});

/** BullMQ on a real Redis, in real time (its delays and locks are not the kernel's clock), one key prefix per queue. */
const redisUrl = serviceUrl('REDIS_URL', 'jobQueue conformance: redis');
if (redisUrl) {
  jobQueueConformance('redis', async () => {
    const keyPrefix = uniqueName('kjobs-test');
    const queue = await redisJobs.create({ url: redisUrl, keyPrefix }, { ...context(new ManualClock()),
      clock: systemClock });
    return {
      queue, now: () => systemClock.now(),
      close: async () => {
        await (queue as { close(): Promise<void> }).close();
        await dropRedisPrefix(redisUrl, keyPrefix);
      },
    };
  });
}

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
      queue, advance: (ms) => clock.advance(ms), now: () => clock.now(),
      close: async () => { await orm.close(true); await db.drop(); },
    };
  });
}

/** The database adapter's promise beyond the port: a job staged in a unit of work exists iff it commits. */
{
  const { suite } = await import('uvu');
  const assert = await import('uvu/assert');
  for (const makeDb of await testDatabases('jobQueue: database unit of work')) {
    const db = await makeDb();
    if (db.driver === 'mongodb') { await db.drop(); continue; }
    const s = suite(`jobQueue database (${db.driver}): enqueue in the caller's unit of work`);
    const clock = new ManualClock();
    let orm: Awaited<ReturnType<typeof openOrm>>;
    const queue = await databaseJobs.create({}, context(clock));
    s.before(async () => {
      orm = await openOrm({ ...defaultDatabase, driver: db.driver, url: db.url } as never,
        [toEntitySchema(JobEntity, db.driver)], pino({ level: 'silent' }));
      const knex = (orm.em.getConnection() as unknown as { getKnex(): Knex }).getKnex();
      for (const m of jobTableMigrations) await m.up(knex);
      queue.attachDatabase!(orm, db.driver);
    });
    s.after(async () => { await orm?.close(true); await db.drop(); });
    s('staged: absent until the flush, present after it', async () => {
      const em = orm.em.fork();
      const { job } = await queue.enqueue({ id: uuidV7Ids.next(), type: 't.uow' }, { em });
      assert.is(await queue.get(job.id), null);
      await em.flush();
      assert.is((await queue.get(job.id))!.status, 'pending');
      assert.is((await queue.claim({ workerId: 'w', leaseMs: 1000, slots: { 't.uow': 5 } })).length, 1);
    });
    s('a rolled-back transaction leaves no job', async () => {
      const id = uuidV7Ids.next();
      await orm.em.fork().transactional(async (em) => {
        await queue.enqueue({ id, type: 't.uow' }, { em });
        await em.flush();
        throw new Error('the change failed');
      }).catch(() => undefined);
      assert.is(await queue.get(id), null);
    });
    s.run();
  }
}
