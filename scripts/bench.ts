/**
 * `npm run bench`: the kernel against the fastest honest ways to do the same work, in one run:
 *   koa      bare Koa 3 + @koa/router, the raw driver (libsql / pg) with prepared statements, jose
 *   fastify  Fastify 5 with its own schema validation and serialization, @fastify/cors, request
 *            id, pino logging, the same raw driver and jose
 * Each server is its own process (scripts/bench/peerServer.ts); autocannon runs here.
 *
 * Workloads, on SQLite and (when BENCH_PG_URL or DATABASE_URL is set) PostgreSQL:
 *   GET /health (request logs on; and logs off, kernel vs koa with none)
 *   GET /v1/notes/{id}, GET /v1/notes?limit=20, a validated POST /v1/notes, GET /v1/users/me,
 * every one but /health with an RS256 bearer token and rate limiting on (a limit never reached).
 * Issue 9's dialect pair (first driver only): /health and the validated POST /v1/notes on the
 * kernel with server.casing snake + server.envelope success ("dialect") against the plain default
 * deployment ("kernel"), each its own process; the dialect/plain req/s ratio must stay within 5%.
 * The baselines verify the token with jose and read by id AND owner; the kernel inserts a
 * note plus an outbox row where the baselines insert one row.
 *
 * Per workload: a warm-up of each server, then short interleaved rounds (the order rotates
 * each round) so drift and contention land on every server alike; req/s, p50, p99, server
 * CPU µs per request, and each ratio against the issue's targets with a 95% interval from the
 * per-round ratios. `--quick` runs seconds, SQLite only: a smoke test, not a measurement.
 * `--legacy` runs the former bench (kernel vs bare Koa through MikroORM; /health under logins).
 * `--realtime` runs the WebSocket fan-out rows (scripts/bench/realtimeFanout.ts).
 * `--jobs` runs the jobs-per-second rows (scripts/bench/jobs.ts).
 * `--ai` runs the AI gateway's overhead rows (scripts/bench/aiGateway.ts).
 * scripts/bench/hotProfile.ts is the probe for one path: CPU per request of a few servers interleaved (also the
 * kernel of another checkout, `base`, for before/after pairs) and, with PROFILE=1, the kernel's CPU profile.
 *
 * Environment: BENCH_DURATION (10 s measured per server per workload), BENCH_WARMUP (5 s per server per workload:
 * the kernel, the most code of the three, is still warming up (JIT, boot garbage) 2 s in; every server gets the same),
 * BENCH_SEGMENT (0.5 s per server per round), BENCH_CONNECTIONS (50), BENCH_PIN (1: load
 * generator on CPU 0, servers on CPU 1), BENCH_ONLY=health,healthNoLog,noteById,noteList,noteCreate,me,
 * healthDialect,noteCreateDialect,
 * BENCH_DRIVERS=sqlite,postgresql, BENCH_PG_URL, BENCH_RATE_LIMIT=off, BENCH_PEER_TOKEN_CACHE=1 (the baselines
 * keep verified tokens until exp too; by default they run jose's check on every request, as the issue's peers did).
 * The last line is `SUMMARY: PASS|FAIL|INVALID ...`.
 */
import { availableParallelism, cpus } from 'node:os';
import { resolve } from 'node:path';
import {
  processCpuUs, runSegment, settledCpuUs, summarize, type LoadSettings, type LoadTarget, type Segment, type Summary,
} from './bench/load.ts';
import { hasTaskset, pinSelf, startServer, type ServerHandle } from './bench/servers.ts';
import { BENCH_DIR } from './bench/shared.ts';
import type { PeerKind, PeerReady } from './bench/peerServer.ts';
import type { BenchDriver } from './bench/rawStore.ts';
import { meteringObserverRows } from './bench/meteringObserver.ts';
import { toolHubRows } from './bench/toolHub.ts';
import { runLedgerBench } from './bench/ledger.ts';

type WorkloadId = 'health' | 'healthNoLog' | 'noteById' | 'noteList' | 'noteCreate' | 'me'
  | 'healthDialect' | 'noteCreateDialect';
