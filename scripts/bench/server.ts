/**
 * One benchmark server per process: `node --import tsx scripts/bench/server.ts kernel|bare [basic|identity]`.
 * Prints `READY {"port":...}` on fd 3 when the parent opened one (stdout otherwise) once
 * listening. A `stats` line on stdin is answered with `STATS {json}` there (event-loop delay
 * since the previous ask, and the process's CPU time). Exits cleanly (so `--cpu-prof` writes
 * its profile) on SIGTERM/SIGINT or when stdin closes (the parent went away).
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { ReadyMessage, Suite } from './shared.ts';
import { serveBenchChild } from './childControl.ts';

const kind = process.argv[2];
const suite = (process.argv[3] ?? 'basic') as Suite;
if ((kind !== 'kernel' && kind !== 'bare') || (suite !== 'basic' && suite !== 'identity')) {
  process.stderr.write('usage: server.ts kernel|bare [basic|identity]\n');
  process.exit(2);
}

const started = kind === 'kernel'
  ? await (await import('./kernelServer.ts')).startKernel(suite)
  : await (await import('./bareServer.ts')).startBare(suite);

const message: ReadyMessage = { kind, pid: process.pid, ...started.ready };
// Event-loop delay, sampled every 10 ms (the histogram's timer is cheap: one uv timer). The
// histogram holds the time between two runs of that timer, so the resolution is taken off.
const RESOLUTION_MS = 10;
const loopDelay = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
const delayMs = (ns: number) => Math.max(0, ns / 1e6 - RESOLUTION_MS);
loopDelay.enable();

serveBenchChild({
  ready: message,
  close: () => started.close(),
  forceExitMs: 3000,
  onShutdown: () => loopDelay.disable(),
  loopStats: () => {
    const figures = {
      loopDelayP50Ms: delayMs(loopDelay.percentile(50)),
      loopDelayP99Ms: delayMs(loopDelay.percentile(99)),
      loopDelayMaxMs: delayMs(loopDelay.max),
    };
    loopDelay.reset();
    return figures;
  },
});
