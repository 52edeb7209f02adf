/**
 * A fan-out server for the realtime bench, one process each (forked with IPC):
 *   kernel  the real boot path with system, identity and realtime on SQLite; events go through
 *           `realtime.emit` (a row in the history, then PubSub memory, then every subscribed socket)
 *   ws      the peer: a bare `ws` server that stringifies an event once and sends it to every socket
 * IPC: {cmd: 'emit', i} (answers {emitted: i}), {cmd: 'mem'} (after a gc: process.memoryUsage()).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebSocketServer, type WebSocket } from 'ws';
import { createLogger, Kernel } from '../../kernel/boot.ts';
import { loadRawConfig } from '../../kernel/config/load.ts';
import { validateConfig } from '../../kernel/config/validate.ts';
import { catalogs } from '../catalog.ts';
import { CONFIG_DIR, CONTRACTS_DIR, VERSION } from '../paths.ts';
import type { RealtimeService } from '../../plugins/realtime/service.ts';

type Command = { cmd: 'emit'; i: number } | { cmd: 'mem' } | { cmd: 'stop' };
const send = (m: unknown) => process.send!(m);
const now = () => performance.timeOrigin + performance.now();
const gc = (globalThis as { gc?: () => void }).gc;

async function kernelServer() {
  const dir = mkdtempSync(join(tmpdir(), 'rt-bench-'));
  const enabled = ['system', 'identity', 'realtime'];
  const overrides = {
    server: { host: '127.0.0.1', port: 0 },
    database: { driver: 'sqlite', url: `file:${join(dir, 'bench.db')}`, migrate: 'auto' },
    log: { level: 'error' },
    rateLimit: { enabled: false },
    plugins: {
      ...Object.fromEntries(Object.keys(catalogs.plugins).map((n) => [n, enabled.includes(n) ? {}
        : { enabled: false }])),
      // One bench user holds every socket.
      realtime: { ws: { maxSessionsPerUser: 100_000 } },
    },
  };
  const { raw, problems } = loadRawConfig({ configDir: CONFIG_DIR, env: {}, overrides });
  const config = validateConfig(raw, catalogs, problems);
  const kernel = await Kernel.create({ config, catalogs, contractsDir: CONTRACTS_DIR, version: VERSION,
    logger: createLogger(config, { write() {} }) });
  const { port } = await kernel.listen();
  const url = `http://127.0.0.1:${port}`;
  const body = { name: 'bench', email: `bench-${process.pid}@example.com`, password: 'Bench#Passw0rd-123' };
  const post = (path: string, b: unknown) => fetch(`${url}/v1${path}`,
    { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(b) });
  await post('/auth/register', body);
  const login = await (await post('/auth/login', { email: body.email, password: body.password })).json() as
    { accessToken: string };
  const rt = kernel.runtimes.get('realtime')!.container.cradle.realtime as RealtimeService;
  rt.authorize('bench:', async () => true);
  return {
    ready: { url: `ws://127.0.0.1:${port}/v1/realtime`, token: login.accessToken },
    emit: async (i: number) => { await rt.emit('bench:all', 'tick', { i, sentAt: now() }); },
    stop: async () => { await kernel.stop(); rmSync(dir, { recursive: true, force: true }); },
  };
}

async function peerServer() {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
  await new Promise((r) => wss.once('listening', r));
  const subscribed = new Set<WebSocket>();
  wss.on('connection', (ws) => {
    ws.on('message', (data) => {
      const m = JSON.parse(data.toString()) as { type: string; id?: string };
      if (m.type === 'subscribe') {
        subscribed.add(ws);
        ws.send(JSON.stringify({ type: 'ack', op: 'subscribe', id: m.id }));
      }
    });
    ws.on('close', () => subscribed.delete(ws));
  });
  const { port } = wss.address() as { port: number };
  return {
    ready: { url: `ws://127.0.0.1:${port}/`, token: 'none' },
    emit: async (i: number) => {
      const text = JSON.stringify({ type: 'event', event: 'tick', channel: 'bench:all', data: { i, sentAt: now() } });
      for (const ws of subscribed) ws.send(text);
    },
    stop: async () => { wss.close(); },
  };
}

const server = process.argv[2] === 'kernel' ? await kernelServer() : await peerServer();
process.on('message', (m: Command) => {
  if (m.cmd === 'emit') void server.emit(m.i).then(() => send({ emitted: m.i }));
  if (m.cmd === 'mem') {
    gc?.();
    gc?.();
    send({ mem: process.memoryUsage() });
  }
  if (m.cmd === 'stop') void server.stop().then(() => process.exit(0));
});
send({ ready: server.ready });