interface Target { vs: PeerKind | 'abs'; min: number; drivers?: BenchDriver[]; note?: string }
interface Workload {
  id: WorkloadId;
  label: string;
  kinds: PeerKind[];
  /** The server whose req/s is divided by each other's (default: kernel). */
  subject?: PeerKind;
  /** Runs in its own group with only its kinds started (the dialect pair). */
  pair?: boolean;
  logs: boolean;
  targets: Target[];
  /**
   * Work the requests leave behind counts too: after each segment the server is left to go idle and its CPU
   * per request includes that (a subscriber's backlog); each target then holds for req/s AND for that CPU ratio.
   */
  settle?: boolean;
  load(s: Peer): LoadTarget;
  check(status: number, body: any, kind: PeerKind): string | undefined;
}
type Peer = ServerHandle & PeerReady;

const NOTE_KEYS = 'body,createdAt,id,pinned,tags,title,updatedAt';
const SNAKE_NOTE_KEYS = 'body,created_at,id,pinned,tags,title,updated_at';
const keys = (o: unknown) => Object.keys((o ?? {}) as object).sort().join(',');
const bearer = (s: Peer) => ({ authorization: `Bearer ${s.token}` });
const NOTE_BODY = JSON.stringify({
  title: 'Benchmark note',
  body: 'A short body stored by every server.',
  pinned: false,
});

const WORKLOADS: Workload[] = [
  {
    id: 'health',
    label: 'GET /health (logs on)',
    kinds: ['kernel', 'koa', 'fastify'],
    logs: true,
    targets: [{ vs: 'koa', min: 0.85 }],
    load: (s) => ({ url: `${s.baseUrl}/health`, method: 'GET' }),
    check: (st, b) => (st === 200 && b?.status === 'ok' ? undefined : `${st} ${JSON.stringify(b)}`),
  },
  {
    id: 'healthNoLog',
    label: 'GET /health (logs off)',
    kinds: ['kernel', 'koa'],
    logs: false,
    targets: [{ vs: 'koa', min: 0.8 }],
    load: (s) => ({ url: `${s.baseUrl}/health`, method: 'GET' }),
    check: (st, b) => (st === 200 && b?.status === 'ok' ? undefined : `${st} ${JSON.stringify(b)}`),
  },
  {
    id: 'noteById',
    label: 'GET /v1/notes/{id}',
    kinds: ['kernel', 'koa', 'fastify'],
    logs: true,
    targets: [
      { vs: 'abs', min: 8000, drivers: ['sqlite'] },
      { vs: 'koa', min: 0.7 },
      { vs: 'fastify', min: 0.6 },
    ],
    load: (s) => ({ url: `${s.baseUrl}/v1/notes/${s.noteId}`, method: 'GET', headers: bearer(s) }),
    check: (st, b) => (st === 200 && keys(b) === NOTE_KEYS ? undefined : `${st} ${JSON.stringify(b).slice(0, 200)}`),
  },
  {
    id: 'noteList',
    label: 'GET /v1/notes?limit=20',
    kinds: ['kernel', 'koa', 'fastify'],
    logs: true,
    targets: [],
    load: (s) => ({ url: `${s.baseUrl}/v1/notes?limit=20`, method: 'GET', headers: bearer(s) }),
    check: (st, b) =>
      st === 200 &&
      b?.data?.length === 20 &&
      keys(b.data[0]) === NOTE_KEYS &&
      typeof b.pagination?.nextCursor === 'string'
        ? undefined
        : `${st} ${JSON.stringify(b).slice(0, 200)}`,
  },
  {
    id: 'noteCreate',
    label: 'POST /v1/notes',
    kinds: ['kernel', 'koa', 'fastify'],
    logs: true,
    targets: [{ vs: 'koa', min: 0.6 }],
    settle: true,
    load: (s) => ({
      url: `${s.baseUrl}/v1/notes`,
      method: 'POST',
      headers: { ...bearer(s), 'content-type': 'application/json' },
      body: NOTE_BODY,
    }),
    check: (st, b) => (st === 201 && keys(b) === NOTE_KEYS ? undefined : `${st} ${JSON.stringify(b).slice(0, 200)}`),
  },
  {
    id: 'me',
    label: 'GET /v1/users/me',
    kinds: ['kernel', 'koa', 'fastify'],
    logs: true,
    targets: [
      { vs: 'abs', min: 8000, drivers: ['sqlite'] },
      { vs: 'fastify', min: 0.8 },
    ],
    load: (s) => ({ url: `${s.baseUrl}/v1/users/me`, method: 'GET', headers: bearer(s) }),
    check: (st, b) =>
      st === 200 && b?.email === 'bench.user@example.com' ? undefined : `${st} ${JSON.stringify(b).slice(0, 200)}`,
  },
  // Issue 9: casing snake + envelope success cost at most 5% of the plain deployment's req/s.
  {
    id: 'healthDialect',
    label: 'GET /health, snake + success vs plain',
    kinds: ['dialect', 'kernel'],
    subject: 'dialect',
    pair: true,
    logs: true,
    targets: [{ vs: 'kernel', min: 0.95, note: 'within 5% of plain' }],
    load: (s) => ({ url: `${s.baseUrl}/health`, method: 'GET' }),
    check: (st, b, kind) =>
      st === 200 && (kind === 'dialect' ? b?.success === true && b.data?.status : b?.status) === 'ok'
        ? undefined
        : `${st} ${JSON.stringify(b).slice(0, 200)}`,
  },
  {
    id: 'noteCreateDialect',
    label: 'POST /v1/notes, snake + success vs plain',
    kinds: ['dialect', 'kernel'],
    subject: 'dialect',
    pair: true,
    logs: true,
    targets: [{ vs: 'kernel', min: 0.95, note: 'within 5% of plain' }],
    load: (s) => ({
      url: `${s.baseUrl}/v1/notes`,
      method: 'POST',
      headers: { ...bearer(s), 'content-type': 'application/json' },
      body: NOTE_BODY,
    }),
    check: (st, b, kind) =>
      st === 201 &&
      (kind === 'dialect' ? b?.success === true && keys(b.data) === SNAKE_NOTE_KEYS : keys(b) === NOTE_KEYS)
        ? undefined
        : `${st} ${JSON.stringify(b).slice(0, 200)}`,
  },
];

