/**
 * A focused CPU-per-request probe for the hot path (issue 7): starts the given peers
 * (scripts/bench/peerServer.ts), runs interleaved autocannon rounds on one path, prints
 * CPU µs per request per server, and with PROFILE=1 the kernel's top functions by self time
 * (node --cpu-prof, summarized by scripts/bench/profile.ts). Judge by CPU per request, not req/s, on a busy machine.
 *   node --import tsx scripts/bench/hotProfile.ts health|me|note|list|create on|off [kernel,koa,fastify,base] [seconds]
 * `base` is the kernel of another checkout (BASE_TREE=/path, e.g. a `git worktree` of the previous commit), run
 * interleaved with this one: the printed base/kernel CPU ratio is a before/after that the machine's load cancels.
 * PROFILE_KIND=koa profiles another server; HEAPPROF=dir adds --heap-prof to the kernel; KEEP=1 keeps the profile.
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { runSegment, summarize, type Segment } from './load.ts';
import { startServer, pinSelf, type ServerHandle } from './servers.ts';
import { BENCH_DIR } from './shared.ts';
import type { PeerReady } from './peerServer.ts';
import { readProfile, summarizeProfile } from './profile.ts';
import { ROOT } from '../paths.ts';

type Peer = ServerHandle & PeerReady;
const [path = 'health', logs = 'on', kindsArg = 'kernel,koa', secondsArg = '6'] = process.argv.slice(2);
const kinds = kindsArg.split(',');
const seconds = Number(secondsArg);
const profile = process.env.PROFILE === '1';
const driver = process.env.BENCH_DRIVER ?? 'sqlite';
const profDir = profile ? mkdtempSync(join(tmpdir(), 'hotprof-')) : undefined;
pinSelf(0);
const peers: Record<string, Peer> = {};
for (const kind of kinds) {
  const heap = process.env.HEAPPROF && kind === 'kernel';
  if (heap) process.env.NODE_OPTIONS = `--heap-prof --heap-prof-dir=${process.env.HEAPPROF} --heap-prof-interval=16384`;
  peers[kind] = (await startServer(kind, driver, {
    // `base`: the kernel of another checkout (BASE_TREE), for before/after pairs in one run.
    script: kind === 'base' ? resolve(process.env.BASE_TREE ?? '.', 'scripts/bench/peerServer.ts')
      : resolve(BENCH_DIR, 'peerServer.ts'),
    args: [kind === 'base' ? 'kernel' : kind, driver, logs],
    cpu: 1,
    cpuProfDir: profile && kind === (process.env.PROFILE_KIND ?? 'kernel') ? profDir : undefined,
    cpuProfIntervalUs: 100,
  })) as Peer;
  if (heap) delete process.env.NODE_OPTIONS;
}
const target = (p: Peer) => {
  const auth = { authorization: `Bearer ${p.token}` };
  if (path === 'me') return { url: `${p.baseUrl}/v1/users/me`, method: 'GET' as const, headers: auth };
  if (path === 'note') return { url: `${p.baseUrl}/v1/notes/${p.noteId}`, method: 'GET' as const, headers: auth };
  if (path === 'list') return { url: `${p.baseUrl}/v1/notes?limit=20`, method: 'GET' as const, headers: auth };
  if (path === 'create') {
    // The validated POST /v1/notes (one insert and one outbox row), as the bench's noteCreate row sends it.
    const body = JSON.stringify({ title: 'Benchmark note', body: 'A short body stored by every server.',
      pinned: false });
    const headers = { ...auth, 'content-type': 'application/json' };
    return { url: `${p.baseUrl}/v1/notes`, method: 'POST' as const, headers, body };
  }
  return { url: `${p.baseUrl}/health`, method: 'GET' as const };
};
const settings = { connections: 50, pipelining: 1 };
for (const k of kinds) await runSegment(target(peers[k]), 1.5, settings);
const segs: Record<string, Segment[]> = Object.fromEntries(kinds.map((k) => [k, []]));
// utime and stime of a process in clock ticks (10 ms): user CPU apart from the kernel's syscall time.
const ticks = (pid: number) => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return { user: Number(f[11]), sys: Number(f[12]) };
};
const t0 = Object.fromEntries(kinds.map((k) => [k, ticks(peers[k].pid)]));
const rounds = Math.max(2, Math.round(seconds / 0.5));
for (let r = 0; r < rounds; r++)
  for (const k of kinds.map((_, i) => kinds[(i + r) % kinds.length]))
    segs[k].push(await runSegment(target(peers[k]), seconds / rounds, settings, peers[k].pid));
const t1 = Object.fromEntries(kinds.map((k) => [k, ticks(peers[k].pid)]));
for (const k of kinds) {
  const s = summarize(segs[k]);
  const n = s.requests;
  const user = ((t1[k].user - t0[k].user) * 10000) / n;
  const sys = ((t1[k].sys - t0[k].sys) * 10000) / n;
  console.log(`${path} logs ${logs} ${k.padEnd(8)} ${s.reqPerSec.toFixed(0).padStart(7)} req/s  ` +
    `${s.cpuUsPerReq.toFixed(1).padStart(6)} CPU µs/req (user ${user.toFixed(1)} sys ${sys.toFixed(1)})  busy ${s.serverBusy.toFixed(2)} non2xx ${s.non2xx}`);
}
// Per-round CPU per request of each other server over the first one's, geometric mean and 95% interval.
const cpuOf = (g: Segment) => (g.serverCpuUs ?? NaN) / Math.max(1, g.requests);
for (const k of kinds.slice(1)) {
  const logs = segs[k].map((g, i) => Math.log(cpuOf(g) / cpuOf(segs[kinds[0]][i])));
  const mean = logs.reduce((a, b) => a + b, 0) / logs.length;
  const sd = Math.sqrt(logs.reduce((a, b) => a + (b - mean) ** 2, 0) / Math.max(1, logs.length - 1));
  const half = (2 * sd) / Math.sqrt(logs.length);
  console.log(`CPU/req ${k}/${kinds[0]} = ${Math.exp(mean).toFixed(3)} (95% ${Math.exp(mean - half).toFixed(3)}–` +
    `${Math.exp(mean + half).toFixed(3)}, ${logs.length} rounds)`);
}
await Promise.all(Object.values(peers).map((p) => p.stop()));
if (profDir) {
  const file = readdirSync(profDir).find((f) => f.endsWith('.cpuprofile'))!;
  const prof = readProfile(join(profDir, file));
  const pk = process.env.PROFILE_KIND ?? 'kernel';
  const windows = segs[pk].map((s) => [s.startUs, s.endUs] as [number, number]);
  const sum = summarizeProfile(prof, windows, ROOT);
  const reqs = segs[pk].reduce((a, s) => a + s.requests, 0);
  const per = (us: number) => (us / reqs).toFixed(2);
  console.log(`profile: busy ${per(sum.busyUs)} µs/req over ${reqs} requests`);
  for (const [c, us] of [...sum.categories].sort((a, b) => b[1] - a[1]).slice(0, 14))
    console.log(`  ${per(us).padStart(7)}  ${c}`);
  console.log('top self:');
  for (const f of [...sum.functions].sort((a, b) => b.selfUs - a.selfUs).slice(0, Number(process.env.TOP ?? 45)))
    console.log(`  ${per(f.selfUs).padStart(7)} self ${per(f.totalUs).padStart(7)} total  ${f.name}  ${f.location}`);
  console.log('top inclusive, kernel/ and plugins/:');
  for (const f of [...sum.functions].filter((f) => /^(kernel|plugins)\//.test(f.category))
    .sort((a, b) => b.totalUs - a.totalUs).slice(0, 30))
    console.log(`  ${per(f.selfUs).padStart(7)} self ${per(f.totalUs).padStart(7)} total  ${f.name}  ${f.location}`);
  if (process.env.KEEP) console.log(`kept ${join(profDir, file)}`);
  else rmSync(profDir, { recursive: true, force: true });
}
process.exit(0);
