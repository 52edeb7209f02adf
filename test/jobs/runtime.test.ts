/** The kernel's job runtime: plugin jobs with progress, logs, steps, ask, cancel, timeout, retries, schedules. */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { definePlugin, defineJob, type JobEvent, type Jobs } from '../../kernel/index.ts';
import type { JobQueue, JobRecord } from '../../kernel/ports/jobQueue.ts';
import { guarded } from '../helpers/guarded.ts';
import { startTestKernel, type TestKit } from '../kit/index.ts';
import { waitFor } from './helpers.ts';
import { dropRedisPrefix } from './redisKeys.ts';
import { serviceUrl, uniqueName } from '../helpers/services.ts';


/** What handlers saw, for the assertions. */
const seen = { runs: new Map<string, number>(), steps: new Map<string, number>(), signals: new Map<string, number>() };
const count = (m: Map<string, number>, k: string) => m.set(k, (m.get(k) ?? 0) + 1);
const gates = new Map<string, () => void>();

const plugin = definePlugin({
  name: 'jt',
  version: '1.0.0',
  contract: false,
  jobs: {
    'jt.stages': defineJob<{ n: number }>({
      parameters: {
        type: 'object', additionalProperties: false, required: ['n'],
        properties: { n: { type: 'integer', minimum: 1, maximum: 10 } },
      },
      stages: { collect: 1, write: 3 },
      async handle(job, ctx) {
        count(seen.runs, job.id);
        const collected = await ctx.step('collect', async () => {
          count(seen.steps, `${job.id}:collect`);
          await ctx.progress(100, { stage: 'collect', message: 'collected' });
          return job.parameters.n * 2;
        });
        await ctx.log('info', 'collected', { collected });
        if (job.attempt === 1) throw new Error('first attempt fails after its step');
        await ctx.progress(50, { stage: 'write', message: 'writing' });
        return { collected };
      },
    }),
    'jt.ask': defineJob<{ timeoutSeconds?: number }>({
      async handle(job, ctx) {
        count(seen.runs, job.id);
        await ctx.step('before', () => { count(seen.steps, `${job.id}:before`); return 1; });
        const choice = await ctx.ask({
          question: 'Send it?', options: ['yes', 'no'], default: 'no', timeoutSeconds: job.parameters.timeoutSeconds,
        });
        return { choice };
      },
    }),
    'jt.wait': defineJob({
      retries: 0,
      timeoutMs: 60_000,
      async handle(job, ctx) {
        await new Promise<void>((resolve) => {
          gates.set(job.id, resolve);
          ctx.signal.addEventListener('abort', () => { count(seen.signals, job.id); resolve(); });
        });
        if (ctx.signal.aborted) throw ctx.signal.reason;
        return 'finished';
      },
    }),
    'jt.slow': defineJob({
      retries: 0,
      timeoutMs: 150,
      async handle(_job, ctx) {
        await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve));
        throw ctx.signal.reason;
      },
    }),
    'jt.tick': defineJob({ handle: (job) => { count(seen.runs, 'tick'); return job.id; } }),
  },
  schedules: [{ name: 'often', every: '1s', job: 'jt.tick' }],
});

