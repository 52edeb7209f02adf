/**
 * CPU per validated POST /v1/notes with the work it leaves behind (the outbox relay's pass, the
 * activity subscriber's delivery) included: each round loads one server, then waits until its CPU
 * use falls to idle before reading the CPU counter, so a backlog worked off after the load is counted.
 *   node --import tsx scripts/bench/postSettled.ts [kernel,base,koa] [rounds] [seconds per round]
 * `base` is the kernel of BASE_TREE (another checkout); BENCH_DRIVER=postgresql with BENCH_PG_URL.
 */
import { resolve } from 'node:path';
import { processCpuUs, runSegment, settledCpuUs } from './load.ts';
import { startServer, pinSelf, type ServerHandle } from './servers.ts';
import { BENCH_DIR } from './shared.ts';
import type { PeerReady } from './peerServer.ts';

type Peer = ServerHandle & PeerReady;
const [kindsArg = 'kernel,base', roundsArg = '6', secondsArg = '2'] = process.argv.slice(2);
const kinds = kindsArg.split(',');
const driver = process.env.BENCH_DRIVER ?? 'sqlite';
pinSelf(0);
const peers: Record<string, Peer> = {};
for (const kind of kinds) {
  peers[kind] = (await startServer(kind, driver, {
    script: kind === 'base' ? resolve(process.env.BASE_TREE ?? '.', 'scripts/bench/peerServer.ts')
      : resolve(BENCH_DIR, 'peerServer.ts'),
    args: [kind === 'base' ? 'kernel' : kind, driver, 'on'],
    cpu: 1,
  })) as Peer;
}
const target = (p: Peer) => ({
  url: `${p.baseUrl}/v1/notes`, method: 'POST' as const,
  headers: { authorization: `Bearer ${p.token}`, 'content-type': 'application/json' },
  body: JSON.stringify({ title: 'Benchmark note', body: 'A short body stored by every server.', pinned: false }),
});
const settings = { connections: 50, pipelining: 1 };
const settled = settledCpuUs;
for (const k of kinds) await runSegment(target(peers[k]), 1.5, settings);
for (const k of kinds) await settled(peers[k].pid);
const perReq: Record<string, number[]> = Object.fromEntries(kinds.map((k) => [k, []]));
const rps: Record<string, number[]> = Object.fromEntries(kinds.map((k) => [k, []]));
const lat: Record<string, number[]> = Object.fromEntries(kinds.map((k) => [k, []]));
const rounds = Number(roundsArg);
for (let r = 0; r < rounds; r++) {
  for (const k of kinds.map((_, i) => kinds[(i + r) % kinds.length])) {
    const pid = peers[k].pid;
    const cpu0 = processCpuUs(pid)!;
    const seg = await runSegment(target(peers[k]), Number(secondsArg), settings, pid);
    const cpu1 = await settled(pid);
    perReq[k].push((cpu1 - cpu0) / Math.max(1, seg.ok2xx));
    if (process.env.VERBOSE) console.log(k, seg.ok2xx, seg.non2xx, seg.errors, Math.round(cpu1 - cpu0));
    rps[k].push(seg.ok2xx / seg.seconds);
    lat[k].push(...seg.latencies.subarray(0, seg.requests));
  }
}
const pct = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.floor(q * (xs.length - 1))] ?? NaN;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
for (const k of kinds) {
  console.log(`${driver} ${k.padEnd(7)} settled CPU µs/POST median ${median(perReq[k]).toFixed(0)} ` +
    `[${perReq[k].map((x) => x.toFixed(0)).join(' ')}]  req/s median ${median(rps[k]).toFixed(0)}  ` +
    `p50 ${pct(lat[k], 0.5).toFixed(1)} ms p99 ${pct(lat[k], 0.99).toFixed(1)} ms`);
}
for (const k of kinds.slice(1)) {
  const logs = perReq[k].map((x, i) => Math.log(x / perReq[kinds[0]][i]));
  const mean = logs.reduce((a, b) => a + b, 0) / logs.length;
  const sd = Math.sqrt(logs.reduce((a, b) => a + (b - mean) ** 2, 0) / Math.max(1, logs.length - 1));
  const half = (2 * sd) / Math.sqrt(logs.length);
  console.log(`settled CPU/POST ${k}/${kinds[0]} = ${Math.exp(mean).toFixed(3)} ` +
    `(95% ${Math.exp(mean - half).toFixed(3)}–${Math.exp(mean + half).toFixed(3)})`);
}
await Promise.all(Object.values(peers).map((p) => p.stop()));
process.exit(0);
