/**
 * `npm run bench`: the kernel against bare Koa 3 + @koa/router doing the same work by hand,
 * on two workloads (GET /health and a contract-validated POST that stores to memory).
 *
 * Each server runs in its own process (scripts/bench/server.ts); autocannon runs here.
 * Per workload: a warm-up of each server, then the measured time as short back-to-back
 * rounds (~0.5 s per server, alternating who goes first: KB BK KB ...) so drift and bursts
 * of contention from other processes hit both sides alike; by default the load generator
 * and the servers are pinned to different CPUs. Then req/s, p50/p99 and the kernel/bare
 * ratio against the target, with non-2xx responses counted (any makes the workload
 * INVALID) and the per-round ratios as a noise gauge. When a target is missed, both
 * servers run again under `node --cpu-prof` and the profiles show where the kernel
 * spends its extra CPU per request.
 *
 * Environment:
 *   BENCH_DURATION=10          measured seconds per workload per server
 *   BENCH_WARMUP=3             warm-up seconds per workload per server
 *   BENCH_CONNECTIONS=50       BENCH_PIPELINING=1
 *   BENCH_SEGMENT=0.5          seconds per server per round
 *   BENCH_PIN=1                pin load generator / servers to CPU 0 / CPU 1 with taskset (0: off)
 *   BENCH_TARGET=0.90          minimum kernel/bare req/s ratio
 *   BENCH_PROFILE=auto|1|0     profile when a target is missed (auto; not for INVALID runs), always, never
 *   BENCH_PROFILE_DURATION=5   seconds per server per workload under the profiler
 *   BENCH_KEEP_PROFILES=1      keep the .cpuprofile files (path printed) instead of deleting them
 *   BENCH_RATE_LIMIT=on        keep the kernel's rate limiting on (limit never reached) to measure its cost
 *   BENCH_KERNEL_LOGGER=default  give the kernel its own default logger (createLogger: name + redact
 *                              paths, stdout = /dev/null) instead of the plain pino logger bare uses
 *
 * Prints a report and always exits 0 unless the bench itself could not run; the last
 * line is `SUMMARY: PASS|FAIL|INVALID ...`.
 */
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from './paths.ts';
import { runSegment, summarize, type LoadSettings, type LoadTarget, type Segment, type Summary } from './bench/load.ts';
import { hasTaskset, pinSelf, startServer, type ServerHandle, type ServerKind } from './bench/servers.ts';
import { readProfile, summarizeProfile, type ProfileSummary } from './bench/profile.ts';
import { SAMPLE_BODY } from './bench/shared.ts';

