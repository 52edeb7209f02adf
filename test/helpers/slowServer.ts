import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { ROOT } from '../../scripts/paths.ts';

export interface SlowServer {
  child: ChildProcess;
  port: number;
  /** Resolves with the exit code. */
  exited: Promise<number | null>;
  /** Resolves once the server's stdout has matched `pattern` (rejects if it exits first). */
  waitFor(pattern: RegExp): Promise<RegExpMatchArray>;
}

/** Spawns test/fixtures/slow/server.ts (a kernel with a `/v1/slow?ms=` route) and waits for its port. */
export async function startSlowServer(): Promise<SlowServer> {
  const child = spawn(process.execPath, ['--import', 'tsx', resolve(ROOT, 'test/fixtures/slow/server.ts')], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  let out = '';
  const waitFor = (pattern: RegExp) => new Promise<RegExpMatchArray>((resolveMatch, reject) => {
    const check = () => {
      const m = out.match(pattern);
      if (m) {
        child.stdout!.off('data', onData);
        resolveMatch(m);
      }
    };
    const onData = (c: Buffer) => { out += c; check(); };
    child.stdout!.on('data', onData);
    child.once('exit', () => reject(new Error(`server exited before printing ${pattern}: ${out}`)));
    check();
  });
  const port = Number((await waitFor(/listening (\d+)/))[1]);
  return { child, port, exited, waitFor };
}
