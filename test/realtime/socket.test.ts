import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { startTestKernel, type TestKit, type SignedInClient } from '../kit/index.ts';
import { ManualClock } from '../../kernel/ports/clock.ts';
import { AppError } from '../../kernel/index.ts';
import { CLOSE_CODES } from '../../plugins/realtime/api.ts';
import { openWs, realtimeOf, type WsClient } from './clients.ts';
import { PASSWORD } from '../identity/helpers.ts';

const s = suite('realtime: WebSocket');
let k: TestKit;
let alice: SignedInClient;
let bob: SignedInClient;
const clock = new ManualClock(Date.now());
const open: WsClient[] = [];

s.before(async () => {
  k = await startTestKernel({
    clock,
    // The test registers its own `answer` handler (the jobs plugin's is tested in test/jobs/streams.test.ts).
    config: {
      plugins: { jobs: { enabled: false }, realtime: { ws: { maxMessageBytes: 4096, maxBufferedBytes: 65_536 } } },
    },
  });
  alice = await k.asUser('alice');
  bob = await k.asUser('bob');
  realtimeOf(k.kernel).onMessage('answer', async (message, { principal }) => {
    if (message.jobId !== 'job-1') throw new AppError(404, 'NOT_FOUND', 'No such job');
    return { accepted: true, by: principal.id, choice: message.choice };
  });
});
s.after(async () => {
  for (const c of open) c.ws.terminate();
  await k?.stop();
});

const wsUrl = (query = '') => `${k.url.replace('http', 'ws')}/v1/realtime${query}`;
async function ticket(who: SignedInClient): Promise<string> {
  const res = await who.post('/v1/realtime/tickets');
  assert.is(res.status, 201, res.text);
  assert.match(res.body.ticket, /^rt_/);
  assert.is(res.headers.get?.('cache-control') ?? 'no-store', 'no-store');
  return res.body.ticket;
}
async function connect(who: SignedInClient): Promise<WsClient> {
  const client = await openWs(wsUrl(`?ticket=${await ticket(who)}`));
  open.push(client);
  return client;
}
async function refused(url: string, options = {}): Promise<{ status: number; body: any }> {
  try {
    const c = await openWs(url, options);
    c.ws.terminate();
  } catch (err) {
    const e = err as { status: number; body: string };
    return { status: e.status, body: JSON.parse(e.body) };
  }
  throw new Error('the upgrade was accepted');
}

s('a ticket opens one socket, once; an unknown ticket or none is a 401 in the error format', async () => {
  const t = await ticket(alice);
  const first = await openWs(wsUrl(`?ticket=${t}`));
  open.push(first);
  const again = await refused(wsUrl(`?ticket=${t}`));
  assert.is(again.status, 401);
  assert.is(again.body.error.code, 'TICKET_INVALID');
  assert.is((await refused(wsUrl('?ticket=rt_nope'))).status, 401);
  const none = await refused(wsUrl());
  assert.is(none.status, 401);
  assert.ok(none.body.error.requestId, 'the one error format');
  // Racing two connections with one ticket: exactly one wins.
  const raced = await ticket(alice);
  const outcomes = await Promise.allSettled([openWs(wsUrl(`?ticket=${raced}`)), openWs(wsUrl(`?ticket=${raced}`))]);
  assert.is(outcomes.filter((o) => o.status === 'fulfilled').length, 1);
  for (const o of outcomes) if (o.status === 'fulfilled') o.value.ws.terminate();
  first.close();
});

s('the bearer subprotocol authenticates too (and the token is never echoed)', async () => {
  const client = await openWs(wsUrl(), { protocols: ['bearer', alice.accessToken] });
  open.push(client);
  assert.is(client.ws.protocol, 'bearer');
  const bad = await refused(wsUrl(), { protocols: ['bearer', 'not.a.token'] });
  assert.is(bad.status, 401);
  client.close();
});

s('a plain GET /realtime answers 426; an upgrade elsewhere is a 404', async () => {
  const res = await alice.get('/v1/realtime');
  assert.is(res.status, 426);
  assert.is(res.body.error.code, 'UPGRADE_REQUIRED');
  assert.is((await refused(`${k.url.replace('http', 'ws')}/v1/notes`)).status, 404);
});

