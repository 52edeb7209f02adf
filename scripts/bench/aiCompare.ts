/**
 * Before/after for the AI gateway (issue 12): this tree's bench kernel and another checkout's (BASE_TREE=/path, e.g.
 * a `git worktree` of an earlier commit with node_modules linked in), each its own process in front of its own mock
 * upstream, called in interleaved rounds from this process, one request at a time. Prints each kernel's CPU per
 * request and p50, and the per-round ratios base/this (geometric mean, 95% interval).
 *   BASE_TREE=/path node --import tsx scripts/bench/aiCompare.ts [rounds 12] [calls per round 150]   (STREAM=1)
 */
import { gatewayChildren, type Sample } from './aiGateway.ts';

const base = process.env.BASE_TREE;
if (!base) throw new Error('BASE_TREE=/path/to/another/checkout is required');
const [rounds, calls] = [Number(process.argv[2] ?? 12), Number(process.argv[3] ?? 150)];
const stream = process.env.STREAM === '1';
const sides = { new: await gatewayChildren(), base: await gatewayChildren({ kernelTree: base }) };
const names = ['new', 'base'] as const;
const cpu = { new: [] as number[], base: [] as number[] };
const p50 = { new: [] as number[], base: [] as number[] };
const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
try {
  for (const n of names) for (let i = 0; i < 300; i++) await sides[n].viaGateway(stream);
  for (let r = 0; r < rounds; r++) {
    for (const n of r % 2 ? names : [...names].reverse()) {
      const side = sides[n];
      const s0 = await side.kernel.stats();
      const samples: Sample[] = [];
      for (let i = 0; i < calls; i++) samples.push(await side.viaGateway(stream));
      const s1 = await side.kernel.stats();
      cpu[n].push((s1.cpuUs - s0.cpuUs) / calls);
      p50[n].push(median(samples.map((x) => x.total)));
    }
  }
} finally {
  await Promise.all(names.map((n) => sides[n].close()));
}
const ratio = (a: number[], b: number[]) => {
  const logs = a.map((x, i) => Math.log(x / b[i]));
  const mean = logs.reduce((s, x) => s + x, 0) / logs.length;
  const sd = Math.sqrt(logs.reduce((s, x) => s + (x - mean) ** 2, 0) / Math.max(1, logs.length - 1));
  const half = (2 * sd) / Math.sqrt(logs.length);
  return `${Math.exp(mean).toFixed(3)} (95% ${Math.exp(mean - half).toFixed(3)}-${Math.exp(mean + half).toFixed(3)})`;
};
const kind = stream ? 'streamed' : 'unstreamed';
for (const n of names) {
  console.log(`${kind} ${n.padEnd(4)}: kernel CPU ${median(cpu[n]).toFixed(0)} µs per request, p50 `
    + `${median(p50[n]).toFixed(2)} ms (medians over ${rounds} rounds x ${calls})`);
}
console.log(`${kind} base/new: CPU per request ${ratio(cpu.base, cpu.new)}; p50 ${ratio(p50.base, p50.new)}`);
process.exit(0);
