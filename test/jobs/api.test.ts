/** The jobs plugin's HTTP API (contracts/jobs.yaml) with a stub realtime service. */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { AppError, definePlugin, defineJob } from '../../kernel/index.ts';
import jobsPlugin from '../../plugins/jobs/index.ts';
import { guarded } from '../helpers/guarded.ts';
import { assertError, startTestKernel, type SignedInClient, type TestKit } from '../kit/index.ts';
import { waitFor } from './helpers.ts';
import { stubRealtime } from './stubRealtime.ts';

const test = guarded(suite('jobs API'));
const realtime = stubRealtime();
const started = new Set<string>();

const plugin = definePlugin({
  name: 'ja',
  version: '1.0.0',
  contract: false,
  jobs: {
    'ja.echo': defineJob<{ text: string; times: number }>({
      public: true,
      parameters: {
        type: 'object', additionalProperties: false, required: ['text'],
        properties: { text: { type: 'string', maxLength: 100 }, times: { type: 'integer', minimum: 1, default: 1 } },
      },
      stages: { one: 1, two: 1 },
      async handle(job, ctx) {
        await ctx.progress(100, { stage: 'one', message: 'first half' });
        await ctx.log('info', 'echoing', { times: job.parameters.times });
        await ctx.log('debug', 'detail');
        await ctx.progress(100, { stage: 'two', message: 'second half' });
        return { echo: job.parameters.text.repeat(job.parameters.times) };
      },
    }),
    'ja.hold': defineJob({
      public: true,
      async handle(job, ctx) {
        started.add(job.id);
        await ctx.progress(10, { message: 'holding' });
        await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve));
        throw ctx.signal.reason;
      },
    }),
    'ja.fail': defineJob<{ n?: number }>({
      public: true,
      retries: 0,
      handle(job) {
        if (job.parameters.n === 2) return { fixed: true };
        throw new AppError(422, 'BAD_THING', 'cannot do that');
      },
    }),
    'ja.ask': defineJob({
      public: true,
      async handle(_job, ctx) {
        return { choice: await ctx.ask({ question: 'Which?', options: ['a', 'b'], default: 'a' }) };
      },
    }),
    'ja.private': defineJob({ handle: () => 1 }),
  },
});

let k: TestKit;
let alice: SignedInClient;
let bob: SignedInClient;
test.before(async () => {
  k = await startTestKernel({
    plugins: [realtime.plugin, jobsPlugin, plugin],
    config: { jobs: { heartbeatMs: 100, pollMs: 20, cancelPollMs: 20 } },
  });
  alice = await k.asUser('alice');
  bob = await k.asUser('bob');
});
test.after(async () => { await k?.stop(); });

const jobOf = (c: SignedInClient, id: string) => c.get(`/v1/jobs/${id}`);
const until = (c: SignedInClient, id: string, status: string) =>
  waitFor(`job ${status}`, async () => {
    const r = await jobOf(c, id);
    return r.body.status === status ? r.body : undefined;
  });

test('POST /jobs creates a public job; parameters are checked; it runs to completion', async () => {
  const bad = await alice.post('/v1/jobs', { type: 'ja.echo', parameters: { text: 5 } });
  assertError(bad, 400, 'VALIDATION_ERROR');
  assert.ok(JSON.stringify(bad.body).includes('parameters.text'), bad.text);
  assertError(await alice.post('/v1/jobs', { type: 'ja.private' }), 400, 'VALIDATION_ERROR');
  assertError(await alice.post('/v1/jobs', { type: 'nope.nope' }), 400, 'VALIDATION_ERROR');
  assertError(await alice.post('/v1/jobs', { type: 'ja.echo', parameters: { text: 'x' }, priority: 'urgent' }),
    400, 'VALIDATION_ERROR');
  const made = await alice.post('/v1/jobs', { type: 'ja.echo', parameters: { text: 'ab', times: 2 },
    priority: 'high', subject: 'project-1' });
  assert.is(made.status, 201, made.text);
  assert.is(made.body.priority, 'high');
  assert.equal(made.body.parameters, { text: 'ab', times: 2 });
  const done = await until(alice, made.body.id, 'completed');
  assert.equal(done.result, { echo: 'abab' });
  assert.is(done.progress, 100);
  assert.is(done.stage, 'two');
  assert.is(done.stageDescription, 'second half');
  assert.is(done.estimatedCompletion, done.completedAt);
  assert.ok(done.startedAt && done.completedAt);
  const events = realtime.instance.on(`job:${made.body.id}`).map((e) => e.type);
  assert.equal(events, ['status', 'progress', 'log', 'log', 'progress', 'done']);
  assert.equal((realtime.instance.on(`job:${made.body.id}`)[1].data as { progress: number }).progress, 50);
  assert.ok(realtime.instance.on(`user:${alice.id}`).some((e) => e.type === 'job.done'));
});

