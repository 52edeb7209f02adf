import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { startTestKernel, type TestKit, type SignedInClient } from '../kit/index.ts';
import { ManualClock } from '../../kernel/ports/clock.ts';
import { definePlugin, errors } from '../../kernel/index.ts';
import type { Realtime } from '../../plugins/realtime/api.ts';
import { openSse, realtimeOf } from './clients.ts';
import { cursorAt } from '../../plugins/realtime/cursor.ts';

/** A plugin with its own stream route, as jobs has `GET /jobs/{id}/events`. */
const demoPlugin = definePlugin({
  name: 'demo',
  version: '1.0.0',
  requires: ['realtime'],
  handlers: {
    'demo.events': async (req, ctx) => {
      const { id } = req.params as { id: string };
      if (ctx.principal?.id !== id) throw errors.notFound();
      const realtime = (ctx.services as { realtime: Realtime }).realtime;
      return realtime.sse(ctx.koa, [`demo:${id}`], { fromStart: true, endWhen: (e) => e.type === 'done' });
    },
  },
  onStart(c) {
    (c as unknown as { realtime: Realtime }).realtime.authorize('demo:', async (p, ch) => ch === `demo:${p.id}`);
  },
});
const demoContract = {
  openapi: '3.1.0',
  info: { title: 'demo', version: '1.0.0' },
  paths: {
    '/demo/{id}/events': {
      get: {
        operationId: 'demo.events', security: [{ bearerAuth: [] }], 'x-permissions': [],
        parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }],
        responses: {
          200: { description: 'events', content: { 'text/event-stream': { schema: { type: 'string' } } } },
          404: { description: 'not yours', content: { 'application/json': { schema: { type: 'object' } } } },
        },
      },
    },
  },
};

const s = suite('realtime: SSE streams');
let k: TestKit;
let alice: SignedInClient;
let bob: SignedInClient;
const clock = new ManualClock(Date.now());

s.before(async () => {
  k = await startTestKernel({
    clock,
    plugins: [demoPlugin],
    contracts: { demo: demoContract },
    config: { plugins: { realtime: { history: { maxEvents: 5, pruneEvery: 1 } } } },
  });
  alice = await k.asUser('alice');
  bob = await k.asUser('bob');
});
s.after(async () => { await k?.stop(); });

const stream = (who: SignedInClient, query = '', headers: Record<string, string> = {}) =>
  openSse(`${k.url}/v1/events/stream${query}`, { authorization: who.authorization, ...headers });

/** Lets deferred prunes finish (they run after the commit, outside the emit). */
const pruned = () => k.kernel.inflight.idle(new Promise((r) => setTimeout(r, 5000)));

s('my channel: retry first, then each event with id: <cursor> and its type', async () => {
  const rt = realtimeOf(k.kernel);
  const client = await stream(alice);
  assert.is(client.status, 200);
  assert.match(String(client.headers['content-type']), /^text\/event-stream/);
  await client.until('the retry field', () => client.frames.some((f) => f.retry !== undefined));
  assert.is(client.frames[0].retry, '3000');
  const sent = await rt.emit(`user:${alice.id}`, 'note', { n: 1 });
  await rt.emit(`user:${bob.id}`, 'note', { n: 'not for alice' });
  const [event] = await client.untilEvents(1);
  assert.is(event.id, sent.cursor);
  assert.is(event.event, 'note');
  assert.equal(JSON.parse(event.data!), { channel: `user:${alice.id}`, type: 'note', data: { n: 1 },
    cursor: sent.cursor, at: sent.at });
  client.close();
});

s('disconnect and resume with Last-Event-ID: every missed event exactly once, in order', async () => {
  const rt = realtimeOf(k.kernel);
  const channel = `user:${alice.id}`;
  const first = await stream(alice);
  const before = [];
  for (let i = 0; i < 3; i++) before.push(await rt.emit(channel, 'step', { i }));
  const got = await first.untilEvents(3);
  const last = got[got.length - 1].id!;
  first.close();
  const missed = [];
  for (let i = 3; i < 7; i++) missed.push(await rt.emit(channel, 'step', { i }));
  const again = await stream(alice, '', { 'last-event-id': last });
  const live = rt.emit(channel, 'step', { i: 7 });
  const events = await again.untilEvents(5);
  const after = await live;
  await new Promise((r) => setTimeout(r, 100)); // room for a duplicate to show
  assert.equal(again.events().map((e) => e.id), [...missed.map((e) => e.cursor), after.cursor]);
  assert.equal(events.map((e) => JSON.parse(e.data!).data.i), [3, 4, 5, 6, 7]);
  assert.ok(!again.frames.some((f) => f.event === 'reset'), 'no reset: nothing was lost');
  again.close();
});

s('?lastEventId= on first connect resumes the same way', async () => {
  const rt = realtimeOf(k.kernel);
  const a = await rt.emit(`user:${bob.id}`, 'x', 1);
  const b = await rt.emit(`user:${bob.id}`, 'x', 2);
  const client = await stream(bob, `?lastEventId=${a.cursor}`);
  const [event] = await client.untilEvents(1);
  assert.is(event.id, b.cursor);
  client.close();
});

