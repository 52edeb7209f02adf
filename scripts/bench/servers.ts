/** Spawns a benchmark server in its own process and waits for its READY line. */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { ROOT } from '../paths.ts';
import { BENCH_DIR, READY_PREFIX, type ReadyMessage } from './shared.ts';

export type ServerKind = 'kernel' | 'bare';

export interface ServerHandle extends ReadyMessage {
  child: ChildProcess;
  baseUrl: string;
  /** Resolves with the exit code once the process is gone. */
  exited: Promise<number | null>;
  stop(): Promise<number | null>;
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
}

export async function startServer(kind: ServerKind, options: StartOptions = {}): Promise<ServerHandle> {
  const nodeArgs = ['--import', 'tsx'];
  if (options.cpuProfDir) nodeArgs.push('--cpu-prof', `--cpu-prof-dir=${options.cpuProfDir}`, `--cpu-prof-interval=${options.cpuProfIntervalUs ?? 250}`);
  const argv = [process.execPath, ...nodeArgs, SERVER_TS, kind];
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
  child.stderr!.on('data', (chunk: Buffer) => { stderr += chunk.toString(); if (stderr.length > 20_000) stderr = stderr.slice(-20_000); });

  const ready = await new Promise<ReadyMessage>((res, rej) => {
    let out = '';
    const timer = setTimeout(() => rej(new Error(`${kind} server did not start within ${BOOT_TIMEOUT_MS} ms\n${stderr}`)), BOOT_TIMEOUT_MS);
    control.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const line = out.split('\n').find((l) => l.startsWith(READY_PREFIX));
      if (line) { clearTimeout(timer); res(JSON.parse(line.slice(READY_PREFIX.length)) as ReadyMessage); }
    });
    exited.then((code) => { clearTimeout(timer); rej(new Error(`${kind} server exited with code ${code} before it was ready\n${stderr}`)); });
  });
  control.resume();

  let stopping: Promise<number | null> | undefined;
  return {
    ...ready,
    child,
    baseUrl: `http://127.0.0.1:${ready.port}`,
    exited,
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
