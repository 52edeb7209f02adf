import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { startTestKernel, type TestKit, type SignedInClient } from '../kit/index.ts';
import { ManualClock } from '../../kernel/ports/clock.ts';
import { openWs, realtimeOf } from './clients.ts';

const s = suite('realtime: bounded history');
let k: TestKit;
let user: SignedInClient;
const clock = new ManualClock(Date.now());

s.before(async () => {
  k = await startTestKernel({
    clock,
    config: {
      plugins: { realtime: { history: { maxEvents: 100, maxBytes: 1024, maxAgeSeconds: 60, pruneEvery: 1 } } },
    },
  });
  user = await k.asUser();
});
s.after(async () => { await k?.stop(); });

const idle = () => k.kernel.inflight.idle(new Promise((r) => setTimeout(r, 5000)));

s('bounded by bytes per channel, pruned without an operator; other channels keep theirs', async () => {
  const rt = realtimeOf(k.kernel);
  const channel = `user:${user.id}`;
  const other = await rt.emit('user:someone-else', 'keep', { x: 1 });
  const sent = [];
  for (let i = 0; i < 10; i++) sent.push(await rt.emit(channel, 'chunk', { i, pad: 'x'.repeat(280) }));
  await idle();
  const kept = await rt.history(channel);
  const bytes = kept.reduce((n, e) => n + Buffer.byteLength(JSON.stringify(e.data)), 0);
  assert.ok(bytes <= 1024, `${bytes} bytes kept`);
  assert.ok(kept.length >= 3, `the newest events stay (${kept.length})`);
  assert.equal(kept.map((e) => e.cursor), sent.slice(-kept.length).map((e) => e.cursor));
  assert.equal((await rt.history('user:someone-else')).map((e) => e.cursor), [other.cursor]);

  // A WebSocket resuming from a pruned cursor is told so in-band, then gets what is retained.
  const ticket = (await user.post('/v1/realtime/tickets')).body.ticket;
  const ws = await openWs(`${k.url.replace('http', 'ws')}/v1/realtime?ticket=${ticket}`);
  ws.send({ type: 'subscribe', channel, since: sent[0].cursor, id: 's' });
  await ws.next((m) => m.type === 'ack');
  assert.equal(ws.messages[0], { type: 'event', event: 'reset', channel, data: { reason: 'history_truncated' } });
  assert.equal(ws.messages.filter((m) => m.cursor).map((m) => m.cursor), kept.map((e) => e.cursor));
  ws.close();
});

s('bounded by age: the sweep drops what is older than maxAgeSeconds', async () => {
  const rt = realtimeOf(k.kernel);
  const channel = `user:${user.id}`;
  const old = await rt.emit(channel, 'old', {});
  clock.advance(61_000);
  const fresh = await rt.emit(channel, 'fresh', {});
  await idle();
  const dropped = await rt.store.sweep();
  assert.ok(dropped >= 1);
  const left = (await rt.history(channel)).map((e) => e.cursor);
  assert.not.ok(left.includes(old.cursor), 'the old one is gone');
  assert.ok(left.includes(fresh.cursor), 'the fresh one stays');
});

s.run();