/** The same runtime tests on the database queue (the default) and on the redis (BullMQ) one. */
function runtimeSuite(label: string, config: Record<string, unknown> = {}, cleanup = async () => {}) {
  const test = guarded(suite(`jobs runtime${label}`));
  let k: TestKit;
  let jobs: Jobs;
  let queue: JobQueue;
  const events: JobEvent[] = [];
  test.before(async () => {
    k = await startTestKernel({
      plugins: [plugin],
      config: { jobs: { heartbeatMs: 100, pollMs: 20, cancelPollMs: 20, shutdownTimeoutMs: 300 }, ...config },
    });
    jobs = k.kernel.jobs!;
    queue = k.kernel.root.cradle.jobQueue as JobQueue;
    jobs.watch((e) => events.push(e));
  });
  test.after(async () => {
    await k?.stop();
    await cleanup();
  });

  const until = (id: string, status: JobRecord['status']) =>
    waitFor(`job ${id} ${status}`, async () => ((await queue.get(id))?.status === status ? true : undefined));

  test('parameters are checked against the declared schema', async () => {
    try {
      await jobs.enqueue('jt.stages', { n: 'x' });
      assert.unreachable('enqueued bad parameters');
    } catch (e) {
      assert.is((e as { status: number }).status, 400);
    }
    try {
      await jobs.enqueue('jt.nope', {});
      assert.unreachable('enqueued an unknown type');
    } catch (e) {
      assert.is((e as { status: number }).status, 400);
    }
  });

  test('a failed attempt is retried; its finished step is not run again; stages weigh progress', async () => {
    const job = await jobs.enqueue('jt.stages', { n: 3 }, { ownerId: 'u1' });
    const done = await until(job.id, 'completed');
    const stored = (await queue.get(job.id))!;
    assert.equal(stored.result, { collected: 6 });
    assert.is(stored.attempts, 2);
    assert.is(seen.runs.get(job.id), 2);
    assert.is(seen.steps.get(`${job.id}:collect`), 1, 'the step ran once');
    void done;
    const mine = events.filter((e) => e.jobId === job.id);
    const progress = mine.filter((e) => e.type === 'progress').map((e) => e.data.progress);
    assert.equal(progress, [25, 62.5], 'collect weighs 1 of 4; half of write is 25 + 37.5');
    assert.is(mine.at(-1)!.type, 'done');
    const logs = await queue.logs(job.id, { limit: 10, offset: 0 });
    assert.is(logs.items[0].message, 'collected');
    assert.equal(logs.items[0].details, { collected: 6 });
  });

  test('ask parks the job with no slot held; an answer resumes it with earlier steps skipped', async () => {
    const job = await jobs.enqueue('jt.ask', {});
    await until(job.id, 'waiting_for_input');
    const waiting = (await queue.get(job.id))!;
    assert.is(waiting.decision!.question, 'Send it?');
    assert.is(waiting.leaseUntil, null, 'no lease held while waiting');
    await waitFor('the decision event', async () => (events.some((e) => e.jobId === job.id && e.type === 'decision')
      ? true : undefined));
    await queue.answer(job.id, waiting.decision!.id, 'yes');
    k.kernel.jobWorker!.kick();
    await until(job.id, 'completed');
    assert.equal((await queue.get(job.id))!.result, { choice: 'yes' });
    assert.is(seen.steps.get(`${job.id}:before`), 1);
    assert.is(seen.runs.get(job.id), 2);
  });

  test('a decision nobody answers takes its default at the timeout', async () => {
    const job = await jobs.enqueue('jt.ask', { timeoutSeconds: 0.2 });
    await until(job.id, 'completed');
    assert.equal((await queue.get(job.id))!.result, { choice: 'no' });
    assert.ok(events.some((e) => e.jobId === job.id && e.type === 'decision' && e.data.by === 'timeout'));
  });

  test('cancel reaches the running handler through its signal', async () => {
    const job = await jobs.enqueue('jt.wait', {});
    await until(job.id, 'running');
    await waitFor('handler started', async () => gates.get(job.id));
    const asked = Date.now();
    await queue.cancel(job.id);
    await until(job.id, 'cancelled');
    assert.ok(Date.now() - asked < 1000, 'within a second');
    assert.is(seen.signals.get(job.id), 1);
    // The stored state can lead the run's events by a round trip (redis: BullMQ's move follows our write).
    await waitFor('the error event', async () => (events.some((e) => e.jobId === job.id && e.type === 'error')
      ? true : undefined));
    const last = events.filter((e) => e.jobId === job.id).at(-1)!;
    assert.is(last.type, 'error');
    assert.is(last.data.code, 'JOB_CANCELLED');
  });

  test('a run past timeoutMs is aborted and fails with JOB_TIMEOUT', async () => {
    const job = await jobs.enqueue('jt.slow', {});
    await until(job.id, 'failed');
    assert.is((await queue.get(job.id))!.error!.code, 'JOB_TIMEOUT');
  });

  test('a stalled job is re-run by a live worker, and its finished steps are not run again', async () => {
    const worker = k.kernel.jobWorker!;
    await worker.stop(0);
    const job = await jobs.enqueue('jt.stages', { n: 1 });
    // A worker claims it, finishes the first step and dies: no more heartbeats.
    const [dead] = await queue.claim({ workerId: 'dead', leaseMs: 150, slots: { 'jt.stages': 1 } });
    assert.is(dead.job.id, job.id);
    assert.ok(await queue.update(dead.lease, { steps: { collect: 99 } }));
    worker.start();
    await until(job.id, 'completed');
    const done = (await queue.get(job.id))!;
    assert.equal(done.result, { collected: 99 }, 'the stored step result was used');
    assert.is(seen.steps.get(`${job.id}:collect`), undefined, 'the finished step did not run again');
    assert.is(done.attempts, 2);
    assert.not.ok(await queue.complete(dead.lease, 'late'), 'the dead worker is fenced off');
  });

  test('a schedule slot runs once', async () => {
    await waitFor('two ticks', async () => ((seen.runs.get('tick') ?? 0) >= 2 ? true : undefined), 5000);
    const ticks = (await queue.list({ type: 'jt.tick', limit: 100, offset: 0 })).items.filter((j) => j.dedupKey);
    const keys = ticks.map((j) => j.dedupKey);
    assert.is(new Set(keys).size, keys.length, 'one job per slot');
    assert.ok(keys.every((key) => key!.startsWith('schedule:jt.often:')));
  });

  test('graceful stop: a job still running at the deadline is handed back', async () => {
    const job = await jobs.enqueue('jt.wait', {});
    await until(job.id, 'running');
    await waitFor('handler started', async () => gates.get(job.id));
    await k.kernel.jobWorker!.stop(100);
    const back = (await queue.get(job.id))!;
    assert.is(back.status, 'pending');
    assert.is(back.attempts, 0, 'the attempt does not count');
  });

  test.run();
}

runtimeSuite('');
const redisUrl = serviceUrl('REDIS_URL', 'jobs runtime on redis');
if (redisUrl) {
  const keyPrefix = uniqueName('kjobs-rt');
  runtimeSuite(' (redis, BullMQ)', { adapters: { jobQueue: { use: 'redis', url: redisUrl, keyPrefix } } },
    () => dropRedisPrefix(redisUrl, keyPrefix));
}