const num = (name: string, fallback: number) => {
  const raw = process.env[name];
  const value = raw === undefined || raw === '' ? fallback : Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number (got ${raw})`);
  return value;
};

const DURATION = num('BENCH_DURATION', 10);
const WARMUP = num('BENCH_WARMUP', 3);
const TARGET = num('BENCH_TARGET', 0.9);
const PROFILE_DURATION = num('BENCH_PROFILE_DURATION', 5);
const PROFILE_MODE = (process.env.BENCH_PROFILE ?? 'auto').toLowerCase();
const KEEP_PROFILES = process.env.BENCH_KEEP_PROFILES === '1';
const SEGMENT = num('BENCH_SEGMENT', 0.5);
const PIN = process.env.BENCH_PIN !== '0';
const PROFILE_INTERVAL_US = 250;
const KERNEL_LOGGER = process.env.BENCH_KERNEL_LOGGER === 'default' ? 'default' : 'devnull';
const SETTINGS: LoadSettings = { connections: Math.round(num('BENCH_CONNECTIONS', 50)), pipelining: Math.round(num('BENCH_PIPELINING', 1)) };
const KINDS: ServerKind[] = ['kernel', 'bare'];

interface Workload {
  id: 'health' | 'post';
  label: string;
  target(server: ServerHandle): LoadTarget;
}

const POST_BODY = JSON.stringify(SAMPLE_BODY);
const WORKLOADS: Workload[] = [
  { id: 'health', label: 'GET /health', target: (s) => ({ url: s.baseUrl + s.healthPath, method: 'GET' }) },
  {
    id: 'post',
    label: 'POST /v1/bench/items',
    target: (s) => ({ url: s.baseUrl + s.postPath, method: 'POST', headers: { 'content-type': 'application/json' }, body: POST_BODY }),
  },
];

type Servers = Record<ServerKind, ServerHandle>;

interface WorkloadResult {
  workload: Workload;
  summaries: Record<ServerKind, Summary>;
  ratio: number;
  /** kernel/bare req/s of each back-to-back round: a gauge of how noisy the machine was. */
  pairRatios: number[];
  problems: string[];
  verdict: 'PASS' | 'FAIL' | 'INVALID';
}

const out = (line = '') => process.stdout.write(`${line}\n`);
const fmt = (n: number, digits = 0) => (Number.isFinite(n) ? n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits }) : 'n/a');
const pad = (s: string, n: number) => s.padEnd(n);
const lpad = (s: string, n: number) => s.padStart(n);

/** Set in main: the CPU the servers run on when the load generator is pinned to another. */
let serverCpu: number | undefined;

async function startBoth(options: { cpuProfDir?: string } = {}): Promise<Servers> {
  const started = await Promise.allSettled(KINDS.map((kind) => startServer(kind, {
    cpuProfDir: options.cpuProfDir ? join(options.cpuProfDir, kind) : undefined,
    cpuProfIntervalUs: PROFILE_INTERVAL_US,
    cpu: serverCpu,
  })));
  const failed = started.find((s) => s.status === 'rejected') as PromiseRejectedResult | undefined;
  if (failed) {
    await Promise.all(started.map((s) => (s.status === 'fulfilled' ? s.value.stop() : undefined)));
    throw failed.reason;
  }
  const [kernel, bare] = started.map((s) => (s as PromiseFulfilledResult<ServerHandle>).value);
  return { kernel, bare };
}

async function stopBoth(servers: Servers) {
  await Promise.all(KINDS.map((k) => servers[k].stop()));
}

// ---------------------------------------------------------------- preflight

interface Probe { status: number; headers: Record<string, string>; json: any }

async function probe(url: string, init?: RequestInit): Promise<Probe> {
  const res = await fetch(url, { ...init, headers: { 'accept-encoding': 'identity', ...(init?.headers as Record<string, string> | undefined) } });
  const text = await res.text();
  let json: unknown;
  try { json = JSON.parse(text); } catch { json = text; }
  const headers: Record<string, string> = {};
  res.headers.forEach((v, k) => { headers[k] = v; });
  return { status: res.status, headers, json };
}

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i;
const VOLATILE_HEADERS = new Set(['date', 'x-request-id', 'content-length', 'keep-alive', 'connection']);

/**
 * Checks that each server answers the workloads as expected (statuses, body shapes, request
 * id echo, validation errors) and that kernel and bare send the same headers.
 * Returns problems per workload and server; a workload with problems is INVALID.
 */
async function preflight(servers: Servers): Promise<{ problems: Record<Workload['id'], string[]>; notes: string[] }> {
  const problems: Record<Workload['id'], string[]> = { health: [], post: [] };
  const notes: string[] = [];
  const responses: Record<string, Record<ServerKind, Probe>> = { health: {} as any, post: {} as any, invalid: {} as any };
  for (const kind of KINDS) {
    const s = servers[kind];
    const health = await probe(s.baseUrl + s.healthPath);
    responses.health[kind] = health;
    const keys = Object.keys(health.json ?? {}).sort().join(',');
    if (health.status !== 200) problems.health.push(`${kind}: GET ${s.healthPath} answered ${health.status}`);
    else if (keys !== 'name,status,uptimeSeconds,version' || health.json.status !== 'ok') problems.health.push(`${kind}: unexpected /health body ${JSON.stringify(health.json)}`);

    const post = await probe(s.baseUrl + s.postPath, { method: 'POST', headers: { 'content-type': 'application/json', 'x-request-id': 'bench-preflight-1' }, body: POST_BODY });
    responses.post[kind] = post;
    const body = post.json ?? {};
    if (post.status !== 201) problems.post.push(`${kind}: POST ${s.postPath} answered ${post.status} ${JSON.stringify(post.json).slice(0, 300)}`);
    else {
      if (Object.keys(body).sort().join(',') !== 'body,createdAt,id,priority,tags,title') problems.post.push(`${kind}: unexpected POST body ${JSON.stringify(body)}`);
      if (!UUID_V7.test(String(body.id))) problems.post.push(`${kind}: id ${body.id} is not a UUIDv7`);
      if (body.title !== SAMPLE_BODY.title || JSON.stringify(body.tags) !== JSON.stringify(SAMPLE_BODY.tags)) problems.post.push(`${kind}: POST did not store the sent item`);
    }
    if (post.headers['x-request-id'] !== 'bench-preflight-1') problems.post.push(`${kind}: X-Request-Id not echoed (got ${post.headers['x-request-id']})`);

    const invalid = await probe(s.baseUrl + s.postPath, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ title: '', extra: 1 }) });
    responses.invalid[kind] = invalid;
    if (invalid.status !== 400 || invalid.json?.error?.code !== 'VALIDATION_ERROR' || !invalid.json?.error?.requestId) {
      problems.post.push(`${kind}: an invalid body got ${invalid.status} ${JSON.stringify(invalid.json).slice(0, 300)} (want 400 VALIDATION_ERROR)`);
    }
  }
  // Same work: the same headers on the wire (volatile ones aside) and the same error details.
  for (const [name, pair] of Object.entries(responses)) {
    const k = pair.kernel.headers;
    const b = pair.bare.headers;
    const diffs = [...new Set([...Object.keys(k), ...Object.keys(b)])]
      .filter((h) => !VOLATILE_HEADERS.has(h) && k[h] !== b[h])
      .map((h) => `${h}: kernel ${JSON.stringify(k[h] ?? null)} vs bare ${JSON.stringify(b[h] ?? null)}`);
    if (diffs.length) notes.push(`header difference on the ${name} response (not part of the verdict): ${diffs.join('; ')}`);
  }
  const kd = JSON.stringify(responses.invalid.kernel.json?.error?.details);
  const bd = JSON.stringify(responses.invalid.bare.json?.error?.details);
  if (kd !== bd) notes.push(`validation error details differ: kernel ${kd} vs bare ${bd}`);
  return { problems, notes };
}

// ---------------------------------------------------------------- measurement

/** The two servers in the order round `round` of workload `index` runs them (KB, BK, KB, ...; the next workload starts with B). */
function order(index: number, round: number): ServerKind[] {
  return (index + round) % 2 === 0 ? ['kernel', 'bare'] : ['bare', 'kernel'];
}

/** Geometric mean of per-round ratios with a normal-approximation 95% interval (on log ratios). */
function ratioInterval(ratios: number[]) {
  const logs = ratios.filter((r) => r > 0 && Number.isFinite(r)).map(Math.log);
  const n = logs.length;
  const mean = logs.reduce((a, b) => a + b, 0) / Math.max(1, n);
  const sd = n > 1 ? Math.sqrt(logs.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1)) : 0;
  const half = n > 1 ? (2 * sd) / Math.sqrt(n) : 0;
  return { mean: Math.exp(mean), low: Math.exp(mean - half), high: Math.exp(mean + half) };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

async function measure(servers: Servers, index: number, workload: Workload, problems: string[]): Promise<WorkloadResult> {
  const warm: string[] = [];
  for (const kind of order(index, 0)) {
    const seg = await runSegment(workload.target(servers[kind]), WARMUP, SETTINGS);
    warm.push(`${kind} ${fmt(seg.requests / seg.seconds)} req/s`);
  }
  out(`  ${pad(workload.label, 22)} warm-up ${WARMUP} s each: ${warm.join(', ')}`);
  // Short back-to-back rounds, alternating who goes first, so drift and bursts of
  // contention from other processes land on both servers alike.
  const rounds = Math.max(2, Math.round(DURATION / SEGMENT));
  const seconds = DURATION / rounds;
  const segments: Record<ServerKind, Segment[]> = { kernel: [], bare: [] };
  const pairRatios: number[] = [];
  for (let round = 0; round < rounds; round++) {
    const rps = {} as Record<ServerKind, number>;
    for (const kind of order(index, round)) {
      const seg = await runSegment(workload.target(servers[kind]), seconds, SETTINGS, servers[kind].pid);
      segments[kind].push(seg);
      rps[kind] = seg.requests / seg.seconds;
    }
    pairRatios.push(rps.kernel / rps.bare);
  }
  out(`  ${pad(workload.label, 22)} ${rounds} rounds × ${fmt(seconds, 1)} s each, kernel/bare per round: ${pairRatios.map((r) => r.toFixed(2)).join(' ')}`);
  const summaries = { kernel: summarize(segments.kernel), bare: summarize(segments.bare) };
  const ratio = summaries.kernel.reqPerSec / summaries.bare.reqPerSec;
  const all = [...problems];
  for (const kind of KINDS) {
    const s = summaries[kind];
    if (s.non2xx) all.push(`${kind} answered ${s.non2xx} non-2xx responses (${Object.entries(s.statusCodes).filter(([c]) => !c.startsWith('2')).map(([c, n]) => `${c}×${n}`).join(', ')})`);
    if (s.errors || s.timeouts) all.push(`${kind}: ${s.errors} connection errors, ${s.timeouts} timeouts`);
    if (!s.requests) all.push(`${kind} completed no request`);
  }
  const verdict = all.length ? 'INVALID' : ratio >= TARGET ? 'PASS' : 'FAIL';
  return { workload, summaries, ratio, pairRatios, problems: all, verdict };
}

function printResults(results: WorkloadResult[]) {
  out();
  out(`Results (${DURATION} s per server per workload, ${SETTINGS.connections} connections, pipelining ${SETTINGS.pipelining}; latency over every response)`);
  const header = `  ${pad('workload', 22)} ${pad('server', 7)} ${lpad('req/s', 10)} ${lpad('p50 ms', 7)} ${lpad('p99 ms', 7)} ${lpad('2xx', 9)} ${lpad('non-2xx', 8)} ${lpad('errors', 7)} ${lpad('CPU µs/req', 11)} ${lpad('srv busy', 9)} ${lpad('gen busy', 9)}`;
  out(header);
  out(`  ${'-'.repeat(header.length - 2)}`);
  for (const r of results) {
    for (const kind of KINDS) {
      const s = r.summaries[kind];
      out(`  ${pad(kind === 'kernel' ? r.workload.label : '', 22)} ${pad(kind, 7)} ${lpad(fmt(s.reqPerSec, 1), 10)} ${lpad(fmt(s.p50, 2), 7)} ${lpad(fmt(s.p99, 2), 7)} ${lpad(fmt(s.ok2xx), 9)} ${lpad(fmt(s.non2xx), 8)} ${lpad(fmt(s.errors + s.timeouts), 7)} ${lpad(fmt(s.cpuUsPerReq, 1), 11)} ${lpad(`${fmt(s.serverBusy * 100)}%`, 9)} ${lpad(`${fmt(s.loaderBusy * 100)}%`, 9)}`);
    }
    const sorted = [...r.pairRatios].sort((a, b) => a - b);
    const { kernel, bare } = r.summaries;
    out(`  ${pad('', 22)} ratio kernel/bare req/s = ${r.ratio.toFixed(3)}  (target ≥ ${TARGET.toFixed(2)})  ${r.verdict}`);
    const ci = ratioInterval(r.pairRatios);
    out(`  ${pad('', 22)} ${r.pairRatios.length} back-to-back rounds: geometric mean ${ci.mean.toFixed(3)} (95% CI from round-to-round noise ${ci.low.toFixed(3)}–${ci.high.toFixed(3)}), median ${median(sorted).toFixed(3)}, range ${sorted[0].toFixed(2)}–${sorted[sorted.length - 1].toFixed(2)}`);
    if (Number.isFinite(kernel.cpuUsPerReq) && Number.isFinite(bare.cpuUsPerReq)) {
      out(`  ${pad('', 22)} server CPU per request: kernel ${kernel.cpuUsPerReq.toFixed(1)} µs vs bare ${bare.cpuUsPerReq.toFixed(1)} µs (${kernel.cpuUsPerReq >= bare.cpuUsPerReq ? '+' : ''}${(kernel.cpuUsPerReq - bare.cpuUsPerReq).toFixed(1)} µs) -> CPU-bound ratio bare/kernel = ${(bare.cpuUsPerReq / kernel.cpuUsPerReq).toFixed(3)}`);
    }
    if (r.verdict !== 'INVALID' && ci.low < TARGET && ci.high >= TARGET) {
      out(`  ${pad('', 22)} ~ too close to call at this machine's noise level (the 95% CI spans the target): rerun, or raise BENCH_DURATION`);
    }
    if (Math.max(kernel.loaderBusy, bare.loaderBusy) > 0.9) {
      out(`  ${pad('', 22)} ~ the load generator was ${fmt(Math.max(kernel.loaderBusy, bare.loaderBusy) * 100)}% busy: it may cap the faster server's req/s`);
    }
    for (const p of r.problems) out(`  ${pad('', 22)} ! ${p}`);
  }
}

