/**
 * One benchmark server per process: `node --import tsx scripts/bench/server.ts kernel|bare [basic|identity]`.
 * Prints `READY {"port":...}` on fd 3 when the parent opened one (stdout otherwise) once
 * listening. A `stats` line on stdin is answered with `STATS {json}` there (event-loop delay
 * since the previous ask, and the process's CPU time). Exits cleanly (so `--cpu-prof` writes
 * its profile) on SIGTERM/SIGINT or when stdin closes (the parent went away).
 */
import { fstatSync, writeSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import {
  READY_PREFIX,
  STATS_COMMAND,
  STATS_PREFIX,
  type ReadyMessage,
  type ServerStats,
  type Suite,
} from './shared.ts';

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
const hasControlFd = (() => {
  try {
    return fstatSync(3).isFIFO() || fstatSync(3).isSocket();
  } catch {
    return false;
  }
})();
const controlFd = hasControlFd ? 3 : 1;
writeSync(controlFd, `${READY_PREFIX}${JSON.stringify(message)}\n`);

// Event-loop delay, sampled every 10 ms (the histogram's timer is cheap: one uv timer). The
// histogram holds the time between two runs of that timer, so the resolution is taken off.
const RESOLUTION_MS = 10;
const loopDelay = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
const delayMs = (ns: number) => Math.max(0, ns / 1e6 - RESOLUTION_MS);
loopDelay.enable();

let closing = false;
function shutdown() {
  if (closing) return;
  closing = true;
  loopDelay.disable();
  const force = setTimeout(() => process.exit(0), 3000);
  force.unref();
  started.close().then(
    () => process.exit(0),
    (err) => {
      process.stderr.write(`close failed: ${err?.message ?? err}\n`);
      process.exit(1);
    },
  );
}
process.once('SIGTERM', shutdown);
process.once('SIGINT', shutdown);
let input = '';
process.stdin.on('data', (chunk: Buffer) => {
  input += chunk.toString();
  let nl: number;
  while ((nl = input.indexOf('\n')) >= 0) {
    const line = input.slice(0, nl).trim();
    input = input.slice(nl + 1);
    if (line !== STATS_COMMAND) continue;
    const cpu = process.cpuUsage();
    const stats: ServerStats = {
      loopDelayP50Ms: delayMs(loopDelay.percentile(50)),
      loopDelayP99Ms: delayMs(loopDelay.percentile(99)),
      loopDelayMaxMs: delayMs(loopDelay.max),
      cpuUs: cpu.user + cpu.system,
    };
    loopDelay.reset();
    writeSync(controlFd, `${STATS_PREFIX}${JSON.stringify(stats)}\n`);
  }
});
process.stdin.on('end', shutdown);
process.stdin.on('error', shutdown);
process.stdin.resume();
