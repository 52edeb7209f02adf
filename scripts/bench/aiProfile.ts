/**
 * Where the AI gateway's time goes: the bench's kernel child (scripts/bench/aiServer.ts) under `node --cpu-prof`, in
 * front of the mock upstream's child, then N completions through `POST /v1/chat/completions` (STREAM=1: streamed)
 * from this process, one at a time; the kernel's profile over those calls only, summarised by category and function
 * (self and inclusive, µs per request). `node --import tsx scripts/bench/aiProfile.ts [N]`; `INPROC=1` profiles
 * `aiGateway.chat` alone in this process (no HTTP, the mock in process too), `INTERVAL` is the sampling interval in
 * µs (100, in process), `TOP`/`TOP_INCL` the rows printed, `KEEP=1` keeps the .cpuprofile.
 */
import { Session } from 'node:inspector/promises';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { gatewayBench, gatewayChildren } from './aiGateway.ts';
import { readProfile, summarizeProfile, type CpuProfile } from './profile.ts';
import type { AiGateway } from '../../plugins/ai/api.ts';

const n = Number(process.argv[2] ?? 2000);
const stream = process.env.STREAM === '1';
const root = resolve(import.meta.dirname, '../..');
const nowUs = () => Number(process.hrtime.bigint() / 1000n);
let profile: CpuProfile;
let windows: Array<[number, number]>;
let cpuUs: number;
let wall: number;
if (process.env.INPROC === '1') {
  const bench = await gatewayBench();
  const cradle = bench.kernel.runtimes.get('ai')!.container.cradle as unknown as { aiGateway: AiGateway };
  const principal = { type: 'user', id: bench.userId, permissions: [], tier: 'enterprise' };
  const one = () => cradle.aiGateway.chat({ principal, model: 'gpt-4o-mini', maxTokens: 64,
    reference: { kind: 'bench', id: 'p' }, messages: [{ role: 'user', content: 'Say twelve words about a fox.' }] });
  for (let i = 0; i < 500; i++) await one();
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: Number(process.env.INTERVAL ?? 100) });
  await session.post('Profiler.start');
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await one();
  wall = performance.now() - t0;
  const cpu = process.cpuUsage(c0);
  cpuUs = cpu.user + cpu.system;
  ({ profile } = await session.post('Profiler.stop') as unknown as { profile: CpuProfile });
  windows = [[profile.startTime, profile.endTime]];
  await bench.close();
} else {
  const dir = mkdtempSync(join(tmpdir(), 'aiprof-'));
  const children = await gatewayChildren({ cpuProfDir: dir });
  for (let i = 0; i < 500; i++) await children.viaGateway(stream);
  const s0 = await children.kernel.stats();
  const start = nowUs();
  for (let i = 0; i < n; i++) await children.viaGateway(stream);
  const end = nowUs();
  const s1 = await children.kernel.stats();
  wall = (end - start) / 1000;
  cpuUs = s1.cpuUs - s0.cpuUs;
  windows = [[start, end]];
  await children.close();
  const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'))!;
  profile = readProfile(join(dir, file));
  if (process.env.KEEP) console.log(`kept ${join(dir, file)}`);
  else rmSync(dir, { recursive: true, force: true });
}
const sum = summarizeProfile(profile, windows, root);
const per = (us: number) => (us / n).toFixed(1);
console.log(`${n} ${stream ? 'streamed' : 'unstreamed'} calls: wall ${(wall / n * 1000).toFixed(0)} µs, kernel CPU `
  + `${(cpuUs / n).toFixed(0)} µs per call; profile busy ${per(sum.busyUs)} µs`);
for (const [c, us] of [...sum.categories].sort((a, b) => b[1] - a[1]).slice(0, 16)) {
  console.log(`  ${per(us).padStart(7)}  ${c}`);
}
console.log('top self:');
for (const f of [...sum.functions].sort((a, b) => b.selfUs - a.selfUs).slice(0, Number(process.env.TOP ?? 40))) {
  console.log(`  ${per(f.selfUs).padStart(7)} self ${per(f.totalUs).padStart(7)} total  ${f.name}  ${f.location}`);
}
console.log('top inclusive, kernel/ and plugins/:');
for (const f of [...sum.functions].filter((f) => /^(kernel|plugins)\//.test(f.category))
  .sort((a, b) => b.totalUs - a.totalUs).slice(0, Number(process.env.TOP_INCL ?? 60))) {
  console.log(`  ${per(f.selfUs).padStart(7)} self ${per(f.totalUs).padStart(7)} total  ${f.name}  ${f.location}`);
}
process.exit(0);
