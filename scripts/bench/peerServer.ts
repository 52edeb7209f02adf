/**
 * One server of the honest benchmark per process:
 *   node --import tsx scripts/bench/peerServer.ts kernel|dialect|koa|fastify sqlite|postgresql on|off
 * (`dialect`: the kernel with server.casing snake and server.envelope success)
 * (the last word: request logs). Prints `READY {json}` on fd 3 (or stdout) once listening;
 * answers `stats` on stdin like server.ts; exits cleanly on SIGTERM or when stdin closes.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { bufferedDestination } from '../../kernel/logging.ts';
import { serveBenchChild } from './childControl.ts';
import { openPostgresStore, openSqliteStore, type BenchDriver } from './rawStore.ts';
import { RawAuth } from './rawAuth.ts';
import { startKernelPeer, type PeerStarted } from './kernelPeer.ts';

export type PeerKind = 'kernel' | 'dialect' | 'koa' | 'fastify';
export interface PeerReady {
  kind: PeerKind;
  driver: BenchDriver;
  logs: boolean;
  pid: number;
  port: number;
  token: string;
  noteId: string;
  notes: string[];
}

const [kind, driver, logsArg] = process.argv.slice(2) as [PeerKind, BenchDriver, string];
if (
  !['kernel', 'dialect', 'koa', 'fastify'].includes(kind) ||
  !['sqlite', 'postgresql'].includes(driver) ||
  !['on', 'off'].includes(logsArg)
) {
  process.stderr.write('usage: peerServer.ts kernel|dialect|koa|fastify sqlite|postgresql on|off\n');
  process.exit(2);
}
const logs = logsArg === 'on';
const pgUrl = process.env.BENCH_PG_URL;

async function startBaseline(): Promise<PeerStarted> {
  const store = driver === 'sqlite' ? await openSqliteStore() : await openPostgresStore(pgUrl!);
  const auth = await RawAuth.start(store.userId);
  // The same logging as the kernel: pino at info, the kernel's buffered destination, to /dev/null.
  const logger = logs ? pino({ level: 'info' }, bufferedDestination('/dev/null')) : undefined;
  let port: number;
  let close: () => Promise<void>;
  if (kind === 'koa') {
    const { createKoaRaw } = await import('./koaRaw.ts');
    const server = createServer({ maxHeaderSize: 16384 }, createKoaRaw(store, auth, logger).callback());
    server.keepAliveTimeout = 5000;
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
    close = () => new Promise<void>((done) => { server.close(() => done()); server.closeAllConnections(); });
  } else {
    const { createFastifyPeer } = await import('./fastifyPeer.ts');
    const app = await createFastifyPeer(store, auth, logger);
    await app.listen({ port: 0, host: '127.0.0.1' });
    port = (app.server.address() as AddressInfo).port;
    close = () => app.close();
  }
  return {
    port,
    token: auth.token,
    noteId: store.noteId,
    notes: [
      `${kind}: raw ${driver === 'sqlite' ? 'libsql' : 'pg'} driver with prepared statements, jose RS256 per request, logs ${logs ? 'on' : 'off'}`,
    ],
    close: async () => {
      await close();
      await store.close();
    },
  };
}

const started = kind === 'kernel' || kind === 'dialect'
  ? await startKernelPeer(driver, logs, pgUrl, kind === 'dialect')
  : await startBaseline();
const ready: PeerReady = {
  kind,
  driver,
  logs,
  pid: process.pid,
  port: started.port,
  token: started.token,
  noteId: started.noteId,
  notes: started.notes,
};
serveBenchChild({
  ready,
  close: () => started.close(),
  forceExitMs: 5000,
  loopStats: () => ({ loopDelayP50Ms: 0, loopDelayP99Ms: 0, loopDelayMaxMs: 0 }),
});
