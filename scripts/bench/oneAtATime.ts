/**
 * CPU per request at one request at a time (the AI gateway bench's regime, issue 12): starts each peer
 * (scripts/bench/peerServer.ts) and sends it `GET /health` and `GET /v1/users/me` over one keep-alive connection,
 * one after the other, reading the server's CPU counter around N calls. At this concurrency every server pays a
 * wake-up per request that 50 connections share, so these numbers are far above the bench's per-request CPU.
 *   node --import tsx scripts/bench/oneAtATime.ts [koa,fastify,kernel] [calls 2000]
 */
import { resolve } from 'node:path';
import { Pool } from 'undici';
import { startServer, type ServerHandle } from './servers.ts';
import { processCpuUs } from './load.ts';
import { BENCH_DIR } from './shared.ts';
import type { PeerReady } from './peerServer.ts';

const [kindsArg = 'koa,fastify,kernel', callsArg = '2000'] = process.argv.slice(2);
const calls = Number(callsArg);
for (const kind of kindsArg.split(',')) {
  const peer = (await startServer(kind, 'sqlite', {
    script: resolve(BENCH_DIR, 'peerServer.ts'), args: [kind, 'sqlite', 'on'],
  })) as ServerHandle & PeerReady;
  const pool = new Pool(peer.baseUrl, { connections: 1 });
  try {
    const paths = [['GET /health', '/health', false], ['GET /v1/users/me', '/v1/users/me', true]] as const;
    for (const [label, path, auth] of paths) {
      const call = async () => {
        const res = await pool.request({ method: 'GET', path,
          headers: auth ? { authorization: `Bearer ${peer.token}` } : {} });
        await res.body.text();
      };
      for (let i = 0; i < 300; i++) await call();
      const cpu0 = processCpuUs(peer.pid)!;
      const t0 = performance.now();
      for (let i = 0; i < calls; i++) await call();
      const cpu = (processCpuUs(peer.pid)! - cpu0) / calls;
      const wall = ((performance.now() - t0) * 1000) / calls;
      console.log(`${kind.padEnd(8)} ${label.padEnd(17)} CPU ${cpu.toFixed(0)} µs/request, wall ${wall.toFixed(0)} µs`);
    }
  } finally {
    await pool.close();
    await peer.stop();
  }
}
