/**
 * One benchmark server per process: `node --import tsx scripts/bench/server.ts kernel|bare`.
 * Prints `READY {"port":...}` on fd 3 when the parent opened one (stdout otherwise) once
 * listening. Exits cleanly (so `--cpu-prof` writes its profile) on SIGTERM/SIGINT or when
 * stdin closes (the parent went away).
 */
import { fstatSync, writeSync } from 'node:fs';
import { READY_PREFIX, type ReadyMessage } from './shared.ts';

const kind = process.argv[2];
if (kind !== 'kernel' && kind !== 'bare') {
  process.stderr.write('usage: server.ts kernel|bare\n');
  process.exit(2);
}

const started = kind === 'kernel'
  ? await (await import('./kernelServer.ts')).startKernel()
  : await (await import('./bareServer.ts')).startBare();

const message: ReadyMessage = { kind, pid: process.pid, ...started.ready };
const hasControlFd = (() => { try { return fstatSync(3).isFIFO() || fstatSync(3).isSocket(); } catch { return false; } })();
writeSync(hasControlFd ? 3 : 1, `${READY_PREFIX}${JSON.stringify(message)}\n`);

let closing = false;
function shutdown() {
  if (closing) return;
  closing = true;
  const force = setTimeout(() => process.exit(0), 3000);
  force.unref();
  started.close().then(() => process.exit(0), (err) => { process.stderr.write(`close failed: ${err?.message ?? err}\n`); process.exit(1); });
}
process.once('SIGTERM', shutdown);
process.once('SIGINT', shutdown);
process.stdin.on('end', shutdown);
process.stdin.on('error', shutdown);
process.stdin.resume();
