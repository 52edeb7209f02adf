/** Spawns a benchmark server in its own process and waits for its READY line. */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { ROOT } from '../paths.ts';
import {
  BENCH_DIR,
  READY_PREFIX,
  STATS_COMMAND,
  STATS_PREFIX,
  type ReadyMessage,
  type ServerStats,
  type Suite,
} from './shared.ts';

export type ServerKind = 'kernel' | 'bare';

export interface ServerHandle extends ReadyMessage {
  child: ChildProcess;
  baseUrl: string;
  /** Resolves with the exit code once the process is gone. */
  exited: Promise<number | null>;
  stop(): Promise<number | null>;
  /** Event-loop delay since the previous call (or since READY), and the server's CPU time so far. */
  stats(): Promise<ServerStats>;
  /** The access token the workloads send (identity suite): bare signs its own, the kernel's comes from a login. */
  token?: string;
}

const SERVER_TS = resolve(BENCH_DIR, 'server.ts');
const BOOT_TIMEOUT_MS = 60_000;

/**
 * Pins this process (all its threads) to `cpu` so that the load generator and the server
 * never share a core. Returns false when taskset is missing or refuses.
 */
export function pinSelf(cpu: number): boolean {
  const r = spawnSync('taskset', ['-a', '-p', '-c', String(cpu), String(process.pid)], { stdio: 'ignore' });
  return r.status === 0;
}

export function hasTaskset(): boolean {
  return spawnSync('taskset', ['-V'], { stdio: 'ignore' }).status === 0;
}

export interface StartOptions {
  cpuProfDir?: string;
  cpuProfIntervalUs?: number;
  /** Run the server on this CPU only (via taskset). */
  cpu?: number;
  /** Another server script and its arguments (default: server.ts <kind> <suite>). */
  script?: string;
  args?: string[];
}

export async function startServer(
  kind: ServerKind | string,
  suite: Suite | string,
  options: StartOptions = {},
): Promise<ServerHandle> {
  const nodeArgs = ['--import', 'tsx'];
  if (options.cpuProfDir)
    nodeArgs.push(
      '--cpu-prof',
      `--cpu-prof-dir=${options.cpuProfDir}`,
      `--cpu-prof-interval=${options.cpuProfIntervalUs ?? 250}`,
    );
  const argv = [process.execPath, ...nodeArgs, options.script ?? SERVER_TS, ...(options.args ?? [kind, suite])];
  // taskset execs node, so the child's pid is the server's pid.
  if (options.cpu !== undefined) argv.unshift('taskset', '-c', String(options.cpu));
  const child = spawn(argv[0], argv.slice(1), {
    cwd: ROOT,
    env: { ...process.env, NODE_ENV: 'production' },
    // stdout goes to /dev/null (a kernel with its default logger writes there); READY comes on fd 3.
    stdio: ['pipe', 'ignore', 'pipe', 'pipe'],
  });
  const control = child.stdio[3] as NodeJS.ReadableStream;
  const exited = new Promise<number | null>((res) => child.once('exit', (code) => res(code)));
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
    if (stderr.length > 20_000) stderr = stderr.slice(-20_000);
  });

  // The control pipe carries one READY line, then a STATS line per `stats` sent on stdin.
  const statsWaiters: Array<(s: ServerStats) => void> = [];
  let onReady: ((m: ReadyMessage) => void) | undefined;
  let pending = '';
  control.on('data', (chunk: Buffer) => {
    pending += chunk.toString();
    let nl: number;
    while ((nl = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      if (line.startsWith(READY_PREFIX)) onReady?.(JSON.parse(line.slice(READY_PREFIX.length)) as ReadyMessage);
      else if (line.startsWith(STATS_PREFIX))
        statsWaiters.shift()?.(JSON.parse(line.slice(STATS_PREFIX.length)) as ServerStats);
    }
  });
  const ready = await new Promise<ReadyMessage>((res, rej) => {
    const timer = setTimeout(
      () => rej(new Error(`${kind} ${suite} server did not start within ${BOOT_TIMEOUT_MS} ms\n${stderr}`)),
      BOOT_TIMEOUT_MS,
    );
    onReady = (m) => {
      clearTimeout(timer);
      res(m);
    };
    exited.then((code) => {
      clearTimeout(timer);
      rej(new Error(`${kind} ${suite} server exited with code ${code} before it was ready\n${stderr}`));
    });
  });

  let stopping: Promise<number | null> | undefined;
  return {
    ...ready,
    child,
    baseUrl: `http://127.0.0.1:${ready.port}`,
    exited,
    stats() {
      return new Promise<ServerStats>((res, rej) => {
        const timer = setTimeout(() => rej(new Error(`${kind} ${suite} server did not answer stats`)), 5000);
        statsWaiters.push((st) => {
          clearTimeout(timer);
          res(st);
        });
        child.stdin!.write(`${STATS_COMMAND}\n`);
      });
    },
    stop() {
      stopping ??= (async () => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        const code = await exited;
        clearTimeout(timer);
        return code;
      })();
      return stopping;
    },
  };
}
