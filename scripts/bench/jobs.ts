/**
 * `npm run bench -- --jobs`: jobs per second through the kernel's job runtime (the worker of
 * kernel/jobs, a no-op handler, concurrency 16) on each JobQueue adapter: memory, database on
 * SQLite and (BENCH_PG_URL or DATABASE_URL) PostgreSQL; and bare BullMQ (REDIS_URL), the same
 * no-op at concurrency 16, as the peer of the same run, beside the redis adapter (BullMQ under the kernel's
 * runtime) on the same Redis. Rounds interleave the subjects; each reports jobs/s with a 95% interval over
 * the rounds, and this process's CPU µs per job (Redis's own CPU is not in it).
 * Targets: PostgreSQL >= 2,000 jobs/s; redis >= 0.8x bare BullMQ.
 * Environment: BENCH_JOBS (2000 per round), BENCH_ROUNDS (5).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import type { Knex } from '@mikro-orm/knex';
import type { MikroORM } from '@mikro-orm/core';
import { systemClock } from '../../kernel/ports/clock.ts';
import { uuidV7Ids } from '../../kernel/ports/ids.ts';
import type { JobQueue } from '../../kernel/ports/jobQueue.ts';
import { openOrm } from '../../kernel/storage/orm.ts';
import { toEntitySchema } from '../../kernel/storage/schema.ts';
import { JobEntity, jobTableMigrations } from '../../kernel/jobs/table.ts';
import { JobsClient } from '../../kernel/jobs/client.ts';
import { JobWorker } from '../../kernel/jobs/worker.ts';
import memoryJobs from '../../adapters/jobQueue/memory.ts';
import databaseJobs from '../../adapters/jobQueue/database.ts';
import redisJobs from '../../adapters/jobQueue/redis.ts';

const N = Number(process.env.BENCH_JOBS ?? 2000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const CONCURRENCY = 16;
const logger = pino({ level: 'silent' });
const context = { logger, clock: systemClock, serviceName: 'bench' };

interface Subject { name: string; round(): Promise<number>; close(): Promise<void> }
/** CPU µs of this process per job, by subject, over the timed parts of the rounds. */
const cpu = new Map<string, number[]>();
let cpuMark = process.cpuUsage();
const startCpu = () => { cpuMark = process.cpuUsage(); };
const cpuPerJob = () => {
  const d = process.cpuUsage(cpuMark);
  return (d.user + d.system) / N;
};

let lastCpu = 0;
/** One round: N jobs enqueued (not timed), then the worker runs them all; jobs/s. */
async function kernelRound(queue: JobQueue): Promise<number> {
  const type = 'bench.noop';
  const declared = new Map([[type, { type, plugin: 'bench', def: { concurrency: CONCURRENCY, handle: () => null } }]]);
  const client = new JobsClient(declared, () => queue, uuidV7Ids, logger);
  for (let i = 0; i < N; i++) await queue.enqueue({ id: uuidV7Ids.next(), type, maxAttempts: 1 });
  let done = 0;
  let finish!: () => void;
  const all = new Promise<void>((resolve) => { finish = resolve; });
  client.watch((e) => { if (e.type === 'done' && ++done === N) finish(); });
  const worker = new JobWorker(declared, queue, { heartbeatMs: 2000, pollMs: 50, cancelPollMs: 250 }, {
    clock: systemClock, logger, emit: (e) => client.notify(e), em: () => { throw new Error('no em'); },
    scope: () => ({ services: {}, publish: async () => { throw new Error('no publish'); } }),
  });
  const t0 = performance.now();
  startCpu();
  worker.start();
  await all;
  const s = (performance.now() - t0) / 1000;
  lastCpu = cpuPerJob();
  await worker.stop(1000);
  return N / s;
}

async function databaseSubject(name: string, driver: 'sqlite' | 'postgresql', url: string,
  drop: () => Promise<void>): Promise<Subject> {
  const orm: MikroORM = await openOrm(
    { driver, url, migrate: 'off', debug: false, poolMax: 20 } as never, [toEntitySchema(JobEntity, driver)], logger,
  );
  const knex = (orm.em.getConnection() as unknown as { getKnex(): Knex }).getKnex();
  for (const m of jobTableMigrations) await m.up(knex);
  const queue = await databaseJobs.create({}, context);
  queue.attachDatabase!(orm, driver);
  return {
    name,
    round: async () => {
      await knex('kernel_jobs').delete();
      return kernelRound(queue);
    },
    close: async () => { await orm.close(true); await drop(); },
  };
}