const QUICK = process.argv.includes('--quick');
const num = (name: string, fallback: number) => {
  const raw = process.env[name];
  const value = raw === undefined || raw === '' ? fallback : Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number (got ${raw})`);
  return value;
};
const DURATION = num('BENCH_DURATION', QUICK ? 1 : 10);
const WARMUP = num('BENCH_WARMUP', QUICK ? 0.5 : 5);
const SEGMENT = num('BENCH_SEGMENT', QUICK ? 0.25 : 0.5);
const SETTINGS: LoadSettings = { connections: Math.round(num('BENCH_CONNECTIONS', 50)), pipelining: 1 };
const PIN = process.env.BENCH_PIN !== '0';
const PG_URL = process.env.BENCH_PG_URL ?? process.env.DATABASE_URL;
// `ledger`: billing's holds+captures per second against the raw driver (scripts/bench/ledger.ts), no HTTP.
const EXTRA_WORKLOADS = ['ledger'];
const ONLY = new Set((process.env.BENCH_ONLY ?? [...WORKLOADS.map((w) => w.id), ...EXTRA_WORKLOADS].join(','))
  .split(',').map((x) => x.trim()));
for (const id of ONLY) {
  if (!WORKLOADS.some((w) => w.id === id) && !EXTRA_WORKLOADS.includes(id))
    throw new Error(`BENCH_ONLY: unknown ${id}`);
}
const DRIVERS = (process.env.BENCH_DRIVERS ?? (QUICK || !PG_URL ? 'sqlite' : 'sqlite,postgresql'))
  .split(',')
  .map((x) => x.trim()) as BenchDriver[];

const out = (line = '') => process.stdout.write(`${line}\n`);
const fmt = (n: number, digits = 0) =>
  Number.isFinite(n)
    ? n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })
    : 'n/a';
const pad = (s: string, n: number) => s.padEnd(n);
const lpad = (s: string, n: number) => s.padStart(n);
let serverCpu: number | undefined;

async function startPeers(kinds: PeerKind[], driver: BenchDriver, logs: boolean): Promise<Record<string, Peer>> {
  const script = resolve(BENCH_DIR, 'peerServer.ts');
  if (PG_URL) process.env.BENCH_PG_URL = PG_URL;
  const started = await Promise.allSettled(
    kinds.map((kind) =>
      startServer(kind, driver, { script, args: [kind, driver, logs ? 'on' : 'off'], cpu: serverCpu }),
    ),
  );
  const failed = started.find((s) => s.status === 'rejected') as PromiseRejectedResult | undefined;
  if (failed) {
    await Promise.all(started.map((s) => (s.status === 'fulfilled' ? s.value.stop() : undefined)));
    throw failed.reason;
  }
  return Object.fromEntries(
    kinds.map((k, i) => [k, (started[i] as PromiseFulfilledResult<ServerHandle>).value as Peer]),
  );
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

interface Verdict { label: string; value: string; target: string; verdict: 'PASS' | 'FAIL' | 'INVALID' | 'info' }
interface Result {
  workload: Workload;
  driver: BenchDriver;
  summaries: Record<string, Summary>;
  rounds: Record<string, number[]>;
  problems: string[];
  verdicts: Verdict[];
}

async function preflight(w: Workload, peers: Record<string, Peer>): Promise<string[]> {
  const problems: string[] = [];
  for (const kind of w.kinds) {
    const t = w.load(peers[kind]);
    const res = await fetch(t.url, { method: t.method, headers: t.headers, body: t.body });
    const text = await res.text();
    let body: unknown;
    try { body = JSON.parse(text); } catch { body = text; }
    const problem = w.check(res.status, body, kind);
    if (problem) problems.push(`${kind}: ${t.method} answered ${problem}`);
    if (res.headers.get('x-request-id') === null) problems.push(`${kind}: no X-Request-Id`);
    if (
      !w.id.startsWith('health') &&
      process.env.BENCH_RATE_LIMIT !== 'off' &&
      res.headers.get('x-ratelimit-limit') === null
    )
      problems.push(`${kind}: not rate limited`);
  }
  return problems;
}

async function measure(w: Workload, driver: BenchDriver, peers: Record<string, Peer>, index: number): Promise<Result> {
  const problems = await preflight(w, peers);
  const kinds = w.kinds;
  const subject = w.subject ?? 'kernel';
  const orderOf = (round: number) => kinds.map((_, i) => kinds[(i + round + index) % kinds.length]);
  for (const kind of orderOf(0)) await runSegment(w.load(peers[kind]), WARMUP, SETTINGS);
  const roundsCount = Math.max(2, Math.round(DURATION / SEGMENT));
  const seconds = DURATION / roundsCount;
  const segments: Record<string, Segment[]> = Object.fromEntries(kinds.map((k) => [k, []]));
  const rounds: Record<string, number[]> = Object.fromEntries(kinds.filter((k) => k !== subject).map((k) => [k, []]));
  const settledRounds: Record<string, number[]> = Object.fromEntries(Object.keys(rounds).map((k) => [k, []]));
  const settledCpu: Record<string, number[]> = Object.fromEntries(kinds.map((k) => [k, []]));
  if (w.settle) for (const kind of kinds) await settledCpuUs(peers[kind].pid);
  for (let round = 0; round < roundsCount; round++) {
    const rps: Record<string, number> = {};
    const cpu: Record<string, number> = {};
    for (const kind of orderOf(round)) {
      const before = w.settle ? processCpuUs(peers[kind].pid)! : 0;
      const seg = await runSegment(w.load(peers[kind]), seconds, SETTINGS, peers[kind].pid);
      segments[kind].push(seg);
      rps[kind] = seg.requests / seg.seconds;
      if (w.settle) {
        cpu[kind] = ((await settledCpuUs(peers[kind].pid)) - before) / Math.max(1, seg.ok2xx);
        settledCpu[kind].push(cpu[kind]);
      }
    }
    for (const k of Object.keys(rounds)) rounds[k].push(rps[subject] / rps[k]);
    if (w.settle) for (const k of Object.keys(rounds)) settledRounds[k].push(cpu[k] / cpu[subject]);
  }
  const summaries = Object.fromEntries(kinds.map((k) => [k, summarize(segments[k])]));
  for (const kind of kinds) {
    const s = summaries[kind];
    if (s.non2xx)
      problems.push(
        `${kind} answered ${s.non2xx} non-2xx (${Object.entries(s.statusCodes)
          .filter(([c]) => !c.startsWith('2'))
          .map(([c, n]) => `${c}×${n}`)
          .join(', ')})`,
      );
    if (s.errors || s.timeouts) problems.push(`${kind}: ${s.errors} errors, ${s.timeouts} timeouts`);
    if (s.ok2xx + s.non2xx === 0) problems.push(`${kind} completed no request (segments too short for its latency?)`);
  }
  const verdicts: Verdict[] = [];
  const invalid = problems.length > 0;
  for (const peer of Object.keys(rounds)) {
    const ratio = summaries[subject].reqPerSec / summaries[peer].reqPerSec;
    const ci = ratioInterval(rounds[peer]);
    const cpuRatio = summaries[peer].cpuUsPerReq / summaries[subject].cpuUsPerReq;
    const target = w.targets.find((t) => t.vs === peer && (!t.drivers || t.drivers.includes(driver)));
    verdicts.push({
      label: `${subject}/${peer} req/s`,
      value: `${ratio.toFixed(3)} (rounds: ${ci.mean.toFixed(3)}, 95% CI ${ci.low.toFixed(3)}–${ci.high.toFixed(3)}); CPU-bound ${peer}/${subject} CPU per request ${fmt(cpuRatio, 3)}`,
      target: target ? `≥ ${target.min}${target.note ? ` (${target.note})` : ''}` : 'no target',
      verdict: !target ? 'info' : invalid ? 'INVALID' : ratio >= target.min ? 'PASS' : 'FAIL',
    });
    if (!w.settle) continue;
    const settled = ratioInterval(settledRounds[peer]);
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    verdicts.push({
      label: `${peer}/${subject} settled CPU per request`,
      value: `${settled.mean.toFixed(3)} (95% CI ${settled.low.toFixed(3)}–${settled.high.toFixed(3)}; median µs `
        + `${fmt(median(settledCpu[subject]))} / ${fmt(median(settledCpu[peer]))}, with the work left behind)`,
      target: target ? `≥ ${target.min}` : 'no target',
      verdict: !target ? 'info' : invalid ? 'INVALID' : settled.mean >= target.min ? 'PASS' : 'FAIL',
    });
  }
  const abs = w.targets.find((t) => t.vs === 'abs' && (!t.drivers || t.drivers.includes(driver)));
  if (abs) {
    verdicts.push({
      label: 'kernel req/s',
      value: fmt(summaries.kernel.reqPerSec),
      target: `≥ ${fmt(abs.min)} (on a quiet 2-core machine)`,
      verdict: invalid ? 'INVALID' : summaries.kernel.reqPerSec >= abs.min ? 'PASS' : 'FAIL',
    });
  }
  return { workload: w, driver, summaries, rounds, problems, verdicts };
}

function print(r: Result) {
  out();
  out(`${r.workload.label} on ${r.driver}`);
  out(
    `  ${pad('server', 8)} ${lpad('req/s', 10)} ${lpad('p50 ms', 8)} ${lpad('p99 ms', 8)} ${lpad('2xx', 9)} ${lpad('non-2xx', 8)} ${lpad('CPU µs/req', 11)}`,
  );
  for (const kind of r.workload.kinds) {
    const s = r.summaries[kind];
    out(
      `  ${pad(kind, 8)} ${lpad(fmt(s.reqPerSec, 1), 10)} ${lpad(fmt(s.p50, 2), 8)} ${lpad(fmt(s.p99, 2), 8)} ${lpad(fmt(s.ok2xx), 9)} ${lpad(fmt(s.non2xx), 8)} ${lpad(fmt(s.cpuUsPerReq, 1), 11)}`,
    );
  }
  for (const v of r.verdicts) out(`  ${v.label} = ${v.value}  target ${v.target}  ${v.verdict}`);
  for (const p of r.problems) out(`  ! ${p}`);
}

async function main() {
  const started = Date.now();
  out(
    `kernel vs raw-driver Koa and Fastify — node ${process.version}, ${availableParallelism()} CPUs (${(cpus()[0]?.model ?? '?').trim()}), 127.0.0.1${QUICK ? ' — QUICK MODE (smoke test, numbers mean nothing)' : ''}`,
  );
  out(
    `  ${SETTINGS.connections} connections, ${WARMUP} s warm-up + ${DURATION} s per server per workload in ~${SEGMENT} s interleaved rounds; drivers: ${DRIVERS.join(', ')}${PG_URL ? '' : ' (PostgreSQL: set BENCH_PG_URL or DATABASE_URL)'}`,
  );
  out(
    '  every server: one pino line per request (buffered, to /dev/null) unless "logs off", request id, CORS, rate limit (never reached; not on /health), bearer on all but /health',
  );
  if (PIN && availableParallelism() >= 2 && hasTaskset() && pinSelf(0)) {
    serverCpu = 1;
    out('  pinned: load generator on CPU 0, servers on CPU 1 (BENCH_PIN=0 to let the OS schedule)');
  }
  const results: Result[] = [];
  const groups: Array<{ driver: BenchDriver; logs: boolean; workloads: Workload[] }> = [];
  for (const driver of DRIVERS) {
    groups.push({
      driver,
      logs: true,
      workloads: WORKLOADS.filter(
        (w) => w.logs && !w.pair && ONLY.has(w.id) && (w.id !== 'health' || driver === DRIVERS[0]),
      ),
    });
  }
  groups.push({ driver: DRIVERS[0], logs: false, workloads: WORKLOADS.filter((w) => !w.logs && ONLY.has(w.id)) });
  // The dialect pair: only the plain and the dialect kernel run, on the first driver.
  groups.push({ driver: DRIVERS[0], logs: true, workloads: WORKLOADS.filter((w) => w.pair && ONLY.has(w.id)) });
  for (const group of groups.filter((g) => g.workloads.length)) {
    const kinds = [...new Set(group.workloads.flatMap((w) => w.kinds))];
    const peers = await startPeers(kinds, group.driver, group.logs);
    try {
      out(
        `  ${group.driver}, logs ${group.logs ? 'on' : 'off'}: ${kinds.map((k) => `${k} pid ${peers[k].pid}`).join(', ')}`,
      );
      for (const k of kinds) for (const n of peers[k].notes ?? []) out(`    ${n}`);
      for (const [i, w] of group.workloads.entries()) {
        const r = await measure(w, group.driver, peers, i);
        results.push(r);
        print(r);
      }
    } finally {
      await Promise.all(kinds.map((k) => peers[k].stop()));
    }
  }
  // Issue 10: metering's request observer, a function call measured in this process (not HTTP).
  for (const line of await meteringObserverRows(QUICK)) out(line);
  // Issue 10: the tool hub's overhead over calling the tool directly (config/tool-hub.yaml in this process).
  for (const line of await toolHubRows(QUICK)) out(line);
  if (ONLY.has('ledger')) await ledgerWorkload();
  const all = results.flatMap((r) => r.verdicts.filter((v) => v.verdict !== 'info').map((v) => ({ r, v })));
  const overall = all.some(({ v }) => v.verdict === 'INVALID')
    ? 'INVALID'
    : all.some(({ v }) => v.verdict === 'FAIL')
      ? 'FAIL'
      : 'PASS';
  out();
  out(
    `SUMMARY: ${overall}${QUICK ? ' (quick mode)' : ''} — ${all.map(({ r, v }) => `${r.workload.label} ${r.driver} ${v.label} ${v.value.split(' ')[0]} (${v.target.split(' (')[0]}) ${v.verdict}`).join('; ')} (${Math.round((Date.now() - started) / 1000)} s)`,
  );
}

/** Billing's ledger against hand-written SQL on the raw driver, in this process; reported, no target. */
async function ledgerWorkload() {
  const workers = Math.round(num('BENCH_LEDGER_WORKERS', 16));
  const rows = await runLedgerBench({ drivers: DRIVERS, pgUrl: PG_URL, seconds: DURATION, segment: SEGMENT, workers });
  for (const r of rows) {
    const ci = ratioInterval(r.rounds);
    out();
    out(`ledger holds+captures per second on ${r.driver} (${workers} concurrent users, one hold and its capture each)`);
    out(`  ${pad('kernel', 8)} ${lpad(fmt(r.opsPerSec.kernel, 1), 10)} ops/s  (billing's exported ledger)`);
    out(`  ${pad('raw', 8)} ${lpad(fmt(r.opsPerSec.raw, 1), 10)} ops/s  (the raw driver, the same two transactions)`);
    out(`  kernel/raw ops/s = ${(r.opsPerSec.kernel / r.opsPerSec.raw).toFixed(3)} (rounds: ${ci.mean.toFixed(3)}, `
      + `95% CI ${ci.low.toFixed(3)}–${ci.high.toFixed(3)})  target none  info`);
  }
}

if (process.argv.includes('--legacy')) {
  await import('./bench/legacy.ts');
} else if (process.argv.includes('--realtime')) {
  // WebSocket fan-out (issue 11): scripts/bench/realtimeFanout.ts
  await (await import('./bench/realtimeFanout.ts')).runRealtimeBench().then(() => process.exit(0));
} else if (process.argv.includes('--ai')) {
  // The AI gateway's overhead over calling the upstream directly (issue 12): scripts/bench/aiGateway.ts
  for (const line of await (await import('./bench/aiGateway.ts')).aiGatewayRows(QUICK)) out(line);
  process.exit(0);
} else if (process.argv.includes('--jobs')) {
  await (await import('./bench/jobs.ts')).runJobsBench();
  process.exit(0);
} else {
  await main().then(
    () => process.exit(0),
    (err) => {
      process.stderr.write(`bench could not run: ${err?.stack ?? err}\n`);
      process.exit(1);
    },
  );
}
