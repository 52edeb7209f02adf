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

/** Two redis adapters on one prefix are two instances: a cancel from the one not holding a job reaches the other. */
if (redisUrl) {
  const { suite } = await import('uvu');
  const assert = await import('uvu/assert');
  const s = suite('jobQueue redis: two instances share the jobs');
  const keyPrefix = uniqueName('kjobs-two');
  const make = () => redisJobs.create({ url: redisUrl, keyPrefix },
    { ...context(new ManualClock()), clock: systemClock });
  let a: Awaited<ReturnType<typeof make>>;
  let b: Awaited<ReturnType<typeof make>>;
  s.before(async () => { [a, b] = await Promise.all([make(), make()]); });
  s.after(async () => {
    for (const q of [a, b]) await (q as unknown as { close(): Promise<void> })?.close();
    await dropRedisPrefix(redisUrl, keyPrefix);
  });
  s('B cancels the job A runs: A sees the flag at its next poll; cancelled once A acknowledges', async () => {
    const { job } = await b.enqueue({ id: uuidV7Ids.next(), type: 't.two' });
    const [c] = await a.claim({ workerId: 'a', leaseMs: 5000, slots: { 't.two': 1 } });
    assert.is(c.job.id, job.id);
    assert.equal(await b.claim({ workerId: 'b', leaseMs: 5000, slots: { 't.two': 1 } }), [], 'B cannot take it');
    const flagged = await b.cancel(job.id);
    assert.is(flagged!.status, 'running');
    assert.is(flagged!.workerId, 'a');
    assert.equal(await a.cancelRequested([job.id]), [job.id]);
    assert.is(await b.complete(c.lease, 'not B\'s lease'), false, 'B holds no lease of A');
    assert.is(await a.markCancelled(c.lease), true);
    assert.is((await b.get(job.id))!.status, 'cancelled');
  });
  s.run();
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

/**
 * The redis adapter's outbox: a job staged in a unit of work is a `kernel_jobs` row until the relay moves it into
 * Redis after the commit. Rolled back: no job. Committed while Redis is down: the job arrives once Redis is back.
 */
if (redisUrl) {
  const { suite } = await import('uvu');
  const assert = await import('uvu/assert');
  const { freePort, startRedis, listening, kill, until } = await import('../helpers/throwawayRedis.ts');
  for (const makeDb of await testDatabases('jobQueue: redis outbox')) {
    const db = await makeDb();
    if (db.driver === 'mongodb') { await db.drop(); continue; }
    const s = suite(`jobQueue redis (outbox on ${db.driver}): a job exists in Redis iff its change committed`);
    let orm: Awaited<ReturnType<typeof openOrm>>;
    let redis: ReturnType<typeof startRedis>;
    let port: number;
    let queue: Awaited<ReturnType<typeof redisJobs.create>>;
    const knex = () => (orm.em.getConnection() as unknown as { getKnex(): Knex }).getKnex();
    const claimOne = () => queue.claim({ workerId: 'w', leaseMs: 5000, slots: { 't.uow': 10 } });
    s.before(async () => {
      port = await freePort();
      redis = startRedis(port);
      await until('redis-server', () => listening(port));
      orm = await openOrm({ ...defaultDatabase, driver: db.driver, url: db.url } as never,
        [toEntitySchema(JobEntity, db.driver)], pino({ level: 'silent' }));
      for (const m of jobTableMigrations) await m.up(knex());
      queue = await redisJobs.create({ url: `redis://127.0.0.1:${port}`, keyPrefix: 'kj', relayPollMs: 50,
        commandTimeoutMs: 500 }, { ...context(new ManualClock()), clock: systemClock });
      queue.attachDatabase!(orm, db.driver);
    });
    s.after(async () => {
      await (queue as unknown as { close(): Promise<void> })?.close();
      await orm?.close(true);
      await db.drop();
      if (redis) await kill(redis);
    });
    s('rolled back: never in Redis; committed: claimable once the relay ran, and the outbox row is gone', async () => {
      const rolledBack = uuidV7Ids.next();
      await orm.em.fork().transactional(async (em) => {
        await queue.enqueue({ id: rolledBack, type: 't.uow' }, { em });
        await em.flush();
        throw new Error('the change failed');
      }).catch(() => undefined);
      const em = orm.em.fork();
      const { job } = await queue.enqueue({ id: uuidV7Ids.next(), type: 't.uow', parameters: { a: 1 } }, { em });
      assert.is(await queue.get(job.id), null, 'nothing before the commit');
      await em.flush();
      let claimed: Awaited<ReturnType<typeof claimOne>> = [];
      await until('the committed job in Redis', async () => (claimed = await claimOne()).length > 0);
      assert.equal(claimed.map((c) => c.job.id), [job.id], 'the committed job, and not the rolled-back one');
      assert.equal(claimed[0].job.parameters, { a: 1 });
      assert.is(await queue.get(rolledBack), null);
      await until('the outbox emptied', async () => Number((await knex()('kernel_jobs').count({ n: '*' }))[0].n) === 0);
    });
    s('committed while Redis is down: kept in the outbox, in Redis once it is back (a cancel meanwhile holds)',
      async () => {
      await kill(redis);
      const em = orm.em.fork();
      const { job } = await queue.enqueue({ id: uuidV7Ids.next(), type: 't.uow' }, { em });
      const { job: dropped } = await queue.enqueue({ id: uuidV7Ids.next(), type: 't.uow' }, { em });
      await em.flush();
      assert.is((await queue.cancel(dropped.id))!.status, 'cancelled', 'cancelled in the outbox, Redis down');
      assert.not.ok(await listening(port), 'Redis is down at the commit');
      const row = await knex()('kernel_jobs').where({ id: job.id }).first();
      assert.is(Boolean(row), true, 'the row waits in the outbox');
      redis = startRedis(port);
      await until('redis-server back', () => listening(port));
      let claimed: Awaited<ReturnType<typeof claimOne>> = [];
      await until('the job in Redis', async () => (claimed = await claimOne().catch(() => [])).length > 0, 15_000);
      assert.equal(claimed.map((c) => c.job.id), [job.id], 'the cancelled one is not run');
      await until('the outbox row deleted', async () => !(await knex()('kernel_jobs').where({ id: job.id }).first()));
      assert.is((await queue.get(dropped.id))!.status, 'cancelled', 'and it is cancelled in Redis');
    });
    s.run();
  }
}