test('the realtime check lets only the owner read job:<id>', async () => {
  const made = await alice.post('/v1/jobs', { type: 'ja.echo', parameters: { text: 'x' } });
  const check = realtime.instance.checks.get('job:')!;
  assert.ok(await check({ type: 'user', id: alice.id, permissions: [] }, `job:${made.body.id}`));
  assert.not.ok(await check({ type: 'user', id: bob.id, permissions: [] }, `job:${made.body.id}`));
  assert.not.ok(await check({ type: 'user', id: alice.id, permissions: [] }, 'job:unknown'));
});

test('another user gets 404 on every operation of my job', async () => {
  const made = await alice.post('/v1/jobs', { type: 'ja.echo', parameters: { text: 'x' } });
  const id = made.body.id;
  assertError(await bob.get(`/v1/jobs/${id}`), 404, 'NOT_FOUND');
  assertError(await bob.get(`/v1/jobs/${id}/logs`), 404, 'NOT_FOUND');
  assertError(await bob.post(`/v1/jobs/${id}/cancel`), 404, 'NOT_FOUND');
  assertError(await bob.post(`/v1/jobs/${id}/retry`, {}), 404, 'NOT_FOUND');
  assertError(await bob.post(`/v1/jobs/${id}/input`, { decisionId: 'd1', choice: 'a' }), 404, 'NOT_FOUND');
  const list = await bob.get('/v1/jobs');
  assert.not.ok(list.body.data.some((j: { id: string }) => j.id === id));
  assertError(await k.get(`/v1/jobs/${id}`), 401);
});

test('GET /jobs lists mine with filters, sort and paging', async () => {
  const carol = await k.asUser('carol');
  const ids: string[] = [];
  for (let i = 0; i < 5; i++) {
    const r = await carol.post('/v1/jobs', { type: 'ja.echo', parameters: { text: `t${i}` },
      subject: i % 2 ? 'odd' : 'even', priority: i });
    ids.push(r.body.id);
  }
  const first = await carol.get('/v1/jobs?limit=2');
  assert.is(first.status, 200, first.text);
  assert.equal(first.body.data.map((j: { id: string }) => j.id), [ids[4], ids[3]]);
  const second = await carol.get(`/v1/jobs?limit=2&cursor=${first.body.pagination.nextCursor}`);
  assert.equal(second.body.data.map((j: { id: string }) => j.id), [ids[2], ids[1]]);
  const odd = await carol.get('/v1/jobs?subject=odd&sort=priority');
  assert.equal(odd.body.data.map((j: { id: string }) => j.id), [ids[1], ids[3]]);
  const typed = await carol.get('/v1/jobs?type=ja.hold');
  assert.is(typed.body.data.length, 0);
  assertError(await carol.get('/v1/jobs?status=sleeping'), 400, 'VALIDATION_ERROR');
  assertError(await carol.get('/v1/jobs?cursor=bm9wZQ'), 400, 'VALIDATION_ERROR');
  await waitFor('carol done', async () => {
    const r = await carol.get('/v1/jobs?status=completed');
    return r.body.data.length === 5 ? true : undefined;
  });
});

test('GET /jobs/{id}/logs filters by level and pages', async () => {
  const made = await alice.post('/v1/jobs', { type: 'ja.echo', parameters: { text: 'x', times: 3 } });
  await until(alice, made.body.id, 'completed');
  const all = await alice.get(`/v1/jobs/${made.body.id}/logs`);
  assert.is(all.status, 200, all.text);
  assert.equal(all.body.data.map((l: { message: string }) => l.message), ['echoing', 'detail']);
  assert.equal(all.body.data[0].details, { times: 3 });
  assert.ok(all.body.data[0].timestamp);
  const info = await alice.get(`/v1/jobs/${made.body.id}/logs?level=info`);
  assert.equal(info.body.data.map((l: { message: string }) => l.message), ['echoing']);
});

test('cancel: a running job is stopped (the answer says cancelled); a finished one is a 400', async () => {
  const made = await alice.post('/v1/jobs', { type: 'ja.hold' });
  await waitFor('started', async () => (started.has(made.body.id) ? true : undefined));
  const running = await jobOf(alice, made.body.id);
  assert.is(running.body.status, 'running');
  assert.ok(running.body.estimatedCompletion, 'an ETA from the observed rate');
  const cancelled = await alice.post(`/v1/jobs/${made.body.id}/cancel`);
  assert.is(cancelled.status, 200, cancelled.text);
  assert.is(cancelled.body.status, 'cancelled');
  assert.ok(cancelled.body.cancelledAt);
  const last = realtime.instance.on(`job:${made.body.id}`).at(-1)!;
  assert.is(last.type, 'error');
  assertError(await alice.post(`/v1/jobs/${made.body.id}/cancel`), 400, 'JOB_NOT_CANCELLABLE');
});