async function bullmqSubject(url: string): Promise<Subject> {
  const { Queue, Worker } = await import('bullmq');
  const { Redis } = await import('ioredis');
  const connection = new Redis(url, { maxRetriesPerRequest: null });
  const name = `bench-${process.pid}-${Date.now().toString(36)}`;
  const queue = new Queue(name, { connection });
  return {
    name: 'bare BullMQ (redis)',
    async round() {
      await queue.addBulk(Array.from({ length: N }, (_, i) => ({ name: 'noop', data: { i },
        opts: { removeOnComplete: true, removeOnFail: true } })));
      let done = 0;
      let finish!: () => void;
      const all = new Promise<void>((resolve) => { finish = resolve; });
      const t0 = performance.now();
      startCpu();
      const worker = new Worker(name, async () => null, { connection, concurrency: CONCURRENCY });
      worker.on('completed', () => { if (++done === N) finish(); });
      await all;
      const s = (performance.now() - t0) / 1000;
      lastCpu = cpuPerJob();
      await worker.close();
      return N / s;
    },
    async close() {
      await queue.obliterate({ force: true });
      await queue.close();
      connection.disconnect();
    },
  };
}

/** The redis adapter under the kernel's runtime, on its own key prefix of the same Redis. */
async function redisSubject(url: string): Promise<Subject> {
  const keyPrefix = `bench-kjobs-${process.pid}-${Date.now().toString(36)}`;
  const queue = await redisJobs.create({ url, keyPrefix }, context);
  return {
    name: 'redis (BullMQ adapter)',
    round: () => kernelRound(queue),
    async close() {
      await (queue as { close?(): Promise<void> }).close?.();
      const { Redis } = await import('ioredis');
      const r = new Redis(url);
      let cursor = '0';
      do {
        const [next, keys] = await r.scan(cursor, 'MATCH', `${keyPrefix}:*`, 'COUNT', 1000);
        cursor = next;
        if (keys.length) await r.unlink(...keys);
      } while (cursor !== '0');
      r.disconnect();
    },
  };
}

function interval(xs: number[]) {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const sd = Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / Math.max(1, xs.length - 1));
  const half = (1.96 * sd) / Math.sqrt(xs.length);
  return { mean, low: mean - half, high: mean + half };
}

export async function runJobsBench(out: (line: string) => void = (l) => process.stdout.write(`${l}\n`)) {
  const dir = mkdtempSync(join(tmpdir(), 'bench-jobs-'));
  const subjects: Subject[] = [{
    name: 'memory',
    round: async () => kernelRound(await memoryJobs.create({}, context)),
    close: async () => {},
  }];
  subjects.push(await databaseSubject('database (SQLite)', 'sqlite', join(dir, 'jobs.db'), async () => {}));
  const pg = process.env.BENCH_PG_URL ?? process.env.DATABASE_URL;
  if (pg) {
    const pgMod = await import('pg');
    const dbName = `bench_jobs_${process.pid}`;
    const admin = new pgMod.default.Client({ connectionString: pg });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${dbName}`);
    await admin.end();
    const url = new URL(pg);
    url.pathname = `/${dbName}`;
    subjects.push(await databaseSubject('database (PostgreSQL)', 'postgresql', url.toString(), async () => {
      const c = new pgMod.default.Client({ connectionString: pg });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
      await c.end();
    }));
  }
  if (process.env.REDIS_URL) {
    subjects.push(await bullmqSubject(process.env.REDIS_URL));
    subjects.push(await redisSubject(process.env.REDIS_URL));
  }
  const rates = new Map<string, number[]>(subjects.map((s) => [s.name, []]));
  try {
    for (let r = 0; r < ROUNDS; r++) {
      const order = subjects.map((_, i) => subjects[(i + r) % subjects.length]);
      for (const s of order) {
        rates.get(s.name)!.push(await s.round());
        cpu.set(s.name, [...cpu.get(s.name) ?? [], lastCpu]);
      }
    }
  } finally {
    for (const s of subjects) await s.close().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
  out(`jobs per second: no-op handler, concurrency ${CONCURRENCY}, ${N} jobs x ${ROUNDS} rounds`);
  for (const [name, xs] of rates) {
    const { mean, low, high } = interval(xs);
    const target = name.includes('PostgreSQL') ? `  target >= 2000: ${low >= 2000 ? 'PASS' : mean >= 2000
      ? 'PASS (interval crosses)' : 'FAIL'}` : '';
    const us = interval(cpu.get(name) ?? [0]).mean;
    out(`  ${name.padEnd(24)} ${Math.round(mean)} jobs/s (95% ${Math.round(low)}-${Math.round(high)}), `
      + `${Math.round(us)} CPU µs/job${target}`);
  }
  const bare = rates.get('bare BullMQ (redis)');
  const ours = rates.get('redis (BullMQ adapter)');
  if (bare && ours) {
    const ratio = interval(ours).mean / interval(bare).mean;
    const cpuRatio = interval(cpu.get('bare BullMQ (redis)')!).mean / interval(cpu.get('redis (BullMQ adapter)')!).mean;
    out(`  redis / bare BullMQ: ${ratio.toFixed(2)}x jobs/s, ${cpuRatio.toFixed(2)}x by CPU per job`
      + `  target >= 0.8: ${ratio >= 0.8 ? 'PASS' : 'FAIL'}`);
  }
}

if (process.argv[1]?.endsWith('bench/jobs.ts')) {
  await runJobsBench();
  process.exit(0);
}
