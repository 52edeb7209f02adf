import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { connect, type Socket } from 'node:net';
import { startKernel, type TestKernel } from '../helpers/kernel.ts';
import { serverOptions } from '../../kernel/http/serverLimits.ts';
import { loadConfig } from '../../scripts/kernel.ts';

const s = suite('http: slow bodies are cut off after server.requestTimeoutMs; server.maxConnections is honoured');

function open(k: TestKernel): Promise<Socket> {
  const { port } = new URL(k.url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), '127.0.0.1', () => resolve(socket));
    socket.once('error', reject);
  });
}

/** Resolves with what the server sent once it closes the connection. */
function closed(socket: Socket): Promise<string> {
  let received = '';
  socket.on('data', (d) => { received += d.toString(); });
  socket.on('error', () => {});
  return new Promise((resolve) => socket.once('close', () => resolve(received)));
}

s('defaults: 30 s per request, headers within it, a cap on connections', () => {
  const { server } = loadConfig({ env: {} });
  assert.is(server.requestTimeoutMs, 30000);
  assert.ok(server.headersTimeoutMs <= server.requestTimeoutMs);
  assert.ok(server.maxConnections > 0);
  const options = serverOptions(server);
  assert.is(options.requestTimeout, 30000);
  assert.ok((options.connectionsCheckingInterval ?? 30000) <= 1000);
  assert.is(
    serverOptions({ ...server, requestTimeoutMs: 500 }).headersTimeout,
    500,
    'headers timeout is clamped to the request timeout',
  );
});

s('a body trickling 1 byte per 100 ms is cut off with a 408 after requestTimeoutMs (500 ms)', async () => {
  const k = await startKernel({ server: { requestTimeoutMs: 500, headersTimeoutMs: 500 } });
  try {
    const socket = await open(k);
    const done = closed(socket);
    const started = performance.now();
    socket.write(
      'POST /v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n',
    );
    let sent = 0;
    const trickle = setInterval(() => { if (socket.writable) { socket.write('{'); sent++; } }, 100);
    const reply = await done;
    clearInterval(trickle);
    const ms = performance.now() - started;
    assert.match(reply, /^HTTP\/1\.1 408 /, reply.slice(0, 200));
    assert.match(reply, /"code":"REQUEST_TIMEOUT"/);
    assert.ok(ms >= 450 && ms < 3000, `closed after ${Math.round(ms)} ms`);
    assert.ok(sent < 30, `only ${sent} of 1000 bytes were accepted`);
    assert.is((await k.request('GET', '/health')).status, 200, 'ordinary requests still work');
  } finally { await k.stop(); }
});

s('connections past maxConnections are closed at once; freed slots are usable again', async () => {
  const k = await startKernel({ server: { maxConnections: 2 } });
  try {
    const held = [await open(k), await open(k)];
    const third = await open(k);
    const reply = await closed(third);
    assert.is(reply, '', 'the third connection was dropped without an answer');
    held[0].destroy();
    const server = k.kernel.server!;
    await new Promise<void>((resolve) => {
      const poll = () => server.getConnections((_e, n) => (n < 2 ? resolve() : setImmediate(poll)));
      poll();
    });
    assert.is((await k.request('GET', '/health')).status, 200);
    held[1].destroy();
  } finally { await k.stop(); }
});

s.run();
