/**
 * The parent-facing half of a benchmark server process: announces readiness, answers stats
 * requests on stdin, and shuts down on SIGTERM/SIGINT or when stdin closes. Messages go to
 * fd 3 when the parent opened a control pipe there, else to stdout.
 */
import { fstatSync, writeSync } from 'node:fs';
import { READY_PREFIX, STATS_COMMAND, STATS_PREFIX, type ServerStats } from './shared.ts';

export interface ChildControlOptions {
  /** What `ready` says to the parent (port, token...). */
  ready: object;
  close(): Promise<void>;
  /** Exit anyway this long after a shutdown began. */
  forceExitMs: number;
  /** Event-loop figures for a stats answer (CPU time is added here). */
  loopStats(): Omit<ServerStats, 'cpuUs'>;
  onShutdown?(): void;
}

export function serveBenchChild(options: ChildControlOptions): void {
  const hasControlFd = (() => {
    try {
      return fstatSync(3).isFIFO() || fstatSync(3).isSocket();
    } catch {
      return false;
    }
  })();
  const controlFd = hasControlFd ? 3 : 1;
  writeSync(controlFd, `${READY_PREFIX}${JSON.stringify(options.ready)}\n`);

  let closing = false;
  function shutdown() {
    if (closing) return;
    closing = true;
    options.onShutdown?.();
    const force = setTimeout(() => process.exit(0), options.forceExitMs);
    force.unref();
    options.close().then(
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
      const stats: ServerStats = { ...options.loopStats(), cpuUs: cpu.user + cpu.system };
      writeSync(controlFd, `${STATS_PREFIX}${JSON.stringify(stats)}\n`);
    }
  });
  process.stdin.on('end', shutdown);
  process.stdin.on('error', shutdown);
  process.stdin.resume();
}
