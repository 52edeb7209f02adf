/** Jobs over the real realtime plugin: a job's SSE stream ends with `done`; a WebSocket `answer` resumes it. */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { guarded } from '../helpers/guarded.ts';
import { startTestKernel, assertError, type SignedInClient, type TestKit } from '../kit/index.ts';
import { openSse, openWs } from '../realtime/clients.ts';
import { serviceUrl, uniqueName } from '../helpers/services.ts';
import { dropRedisPrefix } from './redisKeys.ts';

async function digestFor(who: SignedInClient): Promise<string> {
  for (const [title, pinned] of [['one', true], ['two', false]] as const) {
    await who.post('/v1/notes', { title, pinned });
  }
  const made = await who.post('/v1/jobs', { type: 'notes.digest', parameters: { days: 1 } });
  assert.is(made.status, 201, made.text);
  return made.body.id;
}

/** On the database queue (the default) and on redis (BullMQ): the same HTTP, SSE and WebSocket behaviour. */
function streamsSuite(label: string, config: Record<string, unknown> = {}, cleanup = async () => {}) {
  const test = guarded(suite(`jobs and realtime: GET /jobs/{id}/events and the WebSocket answer${label}`));
  let k: TestKit;
  test.before(async () => {
    k = await startTestKernel({ config: { jobs: { heartbeatMs: 100, pollMs: 20, cancelPollMs: 20 }, ...config } });
  });
  test.after(async () => {
    await k?.stop();
    await cleanup();
  });

  test('the job stream carries progress and the decision, an answer over WebSocket resumes it, it ends with done',
    async () => {
      const alice = await k.asUser('alice');
      const id = await digestFor(alice);
      const sse = await openSse(`${k.url}/v1/jobs/${id}/events`, { authorization: alice.authorization });
      assert.is(sse.status, 200);
      await sse.until('the decision', () => sse.events().some((e) => e.event === 'decision'));
      const decision = JSON.parse(sse.events().find((e) => e.event === 'decision')!.data!).data;
      const ticket = await alice.post('/v1/realtime/tickets');
      const ws = await openWs(`${k.url.replace('http', 'ws')}/v1/realtime?ticket=${ticket.body.ticket}`);
      try {
        ws.send({ type: 'answer', id: 'a1', jobId: id, decisionId: decision.decisionId, choice: 'pinned' });
        const ack = await ws.next((m) => m.id === 'a1', 'the answer ack');
        assert.is(ack.type, 'ack', JSON.stringify(ack));
      } finally {
        ws.close();
      }
      await sse.until('the end of the stream', () => sse.ended);
      const events = sse.events();
      assert.is(events.at(-1)!.event, 'done', 'the stream ends with done');
      assert.ok(events.every((e) => e.id), 'every event has a cursor');
      assert.ok(events.some((e) => e.event === 'progress'));
      const done = JSON.parse(events.at(-1)!.data!).data;
      assert.equal(done.result.scope, 'pinned');
    });

  test('another user\'s job stream is a 404, and a bad answer over WebSocket is a clear error', async () => {
    const alice = await k.asUser('alice');
    const bob = await k.asUser('bob');
    const id = await digestFor(alice);
    assertError(await bob.get(`/v1/jobs/${id}/events`), 404);
    const ticket = await bob.post('/v1/realtime/tickets');
    const ws = await openWs(`${k.url.replace('http', 'ws')}/v1/realtime?ticket=${ticket.body.ticket}`);
    try {
      ws.send({ type: 'answer', id: 'b1', jobId: id, decisionId: 'x', choice: 'all' });
      const refused = await ws.next((m) => m.id === 'b1', 'the refusal');
      assert.is(refused.type, 'error');
      ws.send({ type: 'answer', id: 'b2', jobId: 42 });
      const bad = await ws.next((m) => m.id === 'b2', 'the bad request');
      assert.equal([bad.type, bad.status], ['error', 400]);
    } finally {
      ws.close();
    }
  });

  test.run();
}

streamsSuite('');
const redisUrl = serviceUrl('REDIS_URL', 'jobs and realtime on redis');
if (redisUrl) {
  const keyPrefix = uniqueName('kjobs-sse');
  streamsSuite(' (redis, BullMQ)', { adapters: { jobQueue: { use: 'redis', url: redisUrl, keyPrefix } } },
    () => dropRedisPrefix(redisUrl, keyPrefix));
}
