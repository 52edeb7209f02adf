import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { startTestKernel } from '../kit/index.ts';
import { CLOSE_CODES } from '../../plugins/realtime/api.ts';
import { openSse, openWs, realtimeOf } from './clients.ts';

const s = suite('realtime: shutdown');

s('SIGTERM-style stop ends SSE streams and closes sockets with 1001 instead of waiting out the drain', async () => {
  const shutdownTimeoutMs = 60_000;
  const k = await startTestKernel({ config: { server: { shutdownTimeoutMs } } });
  const user = await k.asUser();
  const ticket = (await user.post('/v1/realtime/tickets')).body.ticket as string;
  const ws = await openWs(`${k.url.replace('http', 'ws')}/v1/realtime?ticket=${ticket}`);
  ws.send({ type: 'subscribe', channel: `user:${user.id}`, id: 's' });
  await ws.next((m) => m.id === 's');
  const sse = await openSse(`${k.url}/v1/events/stream`, { authorization: user.authorization });
  await sse.until('the stream to open', () => sse.frames.length > 0);
  assert.is(realtimeOf(k.kernel).sockets.size, 1);
  const started = Date.now();
  await k.stop();
  // Well inside the drain deadline: nothing held the server open until the timeout.
  assert.ok(Date.now() - started < shutdownTimeoutMs / 2, `stopped in ${Date.now() - started} ms`);
  assert.is((await ws.untilClosed()).code, CLOSE_CODES.goingAway);
  await sse.until('the SSE stream to end', () => sse.ended);
});

s.run();
