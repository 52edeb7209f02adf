/**
 * Where the AI gateway's time goes: the bench's setup (scripts/bench/aiGateway.ts), then N completions through
 * `POST /v1/chat/completions` (STREAM=1: streamed) under the in-process V8 profiler, summarised by category and
 * function (self and inclusive, µs per request). `node --import tsx scripts/bench/aiProfile.ts [N]`; `INPROC=1`
 * profiles `aiGateway.chat` alone (no HTTP), `INTERVAL` is the sampling interval in µs (100), `TOP`/`TOP_INCL` the
 * rows printed.
 */
import { Session } from 'node:inspector/promises';
import { resolve } from 'node:path';
import { gatewayBench } from './aiGateway.ts';
import { summarizeProfile, type CpuProfile } from './profile.ts';
import type { AiGateway } from '../../plugins/ai/api.ts';

const n = Number(process.argv[2] ?? 2000);
const stream = process.env.STREAM === '1';
const bench = await gatewayBench();
// INPROC=1: `aiGateway.chat` in this process, without the HTTP front (the bench's split row).
const cradle = bench.kernel.runtimes.get('ai')!.container.cradle as unknown as { aiGateway: AiGateway };
const principal = { type: 'user', id: bench.userId, permissions: [], tier: 'enterprise' };
const one = process.env.INPROC === '1'
  ? () => cradle.aiGateway.chat({ principal, model: 'gpt-4o-mini', maxTokens: 64, reference: { kind: 'bench', id: 'p' },
    messages: [{ role: 'user', content: 'Say twelve words about a fox.' }] })
  : () => bench.viaGateway(stream);
for (let i = 0; i < 500; i++) await one();
const session = new Session();
session.connect();
await session.post('Profiler.enable');
await session.post('Profiler.setSamplingInterval', { interval: Number(process.env.INTERVAL ?? 100) });
await session.post('Profiler.start');
const c0 = process.cpuUsage();
const t0 = performance.now();
for (let i = 0; i < n; i++) await one();
const wall = performance.now() - t0;
const cpu = process.cpuUsage(c0);
const { profile } = await session.post('Profiler.stop') as unknown as { profile: CpuProfile };
await bench.close();
const sum = summarizeProfile(profile, [[profile.startTime, profile.endTime]], resolve(import.meta.dirname, '../..'));
const per = (us: number) => (us / n).toFixed(1);
console.log(`${n} ${stream ? 'streamed' : 'unstreamed'} calls: wall ${(wall / n * 1000).toFixed(0)} µs, CPU `
  + `${((cpu.user + cpu.system) / n).toFixed(0)} µs per call; profile busy ${per(sum.busyUs)} µs`);
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
