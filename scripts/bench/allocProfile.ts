/**
 * Allocation sampling of the kernel peer under load (issue 7): which functions allocate the
 * most bytes per request, counting objects the GC already collected.
 *   node --import tsx scripts/bench/allocProfile.ts health|note|me on|off [seconds]
 */
import { Session } from 'node:inspector/promises';
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { startKernelPeer } from './kernelPeer.ts';

const [path = 'health', logs = 'on', secondsArg = '5'] = process.argv.slice(2);
const peer = await startKernelPeer('sqlite', logs === 'on', undefined, process.env.DIALECT === '1');
const url = `http://127.0.0.1:${peer.port}` +
  (path === 'note' ? `/v1/notes/${peer.noteId}` : path === 'me' ? '/v1/users/me' : '/health');
const cannon = resolve('node_modules/.bin/autocannon');
const auth = `authorization=Bearer ${peer.token}`;
const load = (d: string) => spawnSync(cannon, ['-c', '50', '-d', d, '-j', '-H', auth, url], { encoding: 'utf8' });
load('2');
const session = new Session();
session.connect();
await session.post('HeapProfiler.enable');
await session.post('HeapProfiler.startSampling', {
  samplingInterval: 4096,
  includeObjectsCollectedByMajorGC: true,
  // MINOR=0: only what survived the young generation (promoted, then collected by a major GC).
  includeObjectsCollectedByMinorGC: process.env.MINOR !== '0',
} as never);
// Load from a child while this process serves: spawnSync would block the event loop.
const { spawn } = await import('node:child_process');
const out = await new Promise<string>((done) => {
  const c = spawn(cannon, ['-c', '50', '-d', secondsArg, '-j', '-H', `authorization=Bearer ${peer.token}`, url]);
  let s = '';
  c.stdout.on('data', (d) => (s += d));
  c.on('close', () => done(s));
});
const { profile } = (await session.post('HeapProfiler.stopSampling')) as { profile: any };
const requests = JSON.parse(out).requests.total as number;
const byFn = new Map<string, number>();
const walk = (n: any) => {
  const self = n.selfSize as number;
  const cf = n.callFrame;
  const key = `${cf.functionName || '(anonymous)'} ${cf.url.replace(/^.*\/(node_modules|kernel|plugins)\//, '$1/')}:${cf.lineNumber + 1}`;
  byFn.set(key, (byFn.get(key) ?? 0) + self);
  for (const c of n.children) walk(c);
};
walk(profile.head);
const total = [...byFn.values()].reduce((a, b) => a + b, 0);
console.log(`${requests} requests, ${(total / requests).toFixed(0)} bytes sampled per request`);
for (const [k, v] of [...byFn].sort((a, b) => b[1] - a[1]).slice(0, Number(process.env.TOP ?? 40)))
  console.log(`${(v / requests).toFixed(0).padStart(7)} B/req  ${k}`);
await peer.close();
process.exit(0);
