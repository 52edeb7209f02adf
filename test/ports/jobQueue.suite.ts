import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { JobQueue, NewJob } from '../../kernel/ports/jobQueue.ts';
import { uuidV7Ids } from '../../kernel/ports/ids.ts';
import { guarded } from '../helpers/guarded.ts';

export interface JobQueueUnderTest {
  queue: JobQueue;
  /**
   * Moves the queue's manual clock. Absent for a queue that runs in real time (BullMQ: its delays and
   * lock TTLs are Redis's and Node's clocks): the suite then uses short times and polls with deadlines.
   */
  advance?: (ms: number) => void;
  /** The queue's clock (the manual one, or the system's). */
  now: () => number;
  close: () => Promise<void>;
}

/** A fake-clock time, or the shorter real-time one. */
const pick = (t: JobQueueUnderTest, fake: number, real: number) => (t.advance ? fake : real);
const leaseOf = (t: JobQueueUnderTest) => pick(t, 10_000, 600);
/** Only fake clocks need moving between enqueues to order them; real ones move on their own. */
const tick = (t: JobQueueUnderTest, ms = 1) => t.advance?.(ms);

/**
 * Lets time pass until `probe` gives a value: a fake clock moves `stepMs` before each further try; a
 * real-time queue is polled every 10 ms until a deadline. No test waits a fixed time.
 */
