/**
 * `npm run bench -- --realtime`: WebSocket fan-out, the kernel's realtime plugin against a bare
 * `ws` broadcast server, both in their own process (scripts/bench/realtimeServer.ts), in one run.
 * Each holds BENCH_WS_CONNECTIONS (1000) sockets opened from this process, all subscribed to one
 * channel; then BENCH_WS_EVENTS (100) events are published, alternating kernel and peer, each
 * waited for on every socket. Latency is publish (before `realtime.emit`: the history row, PubSub,
 * the sockets) to receipt, wall clock across processes; memory per connection is the server's
 * heap + external (and RSS) after a gc with the sockets open, minus before, over the count.
 * Targets (issue 11): p99 <= 50 ms, <= 30 KB per connection.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { WebSocket } from 'ws';
import { ROOT } from '../paths.ts';

const CONNECTIONS = Number(process.env.BENCH_WS_CONNECTIONS ?? (process.argv.includes('--quick') ? 200 : 1000));
const EVENTS = Number(process.env.BENCH_WS_EVENTS ?? (process.argv.includes('--quick') ? 20 : 100));
const P99_TARGET_MS = 50;
const KB_TARGET = 30;
const ROUND = 10;

interface Server {
  kind: 'kernel' | 'peer';
  child: ChildProcess;
  ready: { url: string; token: string };
  request<T>(m: object, key: string): Promise<T>;
}

async function startServer(kind: 'kernel' | 'peer'): Promise<Server> {
  const child = fork(resolve(ROOT, 'scripts/bench/realtimeServer.ts'), [kind === 'kernel' ? 'kernel' : 'ws'], {
    // BENCH_WS_PROF=<dir>: a CPU profile of the kernel's server process, written there when it stops.
    execArgv: ['--import', 'tsx', '--expose-gc',
      ...(process.env.BENCH_WS_PROF && kind === 'kernel' ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_WS_PROF}`]
        : [])], stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const waiting = new Map<string, Array<(v: unknown) => void>>();
  child.on('message', (m: Record<string, unknown>) => {
    for (const key of Object.keys(m)) waiting.get(key)?.shift()?.(m[key]);
  });
  const request = <T>(m: object, key: string) => new Promise<T>((res) => {
    if (!waiting.has(key)) waiting.set(key, []);
    waiting.get(key)!.push(res as (v: unknown) => void);
    if (Object.keys(m).length) child.send(m);
  });
  const ready = await request<Server['ready']>({}, 'ready');
  return { kind, child, ready, request };
}

type Mem = { heapUsed: number; external: number; rss: number };

async function connectAll(server: Server, onEvent: (i: number, sentAt: number) => void): Promise<WebSocket[]> {
  const sockets: WebSocket[] = [];
  for (let start = 0; start < CONNECTIONS; start += 50) {
    const batch = Array.from({ length: Math.min(50, CONNECTIONS - start) }, () => new Promise<WebSocket>((res, rej) => {
      const protocols = server.kind === 'kernel' ? ['bearer', server.ready.token] : [];
      const ws = new WebSocket(server.ready.url, protocols, { perMessageDeflate: false });
      ws.once('error', rej);
      ws.on('message', (data) => {
        const m = JSON.parse(data.toString()) as { type: string; data?: { i: number; sentAt: number } };
        if (m.type === 'ack') res(ws);
        else if (m.data) onEvent(m.data.i, m.data.sentAt);
      });
      ws.once('open', () => ws.send(JSON.stringify({ type: 'subscribe', channel: 'bench:all', id: 's' })));
    }));
    sockets.push(...await Promise.all(batch));
  }
  return sockets;
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];

export async function runRealtimeBench(out: (line?: string) => void = console.log): Promise<string> {
  out(`WebSocket fan-out: ${CONNECTIONS} connections, ${EVENTS} events each way, kernel (realtime.emit) vs bare ws`);
  const servers = [await startServer('kernel'), await startServer('peer')];
  const results: Record<string, { lat: number[]; perConnKb: number; perConnRssKb: number }> = {};
  /** Latencies per round of ROUND events, per server: the ratio's interval comes from the per-round p99s. */
  const byRound = new Map<string, number[][]>();
  try {
    const received = new Map<string, Map<number, number>>();
    for (const s of servers) byRound.set(s.kind, Array.from({ length: Math.ceil(EVENTS / ROUND) }, () => []));
    const sockets = new Map<string, WebSocket[]>();
    for (const s of servers) {
      const before = await s.request<Mem>({ cmd: 'mem' }, 'mem');
      const counts = new Map<number, number>();
      received.set(s.kind, counts);
      const lat: number[] = [];
      results[s.kind] = { lat, perConnKb: 0, perConnRssKb: 0 };
      sockets.set(s.kind, await connectAll(s, (i, sentAt) => {
        const ms = performance.timeOrigin + performance.now() - sentAt;
        lat.push(ms);
        byRound.get(s.kind)![Math.floor(i / ROUND)].push(ms);
        counts.set(i, (counts.get(i) ?? 0) + 1);
      }));
      const after = await s.request<Mem>({ cmd: 'mem' }, 'mem');
      results[s.kind].perConnKb = (after.heapUsed + after.external - before.heapUsed - before.external)
        / CONNECTIONS / 1024;
      results[s.kind].perConnRssKb = (after.rss - before.rss) / CONNECTIONS / 1024;
    }
    for (let i = 0; i < EVENTS; i++) {
      for (const s of i % 2 ? [...servers].reverse() : servers) {
        const counts = received.get(s.kind)!;
        await s.request({ cmd: 'emit', i }, 'emitted');
        const deadline = Date.now() + 10_000;
        while ((counts.get(i) ?? 0) < CONNECTIONS) {
          if (Date.now() > deadline) throw new Error(`${s.kind}: event ${i} reached ${counts.get(i) ?? 0} sockets`);
          await new Promise((r) => setTimeout(r, 1));
        }
      }
    }
    for (const list of sockets.values()) for (const ws of list) ws.terminate();
  } finally {
    for (const s of servers) s.child.send({ cmd: 'stop' });
  }
  const rows: string[] = [];
  out(`  ${'server'.padEnd(8)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)} ${'max ms'.padStart(8)} `
    + `${'KB/conn heap+ext'.padStart(17)} ${'KB/conn rss'.padStart(12)}`);
  for (const [kind, r] of Object.entries(results)) {
    const sorted = [...r.lat].sort((a, b) => a - b);
    out(`  ${kind.padEnd(8)} ${percentile(sorted, 0.5).toFixed(2).padStart(8)} ${percentile(sorted, 0.99).toFixed(2)
      .padStart(8)} ${sorted[sorted.length - 1].toFixed(2).padStart(8)} ${r.perConnKb.toFixed(1).padStart(17)} `
      + `${r.perConnRssKb.toFixed(1).padStart(12)}`);
  }
  const k = results.kernel;
  const p99 = percentile([...k.lat].sort((a, b) => a - b), 0.99);
  const peerP99 = percentile([...results.peer.lat].sort((a, b) => a - b), 0.99);
  rows.push(`ws fan-out p99 ${p99.toFixed(1)} ms (<= ${P99_TARGET_MS}) ${p99 <= P99_TARGET_MS ? 'PASS' : 'FAIL'}`);
  rows.push(`memory/conn ${k.perConnKb.toFixed(1)} KB (<= ${KB_TARGET}) ${k.perConnKb <= KB_TARGET ? 'PASS' : 'FAIL'}`);
  const ratios = byRound.get('kernel')!.map((r, i) => {
    const peer = [...byRound.get('peer')![i]].sort((a, b) => a - b);
    return percentile([...r].sort((a, b) => a - b), 0.99) / percentile(peer, 0.99);
  });
  const mean = ratios.reduce((a, b) => a + b, 0) / ratios.length;
  const sd = Math.sqrt(ratios.reduce((a, b) => a + (b - mean) ** 2, 0) / Math.max(1, ratios.length - 1));
  const half = 1.96 * sd / Math.sqrt(ratios.length);
  rows.push(`kernel/peer p99 ${(p99 / peerP99).toFixed(2)}x (per-round mean ${mean.toFixed(2)}, 95% CI `
    + `${(mean - half).toFixed(2)}-${(mean + half).toFixed(2)}; info)`);
  const summary = `SUMMARY realtime: ${rows.join('; ')}`;
  out(summary);
  return summary;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await runRealtimeBench();
  process.exit(0);
}
