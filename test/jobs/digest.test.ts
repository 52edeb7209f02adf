/** The notes example's digest job end to end: two stages, one question, the owner's notes only. */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import jobsPlugin from '../../plugins/jobs/index.ts';
import { guarded } from '../helpers/guarded.ts';
import { startTestKernel, type TestKit } from '../kit/index.ts';
import { waitFor } from './helpers.ts';
import { stubRealtime } from './stubRealtime.ts';

const test = guarded(suite('notes digest job'));
const realtime = stubRealtime();
let k: TestKit;
test.before(async () => {
  k = await startTestKernel({
    plugins: [realtime.plugin, jobsPlugin], config: { jobs: { heartbeatMs: 100, pollMs: 20, cancelPollMs: 20 } },
  });
});
test.after(async () => { await k?.stop(); });

test('collect, ask, compose: the answer picks the pinned notes, and only the owner\'s', async () => {
  const alice = await k.asUser('alice');
  const bob = await k.asUser('bob');
  for (const [title, pinned] of [['one', true], ['two', false], ['three', true]] as const) {
    assert.is((await alice.post('/v1/notes', { title, pinned })).status, 201);
  }
  await bob.post('/v1/notes', { title: 'bob secret', pinned: true });
  const made = await alice.post('/v1/jobs', { type: 'notes.digest', parameters: { days: 1 } });
  assert.is(made.status, 201, made.text);
  const id = made.body.id;
  const waiting = await waitFor('the question', async () => {
    const r = await alice.get(`/v1/jobs/${id}`);
    return r.body.status === 'waiting_for_input' ? r.body : undefined;
  });
  assert.is(waiting.decision.question, 'Digest all 3 notes, or only the pinned ones?');
  assert.is(waiting.progress, 25, 'collect (weight 1 of 4) is done');
  const answer = await alice.post(`/v1/jobs/${id}/input`, {
    decisionId: waiting.decision.decisionId, choice: 'pinned',
  });
  assert.is(answer.status, 200, answer.text);
  const done = await waitFor('completed', async () => {
    const r = await alice.get(`/v1/jobs/${id}`);
    return r.body.status === 'completed' ? r.body : undefined;
  });
  assert.equal(done.result, { noteCount: 2, scope: 'pinned', digest: '- one\n- three' });
  const events = realtime.instance.on(`job:${id}`);
  const stages = events.filter((e) => e.type === 'progress').map((e) => (e.data as { stage: string }).stage);
  assert.equal(stages, ['collect', 'collect', 'compose', 'compose']);
  const types = events.map((e) => e.type);
  assert.ok(types.indexOf('decision') < types.lastIndexOf('progress'), 'the question came before composing');
  assert.is(types.at(-1), 'done');
  const logs = await alice.get(`/v1/jobs/${id}/logs`);
  assert.equal(logs.body.data[0].details, { count: 3, days: 1 });
});

test.run();