async function eventually<T>(t: JobQueueUnderTest, stepMs: number, what: string,
  probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + 10_000;
  for (let i = 0; ; i++) {
    const v = await probe();
    if (v !== undefined) return v;
    if (t.advance) {
      if (i > 10_000) throw new Error(`never happened: ${what}`);
      t.advance(stepMs);
    } else {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }
}
const some = <T>(a: T[]) => (a.length ? a : undefined);

/** One queue per test: a fresh one keeps each test's jobs its own. */
export function jobQueueConformance(name: string, make: () => Promise<JobQueueUnderTest>): void {
  const test = guarded(suite(`jobQueue conformance: ${name}`));
  const open: JobQueueUnderTest[] = [];
  const fresh = async () => {
    const q = await make();
    open.push(q);
    return q;
  };
  test.after(async () => {
    for (const q of open.splice(0)) await q.close().catch((err) => console.error('close failed:', err));
  });
  let n = 0;
  const job = (over: Partial<NewJob> = {}): NewJob =>
    ({ id: uuidV7Ids.next(), type: 't.work', parameters: { n: n++ }, ...over });
  const LEASE = 10_000;
  const slots = (k = 10, type = 't.work', leaseMs = LEASE) => ({ workerId: 'w1', leaseMs, slots: { [type]: k } });
  /** Claims under the queue's lease (short in real time). */
  const slotsOf = (t: JobQueueUnderTest, k = 10) => slots(k, 't.work', leaseOf(t));
  /** Waits until a claimed job's lease has run out. */
  const expired = (t: JobQueueUnderTest, id: string) => eventually(t, leaseOf(t) / 10, 'the lease to run out',
    async () => {
      const j = await t.queue.get(id);
      return j!.leaseUntil === null || j!.leaseUntil < t.now() ? true : undefined;
    });

  test('enqueue then claim: the job runs with a lease and the parameters given', async () => {
    const { queue } = await fresh();
    const { job: made, created } = await queue.enqueue(job({ parameters: { a: [1, 'x'] }, ownerId: 'u1' }));
    assert.ok(created);
    assert.is(made.status, 'pending');
    const [c, ...rest] = await queue.claim(slots());
    assert.is(rest.length, 0);
    assert.is(c.job.id, made.id);
    assert.is(c.job.status, 'running');
    assert.equal(c.job.parameters, { a: [1, 'x'] });
    assert.is(c.job.attempts, 1);
    assert.is(c.lease.token, c.job.token);
    assert.equal(await queue.claim(slots()), [], 'a leased job is not claimed twice');
    assert.ok(await queue.complete(c.lease, { ok: 1 }));
    const done = await queue.get(made.id);
    assert.is(done!.status, 'completed');
    assert.equal(done!.result, { ok: 1 });
    assert.is(done!.progress, 100);
  });

  test('concurrent claimers take each job once, and a job completes once', async () => {
    const { queue } = await fresh();
    const ids = new Set<string>();
    for (let i = 0; i < 30; i++) ids.add((await queue.enqueue(job())).job.id);
    const claims = (await Promise.all(Array.from({ length: 6 }, (_, w) =>
      queue.claim({ workerId: `w${w}`, leaseMs: LEASE, slots: { 't.work': 8 } })))).flat();
    assert.is(claims.length, 30);
    assert.is(new Set(claims.map((c) => c.job.id)).size, 30, 'no job claimed twice');
    const c = claims[0];
    const both = await Promise.all([queue.complete(c.lease, 1), queue.complete(c.lease, 2)]);
    assert.equal(both.filter(Boolean).length, 1, 'exactly one completion wins');
    assert.is(await queue.fail(c.lease, { message: 'late' }), 'lost', 'a finished job cannot fail');
  });

  test('complete with next: the following claims still take every job once, in order', async () => {
    const t = await fresh();
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) {
      ids.push((await t.queue.enqueue(job())).job.id);
      tick(t);
    }
    const seen: string[] = [];
    let [c] = await t.queue.claim(slots(1));
    while (c) {
      seen.push(c.job.id);
      assert.is(c.job.status, 'running');
      assert.ok(await t.queue.complete(c.lease, seen.length, { next: true }));
      [c] = await t.queue.claim(slots(1));
    }
    assert.equal(seen, ids, 'each once, in enqueue order');
    const done = await t.queue.list({ status: 'completed', limit: 10, offset: 0 });
    assert.is(done.total, 6);
  });

  test('a stalled job (lease ran out) is claimed again; heartbeats keep the lease', async () => {
    const t = await fresh();
    const { queue } = t;
    const lease = leaseOf(t);
    const a = (await queue.enqueue(job())).job;
    const b = (await queue.enqueue(job())).job;
    const t0 = t.now();
    const first = await queue.claim(slotsOf(t));
    assert.is(first.length, 2);
    const leaseA = first.find((c) => c.job.id === a.id)!.lease;
    const again = await eventually(t, lease / 10, 'the job without heartbeats to be re-claimed', async () => {
      assert.ok(await queue.heartbeat(leaseA, lease), 'heartbeat renews');
      return some(await queue.claim({ ...slotsOf(t), workerId: 'w2' }));
    });
    assert.ok(t.now() - t0 >= lease, 'not before its lease ran out');
    assert.equal(again.map((c) => c.job.id), [b.id], 'only the job without heartbeats is re-claimed');
    assert.is(again[0].job.attempts, 2);
    assert.ok(again[0].lease.token > first.find((c) => c.job.id === b.id)!.lease.token, 'a new fencing token');
  });

  test('recover: false takes pending jobs only, leaving stalled ones for the next full claim', async () => {
    const t = await fresh();
    const stalled = (await t.queue.enqueue(job())).job.id;
    await t.queue.claim(slotsOf(t));
    await expired(t, stalled);
    const fresh1 = (await t.queue.enqueue(job())).job.id;
    const quick = await t.queue.claim({ ...slotsOf(t), recover: false });
    assert.equal(quick.map((c) => c.job.id), [fresh1]);
    const full = await eventually(t, leaseOf(t) / 10, 'the stalled job to be claimed again',
      async () => some(await t.queue.claim(slotsOf(t))));
    assert.equal(full.map((c) => c.job.id), [stalled]);
  });

  test('fencing: a worker that lost its lease writes nothing', async () => {
    const t = await fresh();
    const { queue } = t;
    const id = (await queue.enqueue(job())).job.id;
    const [old] = await queue.claim(slotsOf(t));
    await expired(t, id);
    // In real time the record's lease can run out a moment before Redis lets the lock go: poll the claim.
    const [now] = await eventually(t, leaseOf(t) / 10, 'the stalled job to be claimed again',
      async () => some(await queue.claim({ ...slotsOf(t), workerId: 'w2' })));
    assert.is(now.job.id, id);
    assert.not.ok(await queue.heartbeat(old.lease, LEASE));
    assert.not.ok(await queue.update(old.lease, { progress: 50, steps: { a: 1 } }));
    assert.not.ok(await queue.complete(old.lease, 'stale'));
    assert.is(await queue.fail(old.lease, { message: 'stale' }), 'lost');
    assert.not.ok(await queue.suspend(old.lease, { id: 'd', question: 'q', options: [], default: null,
      expiresAt: null }));
    assert.not.ok(await queue.release(old.lease));
    const j = await queue.get(id);
    assert.is(j!.status, 'running');
    assert.is(j!.progress, 0);
    assert.equal(j!.steps, {});
    assert.ok(await queue.complete(now.lease, 'fresh'));
    assert.is((await queue.get(id))!.result, 'fresh');
  });

  test('delay: a delayed job is not claimed before its time', async () => {
    const t = await fresh();
    const delay = pick(t, 5000, 300);
    const t0 = t.now();
    await t.queue.enqueue(job({ delayMs: delay }));
    assert.equal(await t.queue.claim(slots()), []);
    tick(t, delay - 1);
    assert.equal(await t.queue.claim(slots()), []);
    await eventually(t, 1, 'the delayed job', async () => some(await t.queue.claim(slots())));
    assert.ok(t.now() - t0 >= delay, `claimed after ${t.now() - t0} ms, not before ${delay}`);
  });

  test('priority: higher runs first, then enqueue order', async () => {
    const t = await fresh();
    const low = (await t.queue.enqueue(job({ priority: -10 }))).job.id;
    tick(t);
    const n1 = (await t.queue.enqueue(job())).job.id;
    tick(t);
    const high = (await t.queue.enqueue(job({ priority: 10 }))).job.id;
    tick(t);
    const n2 = (await t.queue.enqueue(job())).job.id;
    const order: string[] = [];
    for (let i = 0; i < 4; i++) order.push(...(await t.queue.claim(slots(1))).map((c) => c.job.id));
    assert.equal(order, [high, n1, n2, low]);
  });

  test('slots per type: a claim takes no more of a type than its free slots, and no other types', async () => {
    const t = await fresh();
    for (let i = 0; i < 5; i++) await t.queue.enqueue(job());
    await t.queue.enqueue(job({ type: 't.other' }));
    const got = await t.queue.claim({ workerId: 'w', leaseMs: LEASE, slots: { 't.work': 2, 't.none': 3 } });
    assert.is(got.length, 2);
    assert.ok(got.every((c) => c.job.type === 't.work'));
    assert.is((await t.queue.claim({ workerId: 'w', leaseMs: LEASE, slots: { 't.work': 0 } })).length, 0);
  });

  test('retries with exponential backoff and jitter, then failed (dead)', async () => {
    const t = await fresh();
    const base = pick(t, 1000, 300);
    /** Real time also counts the calls between the claim and the failure. */
    const slack = pick(t, 0, 150);
    const id = (await t.queue.enqueue(job({ maxAttempts: 3 }))).job.id;
    let [c] = await t.queue.claim(slots());
    assert.is(await t.queue.fail(c.lease, { message: 'boom 1' }, { backoffMs: base }), 'retrying');
    const j1 = (await t.queue.get(id))!;
    assert.is(j1.status, 'pending');
    assert.is(j1.error!.message, 'boom 1');
    const d1 = j1.runAt - c.job.startedAt!;
    assert.ok(d1 >= base / 2 && d1 < base + slack, `first delay in [${base / 2}, ${base}): ${d1}`);
    assert.equal(await t.queue.claim(slots()), [], 'not before the backoff');
    [c] = await eventually(t, base, 'the first retry', async () => some(await t.queue.claim(slots())));
    assert.ok(t.now() >= j1.runAt, 'the retry ran at its time');
    assert.is(c.job.attempts, 2);
    const failedAt = t.now();
    assert.is(await t.queue.fail(c.lease, { message: 'boom 2' }, { backoffMs: base }), 'retrying');
    const d2 = (await t.queue.get(id))!.runAt - failedAt;
    assert.ok(d2 >= base && d2 < 2 * base + slack, `second delay in [${base}, ${2 * base}): ${d2}`);
    [c] = await eventually(t, 2 * base, 'the second retry', async () => some(await t.queue.claim(slots())));
    assert.is(await t.queue.fail(c.lease, { message: 'boom 3' }, { backoffMs: base }), 'failed');
    const dead = (await t.queue.get(id))!;
    assert.is(dead.status, 'failed');
    assert.is(dead.error!.message, 'boom 3');
    assert.ok(dead.completedAt !== null);
    tick(t, 3_600_000);
    assert.equal(await t.queue.claim(slots()), [], 'a dead job is never claimed');
  });

  test('a non-retryable failure fails at once', async () => {
    const t = await fresh();
    const id = (await t.queue.enqueue(job())).job.id;
    const [c] = await t.queue.claim(slots());
    assert.is(await t.queue.fail(c.lease, { message: 'bad input', code: 'BAD' }, { retryable: false }), 'failed');
    assert.equal((await t.queue.get(id))!.error, { message: 'bad input', code: 'BAD' });
  });

  test('dedup key: a second enqueue returns the first job', async () => {
    const t = await fresh();
    const a = await t.queue.enqueue(job({ dedupKey: 'digest:u1:2026-01-01' }));
    const b = await t.queue.enqueue(job({ dedupKey: 'digest:u1:2026-01-01' }));
    assert.ok(a.created);
    assert.not.ok(b.created);
    assert.is(b.job.id, a.job.id);
    const [c] = await t.queue.claim(slots());
    await t.queue.complete(c.lease, null);
    const later = await t.queue.enqueue(job({ dedupKey: 'digest:u1:2026-01-01' }));
    assert.is(later.job.id, a.job.id, 'also after it finished');
    assert.is((await t.queue.list({ limit: 10, offset: 0 })).total, 1);
  });

  test('progress and steps are stored under the lease', async () => {
    const t = await fresh();
    const id = (await t.queue.enqueue(job())).job.id;
    const [c] = await t.queue.claim(slots());
    assert.ok(await t.queue.update(c.lease, { progress: 40, stage: 'collect', stageMessage: 'reading' }));
    assert.ok(await t.queue.update(c.lease, { steps: { collect: { notes: 3 } } }));
    assert.ok(await t.queue.update(c.lease, { steps: { write: 'x' } }));
    const j = (await t.queue.get(id))!;
    assert.is(j.progress, 40);
    assert.is(j.stage, 'collect');
    assert.is(j.stageMessage, 'reading');
    assert.equal(j.steps, { collect: { notes: 3 }, write: 'x' });
  });

  test('cancel: pending at once, running flagged for its worker, finished unchanged', async () => {
    const t = await fresh();
    const p = (await t.queue.enqueue(job())).job.id;
    assert.is((await t.queue.cancel(p))!.status, 'cancelled');
    const r = (await t.queue.enqueue(job())).job.id;
    const [c] = await t.queue.claim(slots());
    const flagged = (await t.queue.cancel(r))!;
    assert.is(flagged.status, 'running');
    assert.ok(flagged.cancelRequested);
    assert.equal(await t.queue.cancelRequested([r, p, 'nope']), [r]);
    assert.ok(await t.queue.markCancelled(c.lease));
    const j = (await t.queue.get(r))!;
    assert.is(j.status, 'cancelled');
    assert.ok(j.cancelledAt !== null);
    assert.is((await t.queue.cancel(r))!.status, 'cancelled', 'a finished job stays as it was');
    assert.is(await t.queue.cancel('00000000-0000-7000-8000-000000000000'), null);
  });

  test('suspend holds no lease; an answer makes the job due with the choice stored as a step', async () => {
    const t = await fresh();
    const id = (await t.queue.enqueue(job())).job.id;
    const [c] = await t.queue.claim(slots());
    const decision = { id: 'd1', question: 'Send?', options: ['yes', 'no'], default: 'no', expiresAt: null };
    assert.ok(await t.queue.suspend(c.lease, decision));
    const waiting = (await t.queue.get(id))!;
    assert.is(waiting.status, 'waiting_for_input');
    assert.equal(waiting.decision, decision);
    tick(t, LEASE * 10);
    assert.equal(await t.queue.claim(slots()), [], 'a waiting job is not claimed');
    assert.is(await t.queue.answer(id, 'other', 'yes'), null, 'an unknown decision is refused');
    assert.is((await t.queue.answer(id, 'd1', 'yes'))!.status, 'pending');
    assert.is(await t.queue.answer(id, 'd1', 'no'), null, 'answered once');
    const [again] = await t.queue.claim(slots());
    assert.is(again.job.id, id);
    assert.is(again.job.steps['ask:d1'], 'yes');
  });

  test('a decision past its timeout makes the job claimable (the runtime takes the default)', async () => {
    const t = await fresh();
    const timeout = pick(t, 60_000, 400);
    const id = (await t.queue.enqueue(job())).job.id;
    const [c] = await t.queue.claim(slots());
    const expiresAt = c.job.startedAt! + timeout;
    await t.queue.suspend(c.lease, { id: 'd', question: 'q', options: ['a', 'b'], default: 'b', expiresAt });
    tick(t, timeout - 1);
    assert.equal(await t.queue.claim(slots()), []);
    const [again] = await eventually(t, 2, 'the timed-out question', async () => some(await t.queue.claim(slots())));
    assert.ok(t.now() >= expiresAt, 'not before the timeout');
    assert.is(again.job.id, id);
    assert.is(again.job.decision!.default, 'b');
  });

  test('cancel reaches a waiting job at once', async () => {
    const t = await fresh();
    const id = (await t.queue.enqueue(job())).job.id;
    const [c] = await t.queue.claim(slots());
    await t.queue.suspend(c.lease, { id: 'd', question: 'q', options: [], default: null, expiresAt: null });
    assert.is((await t.queue.cancel(id))!.status, 'cancelled');
    assert.is(await t.queue.answer(id, 'd', 'x'), null);
  });

  test('release hands a job back without counting the attempt', async () => {
    const t = await fresh();
    const id = (await t.queue.enqueue(job())).job.id;
    const [c] = await t.queue.claim(slots());
    assert.ok(await t.queue.release(c.lease));
    const j = (await t.queue.get(id))!;
    assert.is(j.status, 'pending');
    assert.is(j.attempts, 0);
    const [again] = await t.queue.claim(slots());
    assert.is(again.job.attempts, 1);
    assert.not.ok(await t.queue.complete(c.lease, 'old lease'), 'the handed-back lease is dead');
  });

  test('list filters by owner, status, type and subject, sorts and pages; stats count', async () => {
    const t = await fresh();
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      ids.push((await t.queue.enqueue(job({ ownerId: 'u1', subject: i % 2 ? 'odd' : 'even', priority: i }))).job.id);
      tick(t);
    }
    await t.queue.enqueue(job({ ownerId: 'u2', type: 't.other' }));
    const mine = await t.queue.list({ ownerId: 'u1', limit: 2, offset: 0 });
    assert.is(mine.total, 5);
    assert.equal(mine.items.map((j) => j.id), [ids[4], ids[3]], 'newest first by default');
    const page2 = await t.queue.list({ ownerId: 'u1', limit: 2, offset: 2, sort: 'createdAt' });
    assert.equal(page2.items.map((j) => j.id), [ids[2], ids[3]]);
    assert.is((await t.queue.list({ ownerId: 'u1', subject: 'odd', limit: 10, offset: 0 })).total, 2);
    assert.is((await t.queue.list({ type: 't.other', limit: 10, offset: 0 })).total, 1);
    const [c] = await t.queue.claim(slots(1));
    tick(t, 250);
    await t.queue.complete(c.lease, null);
    assert.is((await t.queue.list({ status: 'completed', limit: 10, offset: 0 })).total, 1);
    const stats = await t.queue.stats();
    assert.is(stats.byStatus.pending, 5);
    assert.is(stats.byStatus.completed, 1);
    assert.is(stats.byType['t.work'].completed, 1);
    assert.is(stats.byType['t.other'].pending, 1);
    if (t.advance) assert.is(stats.averageProcessingMs, 250);
    else assert.ok(stats.averageProcessingMs !== null && stats.averageProcessingMs >= 0);
    assert.is(stats.queueLength, 5);
  });

  test('logs: appended in order, filtered by level, paged', async () => {
    const t = await fresh();
    const id = (await t.queue.enqueue(job())).job.id;
    const levels = ['debug', 'info', 'warn', 'error', 'info'] as const;
    for (const [i, level] of levels.entries()) {
      await t.queue.appendLog(id, { level, message: `m${i}`, details: { i }, at: 1000 + i });
    }
    const all = await t.queue.logs(id, { limit: 10, offset: 0 });
    assert.is(all.total, 5);
    assert.equal(all.items.map((e) => e.message), ['m0', 'm1', 'm2', 'm3', 'm4']);
    assert.equal(all.items[2].details, { i: 2 });
    const warn = await t.queue.logs(id, { level: 'warn', limit: 10, offset: 0 });
    assert.equal(warn.items.map((e) => e.message), ['m2', 'm3']);
    const paged = await t.queue.logs(id, { level: 'info', limit: 2, offset: 1 });
    assert.is(paged.total, 4);
    assert.equal(paged.items.map((e) => e.message), ['m2', 'm3']);
  });

  test.run();
}
