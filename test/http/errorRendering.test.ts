import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { connect } from 'node:net';
import { startDeployment } from '../helpers/deployment.ts';
import type { TestKernel } from '../helpers/kernel.ts';

const s = suite<{ plain: TestKernel; studio: TestKernel; snake: TestKernel }>(
  'errors: no handler headers, nothing after sent headers, parser errors in the deployment dialect',
);
s.before(async (ctx) => {
  ctx.plain = await startDeployment('ilm-red');
  ctx.studio = await startDeployment('storycore-studio');
  ctx.snake = await startDeployment('storycore-assistant');
});
s.after(async (ctx) => {
  await ctx.plain?.stop();
  await ctx.studio?.stop();
  await ctx.snake?.stop();
});

s(
  'an error drops the headers its handler set (Cache-Control: public) and keeps the request id and CORS',
  async ({ plain }) => {
    const res = await plain.request('GET', '/v1/cached-failure', { headers: { origin: 'https://app.example' } });
    assert.is(res.status, 404, res.text);
    assert.is(res.headers.get('cache-control'), null, 'no Cache-Control from the handler');
    assert.is(res.headers.get('content-disposition'), null);
    assert.type(res.headers.get('x-request-id'), 'string');
    assert.is(res.headers.get('access-control-allow-origin'), '*');
    assert.is(res.body.error.code, 'NOT_FOUND');
  },
);

s(
  'an error after the headers were sent cuts the response short instead of appending a JSON body',
  async ({ plain }) => {
    const res = await fetch(`${plain.url}/v1/broken-stream`);
    assert.is(res.status, 200);
    const text = await res.text().catch(() => 'aborted');
    assert.not.match(text, /"error"/, `got ${text}`);
    assert.is((await plain.request('GET', '/health')).status, 200, 'the server is still fine');
  },
);

function rawRequest(url: string, head: string): Promise<string> {
  const { port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), '127.0.0.1', () => socket.write(head));
    let data = '';
    socket.on('data', (c) => { data += c; });
    socket.on('end', () => resolve(data));
    socket.on('error', reject);
  });
}

s('a request the HTTP parser refuses gets the deployment\'s envelope and casing', async ({ studio, snake }) => {
  const wrapped = await rawRequest(studio.url, 'GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n');
  assert.match(wrapped, /^HTTP\/1\.1 400/);
  const body = JSON.parse(wrapped.slice(wrapped.indexOf('\r\n\r\n') + 4));
  assert.is(body.success, false);
  assert.type(body.message, 'string');
  assert.is(body.error.code, 'BAD_REQUEST');
  const snaked = await rawRequest(snake.url, 'GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n');
  const snakeBody = JSON.parse(snaked.slice(snaked.indexOf('\r\n\r\n') + 4));
  assert.type(snakeBody.error.request_id, 'string');
  assert.is(snakeBody.error.requestId, undefined);
});

s.run();
