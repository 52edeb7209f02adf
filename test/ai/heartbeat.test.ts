/**
 * The answer stream's heartbeat (`: heartbeat` after 15 s without a write), on the kernel clock: a chat stream
 * whose upstream has gone quiet gets a heartbeat once a manual clock has moved 15 s and the streams are ticked,
 * none before; a stream that is writing gets none. No real waiting: the clock is moved, the tick called.
 */
import { createServer, type ServerResponse, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ManualClock } from '../../kernel/ports/clock.ts';
import type { AnswerStreams } from '../../plugins/ai/sse.ts';
import { guarded } from '../helpers/guarded.ts';
import { startTestKernel, type TestKit } from '../kit/index.ts';
import { waitFor } from '../jobs/helpers.ts';
import { cents, grant, GATEWAY_PLANS } from './helpers.ts';

const test = guarded(suite('ai: the answer stream\'s heartbeat, on the kernel clock'));
const clock = new ManualClock(Date.now());
let k: TestKit;
let upstream: Server;
const held: ServerResponse[] = [];

test.before(async () => {
  // Answers with its SSE headers and one chunk, then stays quiet until the test finishes it.
  upstream = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(`data: ${JSON.stringify({ id: 'c', object: 'chat.completion.chunk', created: 1, model: 'gpt-4o-mini',
        choices: [{ index: 0, delta: { content: 'Thinking' }, finish_reason: null }] })}\n\n`);
      held.push(res);
    });
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  const origin = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
  k = await startTestKernel({ clock, config: {
    plugins: { billing: { plans: GATEWAY_PLANS }, ai: { moderation: { floor: 'off' } } },
    adapters: {
      egress: { use: 'undici', allowCidrs: ['127.0.0.1/32'] },
      aiProvider: { use: 'gateway', moderation: 'local', providers: {
        openai: { adapter: 'openai', baseUrl: `${origin}/v1`, apiKey: 'sk-deployment' }, local: { adapter: 'local' },
      } },
    },
  } });
});
test.after(async () => {
  for (const res of held) res.destroy();
  await k?.stop();
  await new Promise((r) => upstream?.close(r));
});

const streams = () => k.kernel.runtimes.get('ai')!.container.cradle.answerStreams as AnswerStreams;

function finish(res: ServerResponse) {
  const chunk = (choices: unknown[], extra = {}) => `data: ${JSON.stringify({ id: 'c', object: 'chat.completion.chunk',
    created: 1, model: 'gpt-4o-mini', choices, ...extra })}\n\n`;
  res.write(chunk([{ index: 0, delta: {}, finish_reason: 'stop' }]));
  res.write(chunk([], { usage: { prompt_tokens: 9, completion_tokens: 1, total_tokens: 10 } }));
  res.end('data: [DONE]\n\n');
}

test('a quiet upstream: no heartbeat before 15 s, one after; then the answer ends with done', async () => {
  const user = await k.asUser('heartbeat');
  await grant(k, user.id, cents(10));
  const chat = (await user.post('/v1/chats', {})).body.id;
  const res = await fetch(`${k.url}/v1/chats/${chat}/stream`, { method: 'POST', body: JSON.stringify({
    content: 'Think about it', model: 'gpt-4o-mini' }), headers: { authorization: user.authorization,
    'content-type': 'application/json' } });
  assert.is(res.status, 200);
  let raw = '';
  const reading = (async () => {
    const decoder = new TextDecoder();
    for await (const c of res.body as unknown as AsyncIterable<Uint8Array>) raw += decoder.decode(c, { stream: true });
  })();
  await waitFor('the upstream call', async () => (held.length ? true : undefined));
  await waitFor('the first chunk', async () => (raw.includes('"type":"chunk"') ? true : undefined));
  assert.is(streams().size, 1);

  clock.advance(14_999);
  streams().tick();
  await new Promise((r) => setImmediate(r));
  assert.not.ok(raw.includes(': heartbeat'), 'nothing before 15 s of quiet');
  clock.advance(1);
  streams().tick();
  await waitFor('a heartbeat', async () => (raw.includes(': heartbeat\n\n') ? true : undefined));
  streams().tick();
  await new Promise((r) => setImmediate(r));
  assert.is(raw.split(': heartbeat').length - 1, 1, 'one per 15 s of quiet, not one per tick');

  finish(held.shift()!);
  await reading;
  const events = raw.split('\n\n').filter((f) => f.startsWith('data: ')).map((f) => JSON.parse(f.slice(6)));
  assert.is(events.at(-1).type, 'done', raw);
  assert.ok(raw.indexOf(': heartbeat') < raw.indexOf('"type":"done"'));
  assert.is(streams().size, 0, 'an ended stream is no longer ticked');
});

test.run();