// ---------------------------------------------------------------- profiling

interface ProfiledRun { workload: Workload; windows: Record<ServerKind, Array<[number, number]>>; requests: Record<ServerKind, number>; reqPerSec: Record<ServerKind, number> }

async function profile(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'kernel-bench-prof-'));
  for (const kind of KINDS) mkdirSync(join(dir, kind));
  out();
  out(`CPU profiles (node --cpu-prof, sampling every ${PROFILE_INTERVAL_US} µs; ${PROFILE_DURATION} s per server per workload after a warm-up)`);
  let servers: Servers | undefined;
  const runs: ProfiledRun[] = [];
  try {
    servers = await startBoth({ cpuProfDir: dir });
    for (const [index, workload] of WORKLOADS.entries()) {
      for (const kind of order(index, 0)) await runSegment(workload.target(servers[kind]), Math.min(WARMUP, 2), SETTINGS);
      const run: ProfiledRun = { workload, windows: { kernel: [], bare: [] }, requests: { kernel: 0, bare: 0 }, reqPerSec: { kernel: 0, bare: 0 } };
      const seconds = { kernel: 0, bare: 0 };
      const rounds = Math.max(2, Math.round(PROFILE_DURATION / SEGMENT));
      for (let round = 0; round < rounds; round++) {
        for (const kind of order(index, round)) {
          const seg = await runSegment(workload.target(servers[kind]), PROFILE_DURATION / rounds, SETTINGS);
          run.windows[kind].push([seg.startUs, seg.endUs]);
          run.requests[kind] += seg.requests;
          seconds[kind] += seg.seconds;
          if (seg.non2xx || seg.errors) out(`  ! ${kind} ${workload.label}: ${seg.non2xx} non-2xx, ${seg.errors} errors under the profiler`);
        }
      }
      for (const kind of KINDS) run.reqPerSec[kind] = run.requests[kind] / seconds[kind];
      runs.push(run);
    }
  } finally {
    if (servers) await stopBoth(servers);
  }
  const profiles: Partial<Record<ServerKind, ReturnType<typeof readProfile>>> = {};
  for (const kind of KINDS) {
    const file = readdirSync(join(dir, kind)).find((f) => f.endsWith('.cpuprofile'));
    if (file) profiles[kind] = readProfile(join(dir, kind, file));
    else out(`  ! no CPU profile was written by the ${kind} server`);
  }
  if (KEEP_PROFILES) out(`  profiles kept in ${dir}`);
  else rmSync(dir, { recursive: true, force: true });
  if (!profiles.kernel || !profiles.bare) return;

  for (const run of runs) {
    const k = summarizeProfile(profiles.kernel, run.windows.kernel, ROOT);
    const b = summarizeProfile(profiles.bare, run.windows.bare, ROOT);
    printProfile(run, k, b);
  }
}