s('subscribe with since: replay, then ack, then live events; progress and decision keep their kind', async () => {
  const rt = realtimeOf(k.kernel);
  const channel = `user:${alice.id}`;
  const a = await rt.emit(channel, 'progress', { percent: 10 });
  const b = await rt.emit(channel, 'decision', { question: 'go?' });
  const client = await connect(alice);
  client.send({ type: 'subscribe', channel, since: a.cursor, id: 's1' });
  const ack = await client.next((m) => m.type === 'ack' && m.id === 's1', 'the subscribe ack');
  assert.equal(ack, { type: 'ack', op: 'subscribe', id: 's1', channel });
  const c = await rt.emit(channel, 'note', { n: 3 });
  await client.next((m) => m.cursor === c.cursor, 'the live event');
  const events = client.messages.filter((m) => m.cursor);
  assert.equal(events.map((m) => [m.type, m.event, m.cursor]), [
    ['decision', 'decision', b.cursor], ['event', 'note', c.cursor],
  ]);
  assert.ok(client.messages.indexOf(ack) > client.messages.findIndex((m) => m.cursor === b.cursor),
    'replayed events come before the ack');
  client.send({ type: 'unsubscribe', channel, id: 'u1' });
  await client.next((m) => m.type === 'ack' && m.id === 'u1');
  await rt.emit(channel, 'note', { n: 4 });
  client.send({ type: 'ping', id: 'p1' });
  await client.next((m) => m.type === 'pong' && m.id === 'p1');
  assert.is(client.messages.filter((m) => m.cursor).length, 2, 'nothing after unsubscribe');
  client.close();
});

s('several sessions per user each get the user\'s events', async () => {
  const rt = realtimeOf(k.kernel);
  const sessions = await Promise.all([connect(bob), connect(bob), connect(bob)]);
  for (const c of sessions) {
    c.send({ type: 'subscribe', channel: `user:${bob.id}`, id: 'x' });
    await c.next((m) => m.type === 'ack');
  }
  const e = await rt.emit(`user:${bob.id}`, 'note', {});
  await Promise.all(sessions.map((c) => c.next((m) => m.cursor === e.cursor)));
  sessions.forEach((c) => c.close());
});

s('past ws.maxSessionsPerUser (20) the upgrade is refused with 429; other users are unaffected', async () => {
  const carol = await k.asUser('carol');
  const held = await Promise.all(Array.from({ length: 20 }, () =>
    openWs(wsUrl(), { protocols: ['bearer', carol.accessToken] })));
  open.push(...held);
  const over = await refused(wsUrl(), { protocols: ['bearer', carol.accessToken] });
  assert.is(over.status, 429);
  assert.is(over.body.error.code, 'TOO_MANY_SESSIONS');
  const other = await connect(bob);
  other.close();
  held.forEach((c) => c.ws.terminate());
});

s('hostile input: clear errors, no crash, and the socket keeps working', async () => {
  const client = await connect(alice);
  const cases: Array<[unknown, string]> = [
    ['{not json', 'BAD_JSON'],
    ['[1,2]', 'BAD_MESSAGE'],
    ['"text"', 'BAD_MESSAGE'],
    ['null', 'BAD_MESSAGE'],
    [{ type: 42 }, 'BAD_MESSAGE'],
    [{ type: 'launch-missiles' }, 'UNKNOWN_TYPE'],
    [{ type: 'subscribe' }, 'BAD_CHANNEL'],
    [{ type: 'subscribe', channel: 'x'.repeat(300) }, 'BAD_CHANNEL'],
    [{ type: 'subscribe', channel: `user:${bob.id}` }, 'CHANNEL_FORBIDDEN'],
    [{ type: 'subscribe', channel: 'nosuch:1' }, 'CHANNEL_FORBIDDEN'],
    [{ type: 'subscribe', channel: `user:${alice.id}`, since: 'yesterday' }, 'BAD_CURSOR'],
    [{ type: 'subscribe', channel: `user:${alice.id}`, since: { $gt: '' } }, 'BAD_CURSOR'],
    [{ type: 'answer', jobId: 'nope', decisionId: 'd', choice: 'a' }, 'NOT_FOUND'],
    [{ type: 'auth' }, 'BAD_MESSAGE'],
    [{ type: 'auth', token: bob.accessToken }, 'AUTH_MISMATCH'],
    [{ type: '__proto__' }, 'UNKNOWN_TYPE'],
  ];
  for (const [i, [message]] of cases.entries()) {
    const text = typeof message === 'string' ? message : JSON.stringify({ ...(message as object), id: i });
    client.send(text);
  }
  await client.next(() => client.messages.filter((m) => m.type === 'error').length >= cases.length,
    `${cases.length} errors`);
  assert.equal(client.messages.filter((m) => m.type === 'error').map((m) => m.code), cases.map(([, code]) => code));
  client.ws.send(Buffer.from([1, 2, 3]), { binary: true });
  await client.next((m) => m.code === 'BINARY_NOT_SUPPORTED');
  client.send({ type: 'answer', jobId: 'job-1', decisionId: 'd1', choice: 'yes', id: 'a1' });
  const answered = await client.next((m) => m.id === 'a1');
  assert.equal(answered,
    { type: 'ack', op: 'answer', id: 'a1', result: { accepted: true, by: alice.id, choice: 'yes' } });

  // A frame over maxMessageBytes closes that socket (1009); the server and other sockets go on.
  const other = await connect(alice);
  client.send({ type: 'ping', pad: 'x'.repeat(10_000) });
  assert.is((await client.untilClosed()).code, CLOSE_CODES.tooBig);
  other.send({ type: 'ping', id: 'still' });
  await other.next((m) => m.type === 'pong' && m.id === 'still');
  assert.is((await alice.get('/v1/users/me')).status, 200);
  assert.is(k.errors.length, 0, k.errors.join('\n'));

  // A flood past ws.maxMessagesPerSecond (50; the kernel clock stands still here) is refused, message by message.
  for (let i = 0; i < 60; i++) other.send({ type: 'ping', id: `f${i}` });
  await other.next((m) => m.code === 'RATE_LIMITED', 'a RATE_LIMITED error');
  assert.ok(other.messages.filter((m) => m.type === 'pong').length <= 50);
  clock.advance(1000);
  other.send({ type: 'ping', id: 'after' });
  await other.next((m) => m.id === 'after' && m.type === 'pong');
  other.close();
});