test('retry: a failed job gets a new attempt linked to the original, with retryParameters merged', async () => {
  const made = await alice.post('/v1/jobs', { type: 'ja.fail', parameters: { n: 1 } });
  const failed = await until(alice, made.body.id, 'failed');
  assert.equal(failed.error, { code: 'BAD_THING', message: 'cannot do that' });
  assert.is(failed.attempts, 1, 'a 4xx AppError is not retried');
  const retried = await alice.post(`/v1/jobs/${made.body.id}/retry`, { retryParameters: { n: 2 } });
  assert.is(retried.status, 201, retried.text);
  assert.is(retried.body.originalJobId, made.body.id);
  assert.is(retried.body.retryCount, 1);
  assert.equal(retried.body.parameters, { n: 2 });
  const ok = await until(alice, retried.body.id, 'completed');
  assert.equal(ok.result, { fixed: true });
  assertError(await alice.post(`/v1/jobs/${retried.body.id}/retry`, {}), 400, 'JOB_NOT_RETRYABLE');
  const again = await alice.post(`/v1/jobs/${made.body.id}/retry`, {});
  assert.is(again.body.originalJobId, made.body.id);
});

test('input: answers the pending decision and the job resumes; wrong answers are 400', async () => {
  const made = await alice.post('/v1/jobs', { type: 'ja.ask' });
  const waiting = await until(alice, made.body.id, 'waiting_for_input');
  assert.equal(waiting.decision, { decisionId: 'd1', question: 'Which?', options: ['a', 'b'], default: 'a',
    expiresAt: null });
  assertError(await alice.post(`/v1/jobs/${made.body.id}/input`, { decisionId: 'd1', choice: 'c' }), 400,
    'VALIDATION_ERROR');
  assertError(await alice.post(`/v1/jobs/${made.body.id}/input`, { decisionId: 'd9', choice: 'a' }), 400,
    'NO_PENDING_DECISION');
  assertError(await alice.post(`/v1/jobs/${made.body.id}/input`, { choice: 'a' }), 400, 'VALIDATION_ERROR');
  const answered = await alice.post(`/v1/jobs/${made.body.id}/input`, { decisionId: 'd1', choice: 'b' });
  assert.is(answered.status, 200, answered.text);
  assert.is(answered.body.status, 'pending');
  const done = await until(alice, made.body.id, 'completed');
  assert.equal(done.result, { choice: 'b' });
  assertError(await alice.post(`/v1/jobs/${made.body.id}/input`, { decisionId: 'd1', choice: 'a' }), 400,
    'NO_PENDING_DECISION');
});

test('GET /admin/jobs lists everyone\'s jobs with statistics; users may not', async () => {
  assertError(await alice.get('/v1/admin/jobs'), 403);
  const admin = await k.asAdmin();
  const r = await admin.get('/v1/admin/jobs?limit=100');
  assert.is(r.status, 200, r.text);
  const owners = new Set(r.body.data.map((j: { id: string }) => j.id));
  assert.ok(owners.size > 5);
  assert.ok(r.body.stats.byStatus.completed >= 5);
  assert.ok(r.body.stats.byType['ja.echo'].completed >= 1);
  assert.ok(typeof r.body.stats.averageProcessingMs === 'number');
  assert.is(typeof r.body.stats.queueLength, 'number');
  const bobs = await admin.get(`/v1/admin/jobs?ownerId=${bob.id}`);
  assert.is(bobs.body.data.length, 0);
});

test('hostile input: bad ids, bad JSON and huge bodies are clear 4xx', async () => {
  assertError(await alice.get('/v1/jobs/not-a-uuid'), 400, 'VALIDATION_ERROR');
  assertError(await alice.get('/v1/jobs/01890000-0000-7000-8000-000000000000'), 404, 'NOT_FOUND');
  const raw = await alice.request('POST', '/v1/jobs', {
    raw: '{"type":', headers: { 'content-type': 'application/json' },
  });
  assert.is(raw.status, 400, raw.text);
  const big = await alice.post('/v1/jobs', { type: 'ja.echo', parameters: { text: 'x'.repeat(2_000_000) } });
  assert.ok(big.status === 413 || big.status === 400, big.text);
});

test.run();