function printProfile(run: ProfiledRun, k: ProfileSummary, b: ProfileSummary) {
  const perReq = (us: number, kind: ServerKind) => us / Math.max(1, run.requests[kind]);
  const kBusy = perReq(k.busyUs, 'kernel');
  const bBusy = perReq(b.busyUs, 'bare');
  out();
  out(`${run.workload.label}: under the profiler kernel ${fmt(run.reqPerSec.kernel)} req/s, bare ${fmt(run.reqPerSec.bare)} req/s (ratio ${(run.reqPerSec.kernel / run.reqPerSec.bare).toFixed(3)})`);
  out(`  CPU per request (idle excluded): kernel ${kBusy.toFixed(1)} µs, bare ${bBusy.toFixed(1)} µs, difference ${kBusy - bBusy >= 0 ? '+' : ''}${(kBusy - bBusy).toFixed(1)} µs (${kBusy - bBusy >= 0 ? '+' : ''}${fmt((kBusy / bBusy - 1) * 100, 1)}%); idle: kernel ${fmt((k.idleUs / k.sampledUs) * 100, 1)}%, bare ${fmt((b.idleUs / b.sampledUs) * 100, 1)}%`);

  out(`  self time by where the code lives, µs per request:`);
  out(`    ${pad('category', 44)} ${lpad('kernel', 8)} ${lpad('bare', 8)} ${lpad('Δ', 8)}`);
  const cats = [...new Set([...k.categories.keys(), ...b.categories.keys()])].filter((c) => c !== '(idle)' && c !== '(root)');
  const rows = cats.map((c) => ({ c, kv: perReq(k.categories.get(c) ?? 0, 'kernel'), bv: perReq(b.categories.get(c) ?? 0, 'bare') }))
    .sort((x, y) => Math.abs(y.kv - y.bv) - Math.abs(x.kv - x.bv) || y.kv - x.kv);
  for (const r of rows.slice(0, 14)) {
    if (r.kv < 0.05 && r.bv < 0.05) continue;
    out(`    ${pad(r.c, 44)} ${lpad(r.kv.toFixed(1), 8)} ${lpad(r.bv.toFixed(1), 8)} ${lpad(`${r.kv - r.bv >= 0 ? '+' : ''}${(r.kv - r.bv).toFixed(1)}`, 8)}`);
  }

  const kernelFns = k.functions.filter((f) => f.category === 'kernel/');
  const table = (title: string, fns: typeof k.functions, key: 'selfUs' | 'totalUs', n: number) => {
    out(`  ${title}`);
    out(`    ${lpad('µs/req', 7)} ${lpad('% busy', 7)}  function (file:line of the transpiled module)`);
    for (const f of [...fns].sort((x, y) => y[key] - x[key]).slice(0, n)) {
      if (f[key] <= 0) continue;
      out(`    ${lpad(perReq(f[key], 'kernel').toFixed(2), 7)} ${lpad(((f[key] / k.busyUs) * 100).toFixed(1), 7)}  ${f.name}  ${f.location}`);
    }
  };
  table('kernel/* functions, self time (top 10):', kernelFns, 'selfUs', 10);
  table('kernel/* functions, inclusive time (with callees, top 10):', kernelFns, 'totalUs', 10);
  table('kernel process, self time by function in any file (top 15):', k.functions.filter((f) => f.category !== '(idle)' && f.category !== '(root)'), 'selfUs', 15);

  // Library code the kernel runs more of per request than the bare app (callers summed, so
  // e.g. Koa's delegate setters compare whoever calls them).
  const byCode = (fns: typeof k.functions) => {
    const m = new Map<string, { label: string; us: number }>();
    for (const f of fns) {
      if (['(idle)', '(root)', 'kernel/', 'scripts/bench/'].includes(f.category)) continue;
      const key = `${f.baseName}@${f.location}`;
      const e = m.get(key) ?? { label: `${f.baseName}  ${f.location}`, us: 0 };
      e.us += f.selfUs;
      m.set(key, e);
    }
    return m;
  };
  const kCode = byCode(k.functions);
  const bCode = byCode(b.functions);
  const extra = [...kCode.entries()]
    .map(([key, e]) => ({ label: e.label, delta: perReq(e.us, 'kernel') - perReq(bCode.get(key)?.us ?? 0, 'bare') }))
    .sort((x, y) => y.delta - x.delta)
    .slice(0, 10);
  out(`  code outside kernel/ with the most extra self time per request in the kernel process vs bare (top 10; partly noise):`);
  out(`    ${lpad('Δ µs/req', 8)}  function  location`);
  for (const { label, delta } of extra) if (delta > 0.05) out(`    ${lpad(`+${delta.toFixed(2)}`, 8)}  ${label}`);
}