s('a slow consumer is closed with 4429, never buffered without bound', async () => {
  const rt = realtimeOf(k.kernel);
  const client = await connect(alice);
  client.send({ type: 'subscribe', channel: `user:${alice.id}`, id: 'slow' });
  await client.next((m) => m.id === 'slow');
  (client.ws as unknown as { _socket: { pause(): void } })._socket.pause(); // stops reading
  const big = 'x'.repeat(60_000);
  for (let i = 0; i < 300; i++) {
    await rt.emit(`user:${alice.id}`, 'big', { i, big });
    if (i % 20 === 0) await new Promise((r) => setImmediate(r));
    if (rt.sockets.size === 0 || client.closed) break;
  }
  (client.ws as unknown as { _socket: { resume(): void } })._socket.resume();
  const closed = await client.untilClosed();
  assert.is(closed.code, CLOSE_CODES.slowConsumer);
});

s('idle sockets, unanswered pings and expired tokens are closed with documented codes (kernel clock)', async () => {
  const rt = realtimeOf(k.kernel);
  const idle = await connect(alice);
  const busy = await connect(alice);
  busy.send({ type: 'subscribe', channel: `user:${alice.id}`, id: 'b' });
  await busy.next((m) => m.id === 'b');
  clock.advance(120_000);
  rt.tick();
  assert.is((await idle.untilClosed()).code, CLOSE_CODES.timeout, 'no subscription for 120 s: idle');
  assert.is(busy.closed, undefined, 'a subscribed socket is not idle');

  // The socket answered the ping (ws clients do): still open after the next tick.
  await new Promise((r) => setTimeout(r, 50));
  clock.advance(30_000);
  rt.tick();
  await new Promise((r) => setTimeout(r, 50));
  assert.is(busy.closed, undefined, 'pongs keep it open');

  // The access token that minted its ticket expires (15 min): closed 4401 unless re-authenticated.
  const renewed = await connect(alice);
  renewed.send({ type: 'subscribe', channel: `user:${alice.id}`, id: 'r' });
  await renewed.next((m) => m.id === 'r');
  clock.advance(10 * 60_000);
  const login = await k.post('/v1/auth/login', { email: alice.email, password: PASSWORD });
  assert.is(login.status, 200, login.text);
  renewed.send({ type: 'auth', token: login.body.accessToken, id: 'reauth' });
  const reauth = await renewed.next((m) => m.id === 'reauth');
  assert.is(reauth.type, 'ack', JSON.stringify(reauth));
  clock.advance(6 * 60_000);
  rt.tick();
  assert.is((await busy.untilClosed()).code, CLOSE_CODES.tokenExpired);
  await new Promise((r) => setTimeout(r, 50));
  assert.is(renewed.closed, undefined, 'a re-authenticated socket stays open');
  renewed.close();
});

s.run();