s('a cursor older than the history gets an in-band reset, then what is retained', async () => {
  const rt = realtimeOf(k.kernel);
  const channel = `user:${bob.id}`;
  const emitted = [];
  for (let i = 0; i < 12; i++) emitted.push(await rt.emit(channel, 'tick', { i }));
  await pruned();
  const retained = await rt.history(channel);
  assert.is(retained.length, 5, 'history is bounded by maxEvents');
  assert.equal(retained.map((e) => e.cursor), emitted.slice(-5).map((e) => e.cursor));
  const client = await stream(bob, '', { 'last-event-id': emitted[0].cursor });
  await client.untilEvents(6);
  const [reset, ...rest] = client.events();
  assert.is(reset.event, 'reset');
  assert.equal(JSON.parse(reset.data!), { channel, reason: 'history_truncated' });
  assert.equal(rest.map((e) => e.id), emitted.slice(-5).map((e) => e.cursor));
  client.close();

  // Past the age limit, any cursor is too old (whatever the floors say).
  const old = cursorAt(clock.now() - 86_400_000 - 1);
  const late = await stream(bob, '', { 'last-event-id': old });
  await late.untilEvents(1);
  assert.is(late.events()[0].event, 'reset');
  late.close();
});

s('a heartbeat comment after 15 s of quiet, on the kernel clock', async () => {
  const rt = realtimeOf(k.kernel);
  const client = await stream(alice);
  await client.until('connected', () => client.frames.length > 0);
  rt.tick();
  assert.not.ok(client.frames.some((f) => f.comment === 'heartbeat'), 'no heartbeat before 15 s');
  clock.advance(15_000);
  rt.tick();
  await client.until('a heartbeat', () => client.frames.some((f) => f.comment === 'heartbeat'));
  client.close();
});

s('another plugin\'s stream (realtime.sse): replays from the start and ends with the endWhen event', async () => {
  const rt = realtimeOf(k.kernel);
  const channel = `demo:${alice.id}`;
  await rt.emit(channel, 'progress', { p: 50 });
  const done = await rt.emit(channel, 'done', { ok: true });
  const client = await openSse(`${k.url}/v1/demo/${alice.id}/events`, { authorization: alice.authorization });
  await client.until('the stream to end', () => client.ended);
  assert.equal(client.events().map((e) => e.event), ['progress', 'done']);
  assert.is(client.events()[1].id, done.cursor);
  const refused = await bob.get(`/v1/demo/${alice.id}/events`);
  assert.is(refused.status, 404, 'the plugin decides who may read: another user\'s gets its 404');
});

s('other users\' channels, unknown prefixes and bad cursors are refused before streaming', async () => {
  let res = await alice.get(`/v1/events/stream?channels=user:${bob.id}`);
  assert.is(res.status, 403);
  assert.is(res.body.error.code, 'CHANNEL_FORBIDDEN');
  res = await alice.get('/v1/events/stream?channels=nosuch:1');
  assert.is(res.status, 403);
  res = await alice.get('/v1/events/stream?lastEventId=not-a-cursor');
  assert.is(res.status, 400);
  assert.is(res.body.error.code, 'VALIDATION_ERROR');
  res = await alice.get('/v1/events/stream', { 'last-event-id': "'; drop table x" });
  assert.is(res.status, 400);
  res = await k.get('/v1/events/stream');
  assert.is(res.status, 401);
});

s('emit in the caller\'s unit of work: stored and sent only when it commits', async () => {
  const rt = realtimeOf(k.kernel);
  const channel = `user:${alice.id}`;
  const client = await stream(alice);
  await client.until('connected', () => client.frames.length > 0);
  const orm = k.kernel.orm!;
  // Rolled back: never stored, never sent.
  await orm.em.fork().transactional(async (em) => {
    await rt.emit(channel, 'rolled-back', {}, { em });
    await em.flush();
    throw new Error('rollback');
  }).catch(() => {});
  const em = orm.em.fork();
  const staged = await rt.emit(channel, 'staged', { n: 1 }, { em });
  await new Promise((r) => setTimeout(r, 100));
  assert.is(client.events().length, 0, 'nothing before the flush');
  await em.flush();
  const [event] = await client.untilEvents(1);
  assert.is(event.id, staged.cursor);
  assert.is(event.event, 'staged');
  // Inside em.transactional, only after the commit.
  await orm.em.fork().transactional(async (tx) => {
    await rt.emit(channel, 'in-tx', {}, { em: tx });
    await tx.flush();
    await new Promise((r) => setTimeout(r, 50));
    assert.is(client.events().length, 1, 'not before the commit');
  });
  await client.untilEvents(2);
  assert.equal(client.events().map((e) => e.event), ['staged', 'in-tx']);
  assert.not.ok((await rt.history(channel)).some((e) => e.type === 'rolled-back'));
  client.close();
});

s.run();
