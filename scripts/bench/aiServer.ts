/**
 * One process of the AI gateway bench (scripts/bench/aiGateway.ts):
 *   `aiServer.ts mock`            the mock OpenAI-shaped upstream on loopback;
 *   `aiServer.ts kernel <origin>` the embedded default kernel in front of that upstream, with the bench's user
 *                                 (enterprise plan, credits) and API key, which its READY line carries.
 * Answers `stats` on stdin with its CPU time (scripts/bench/childControl.ts) and exits cleanly on SIGTERM, so
 * `--cpu-prof` writes its profile.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serveBenchChild } from './childControl.ts';
import { gatewayBench, upstream } from './aiGateway.ts';

const [role, origin] = process.argv.slice(2);
const noLoopStats = () => ({ loopDelayP50Ms: 0, loopDelayP99Ms: 0, loopDelayMaxMs: 0 });
if (role === 'mock') {
  const mock = createServer(upstream);
  await new Promise<void>((r) => mock.listen(0, '127.0.0.1', r));
  serveBenchChild({
    ready: { kind: 'mock', pid: process.pid, port: (mock.address() as AddressInfo).port },
    close: () => new Promise((r) => mock.close(() => r())),
    forceExitMs: 3000,
    loopStats: noLoopStats,
  });
} else if (role === 'kernel' && origin) {
  const bench = await gatewayBench({ mockOrigin: origin });
  serveBenchChild({
    ready: { kind: 'kernel', pid: process.pid, port: bench.port, apiKey: bench.apiKey },
    close: () => bench.close(),
    forceExitMs: 5000,
    loopStats: noLoopStats,
  });
} else {
  process.stderr.write('usage: aiServer.ts mock | kernel <mock origin>\n');
  process.exit(2);
}
