import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { startTestKernel, type TestKit } from '../kit/index.ts';
import { serviceUrl, uniqueName } from '../helpers/services.ts';
import { freshPostgres, type TestDatabase } from '../helpers/databases.ts';
import { openSse, openWs, realtimeOf } from './clients.ts';

const pgUrl = serviceUrl('DATABASE_URL', 'realtime across two instances (PostgreSQL + Redis)');
const redisUrl = serviceUrl('REDIS_URL', 'realtime across two instances (PostgreSQL + Redis)');

if (pgUrl && redisUrl) {
  const s = suite('realtime: two kernels on one PostgreSQL and one Redis pubsub');
  let db: TestDatabase;
  let a: TestKit;
  let b: TestKit;

  s.before(async () => {
    db = await freshPostgres(pgUrl);
    const config = {
      database: { driver: 'postgresql', url: db.url },
      adapters: {
        pubsub: { use: 'redis', url: redisUrl, keyPrefix: `${uniqueName('rt')}:` },
        cache: { use: 'redis', url: redisUrl, keyPrefix: `${uniqueName('rtc')}:` },
      },
    };
    a = await startTestKernel({ config });
    b = await startTestKernel({ config });
  });
  s.after(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await db?.drop();
  });

  s('events emitted on A reach a WebSocket and an SSE client held by B, in order, each once', async () => {
    const user = await a.asUser('cross');
    const channel = `user:${user.id}`;
    // The ticket is minted on A and taken on B: the cache is shared.
    const ticket = (await user.post('/v1/realtime/tickets')).body.ticket as string;
    const ws = await openWs(`${b.url.replace('http', 'ws')}/v1/realtime?ticket=${ticket}`);
    ws.send({ type: 'subscribe', channel, id: 'sub' });
    await ws.next((m) => m.type === 'ack' && m.id === 'sub');
    const sse = await openSse(`${b.url}/v1/events/stream`, { authorization: user.authorization });
    await sse.until('the SSE stream to open', () => sse.frames.length > 0);

    const rt = realtimeOf(a.kernel);
    const sent = [];
    for (let i = 0; i < 50; i++) sent.push(await rt.emit(channel, 'progress', { percent: i * 2 }));
    await ws.next(() => ws.messages.filter((m) => m.type === 'progress').length >= 50, '50 progress messages');
    await sse.untilEvents(50);
    await new Promise((r) => setTimeout(r, 100)); // room for a duplicate to show
    const cursors = sent.map((e) => e.cursor);
    assert.equal(ws.messages.filter((m) => m.type === 'progress').map((m) => m.cursor), cursors);
    assert.equal(sse.events().map((e) => e.id), cursors);
    assert.equal(ws.messages.filter((m) => m.type === 'progress').map((m) => m.data.percent),
      sent.map((_, i) => i * 2));

    // B's SSE client drops; A emits more; it resumes on A from B's last cursor (the history is shared).
    sse.close();
    const missed = [];
    for (let i = 0; i < 5; i++) missed.push(await rt.emit(channel, 'progress', { percent: 100 + i }));
    const resumed = await openSse(`${a.url}/v1/events/stream`,
      { authorization: user.authorization, 'last-event-id': cursors[cursors.length - 1] });
    await resumed.untilEvents(5);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(resumed.events().map((e) => e.id), missed.map((e) => e.cursor));
    resumed.close();
    ws.close();
  });

  s.run();
}