// ---------------------------------------------------------------- main

async function main() {
  const started = Date.now();
  const cpu = cpus()[0]?.model ?? 'unknown cpu';
  out(`kernel vs bare Koa benchmark — node ${process.version}, ${availableParallelism()} CPUs (${cpu.trim()}), 127.0.0.1`);
  out(`  ${SETTINGS.connections} connections, pipelining ${SETTINGS.pipelining}, ${WARMUP} s warm-up + ${DURATION} s measured per server per workload (in ~${SEGMENT} s rounds, alternating kernel/bare), target kernel/bare ≥ ${TARGET.toFixed(2)}`);
  out(`  both servers: log.level info + one request log line per request to /dev/null, CORS + compression (kernel defaults), request id, error boundary`);
  out(`  kernel rate limiting: ${process.env.BENCH_RATE_LIMIT === 'on' ? 'on, with a limit no run reaches (BENCH_RATE_LIMIT=on): the kernel pays the check, bare has none' : 'off (rateLimit.enabled: false; its default 60/min per IP would answer 429s; BENCH_RATE_LIMIT=on to measure its cost)'}`);
  out(`  kernel logger: ${KERNEL_LOGGER === 'default' ? "the kernel's own createLogger() (name + redact paths) -> stdout -> /dev/null" : "pino({ level: 'info' }, pino.destination('/dev/null')), the same as bare (BENCH_KERNEL_LOGGER=default: the kernel's own)"}`);

  if (PIN && availableParallelism() >= 2 && hasTaskset() && pinSelf(0)) {
    serverCpu = 1;
    out(`  pinned: load generator on CPU 0, servers on CPU 1 (BENCH_PIN=0 to let the OS schedule)`);
  } else {
    out(`  not pinned to CPUs (${PIN ? 'taskset unavailable or a single CPU' : 'BENCH_PIN=0'})`);
  }
  const servers = await startBoth();
  const results: WorkloadResult[] = [];
  try {
    out(`  servers: kernel pid ${servers.kernel.pid} :${servers.kernel.port}, bare pid ${servers.bare.pid} :${servers.bare.port}`);
    const { problems, notes } = await preflight(servers);
    for (const id of Object.keys(problems) as Array<Workload['id']>) for (const p of problems[id]) out(`  ! preflight ${id}: ${p}`);
    for (const n of notes) out(`  note: ${n}`);
    out();
    for (const [i, workload] of WORKLOADS.entries()) results.push(await measure(servers, i, workload, problems[workload.id]));
  } finally {
    await stopBoth(servers);
  }
  printResults(results);

  const missed = results.some((r) => r.verdict !== 'PASS');
  const failed = results.some((r) => r.verdict === 'FAIL');
  if (PROFILE_MODE === '1' || PROFILE_MODE === 'always' || (PROFILE_MODE === 'auto' && failed)) {
    try {
      await profile();
    } catch (e) {
      out(`  ! profiling failed: ${(e as Error).message}`);
    }
  } else if (failed) {
    out('\n(profiling skipped: BENCH_PROFILE=0)');
  }

  const overall = results.some((r) => r.verdict === 'INVALID') ? 'INVALID' : missed ? 'FAIL' : 'PASS';
  out();
  out(`SUMMARY: ${overall} — ${results.map((r) => `${r.workload.label} ${fmt(r.summaries.kernel.reqPerSec)} vs ${fmt(r.summaries.bare.reqPerSec)} req/s = ${r.ratio.toFixed(2)} ${r.verdict}${r.verdict === 'INVALID' ? '' : (() => { const ci = ratioInterval(r.pairRatios); return ` [rounds 95% CI ${ci.low.toFixed(2)}–${ci.high.toFixed(2)}]`; })()}`).join('; ')} (target ≥ ${TARGET.toFixed(2)}; ${Math.round((Date.now() - started) / 1000)} s)`);
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`bench could not run: ${err?.stack ?? err}\n`);
    process.exit(1);
  },
);
