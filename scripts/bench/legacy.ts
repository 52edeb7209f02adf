/**
 * `npm run bench`: the kernel against bare Koa 3 + @koa/router doing the same work by hand.
 *
 * Workloads (kernel/bare req/s, each side in its own process):
 *   GET /health            liveness (exempt from rate limiting on both sides)
 *   POST /v1/bench/items   a contract-validated POST that stores to memory
 *   GET /v1/users/me       authenticated: RS256 JWT verify, revoked-session lookup, rate limit,
 *                          the user row read from SQLite through MikroORM (identity plugin)
 * and one kernel-only measurement: /health p99 while 50 connections log in (argon2id on
 * libuv's thread pool), against idle /health p99.
 *
 * Every kernel runs the full middleware stack with rate limiting on (a limit no run reaches)
 * and its own logger (createLogger's options, to /dev/null); bare does the same by hand
 * (a GCRA per IP / user with the same headers; plain pino to /dev/null).
 *
 * Each server runs in its own process (scripts/bench/server.ts); autocannon runs here.
 * Per workload: a warm-up of each server, then the measured time as short back-to-back
 * rounds (~0.5 s per server, alternating who goes first: KB BK KB ...) so drift and bursts
 * of contention from other processes hit both sides alike; by default the load generator
 * and the servers are pinned to different CPUs. Then req/s, p50/p99 and the kernel/bare
 * ratio against the target, with non-2xx responses counted (any makes the workload
 * INVALID) and the per-round ratios as a noise gauge. When a target is missed, the servers
 * of that suite run again under `node --cpu-prof` and the profiles show where the kernel
 * spends its extra CPU per request (or, for the login measurement, what the main thread does
 * while logins run).
 *
 * Environment:
 *   BENCH_DURATION=10          measured seconds per workload per server
 *   BENCH_WARMUP=3             warm-up seconds per workload per server
 *   BENCH_CONNECTIONS=50       BENCH_PIPELINING=1
 *   BENCH_SEGMENT=0.5          seconds per server per round
 *   BENCH_PIN=1                pin load generator / servers to CPU 0 / CPU 1 with taskset (0: off)
 *   BENCH_TARGET=0.90          minimum kernel/bare req/s ratio for /health and the POST
 *   BENCH_ME_TARGET=0.75       minimum kernel/bare req/s ratio for GET /v1/users/me
 *   BENCH_ONLY=health,post,me,login   run only these (default: all)
 *   BENCH_LOGIN_CONNECTIONS=50 concurrent logins;  BENCH_LOGIN_HEALTH_CONNECTIONS=10 /health connections
 *   BENCH_LOGIN_DURATION=4     seconds of /health measured idle (half before, half after) and under the login load
 *   BENCH_LOGIN_MAX_RATIO=2    maximum /health p99 under logins / idle p99
 *   BENCH_PROFILE=auto|1|0     profile when a target is missed (auto; not for INVALID runs), always, never
 *   BENCH_PROFILE_DURATION=5   seconds per server per workload under the profiler
 *   BENCH_KEEP_PROFILES=1      keep the .cpuprofile files (path printed) instead of deleting them
 *   BENCH_RATE_LIMIT=off       no rate limiting on either side (default: on, never reached)
 *   BENCH_KERNEL_LOGGER=plain  give the kernel bare's plain pino logger instead of its own options
 *
 * Prints a report and always exits 0 unless the bench itself could not run; the last
 * line is `SUMMARY: PASS|FAIL|INVALID ...`.
 */
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from '../paths.ts';
import { runSegment, summarize, type LoadSettings, type LoadTarget, type Segment, type Summary } from './load.ts';
import { hasTaskset, pinSelf, startServer, type ServerHandle, type ServerKind } from './servers.ts';
import { readProfile, summarizeProfile, type CpuProfile, type ProfileSummary } from './profile.ts';
import { measureHealthUnderLogin, signUp, type LoginLoadResult, type LoginLoadSettings } from './loginLoad.ts';
import { BENCH_USER, RATE_LIMIT_ON, RATE_LIMIT_PER_WINDOW, SAMPLE_BODY, type Suite } from './shared.ts';

const num = (name: string, fallback: number) => {
  const raw = process.env[name];
  const value = raw === undefined || raw === '' ? fallback : Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number (got ${raw})`);
  return value;
};

const DURATION = num('BENCH_DURATION', 10);
const WARMUP = num('BENCH_WARMUP', 3);
const TARGET = num('BENCH_TARGET', 0.9);
const ME_TARGET = num('BENCH_ME_TARGET', 0.75);
const PROFILE_DURATION = num('BENCH_PROFILE_DURATION', 5);
const PROFILE_MODE = (process.env.BENCH_PROFILE ?? 'auto').toLowerCase();
const KEEP_PROFILES = process.env.BENCH_KEEP_PROFILES === '1';
const SEGMENT = num('BENCH_SEGMENT', 0.5);
const PIN = process.env.BENCH_PIN !== '0';
const PROFILE_INTERVAL_US = 250;
const SETTINGS: LoadSettings = {
  connections: Math.round(num('BENCH_CONNECTIONS', 50)),
  pipelining: Math.round(num('BENCH_PIPELINING', 1)),
};
const LOGIN: LoginLoadSettings = {
  loginConnections: Math.round(num('BENCH_LOGIN_CONNECTIONS', 50)),
  healthConnections: Math.round(num('BENCH_LOGIN_HEALTH_CONNECTIONS', 10)),
  idleSeconds: num('BENCH_LOGIN_DURATION', 4),
  loadedSeconds: num('BENCH_LOGIN_DURATION', 4),
  leadSeconds: 2,
  maxRatio: num('BENCH_LOGIN_MAX_RATIO', 2),
};
const KINDS: ServerKind[] = ['kernel', 'bare'];

type WorkloadId = 'health' | 'post' | 'me';
type Check = WorkloadId | 'login';
const ALL_CHECKS: Check[] = ['health', 'post', 'me', 'login'];
const ONLY = new Set<Check>(
  (process.env.BENCH_ONLY ? process.env.BENCH_ONLY.split(',').map((x) => x.trim()) : ALL_CHECKS) as Check[],
);
for (const c of ONLY)
  if (!ALL_CHECKS.includes(c)) throw new Error(`BENCH_ONLY: unknown ${c} (one of ${ALL_CHECKS.join(', ')})`);

interface Workload {
  id: WorkloadId;
  label: string;
  suite: Suite;
  targetRatio: number;
  target(server: ServerHandle): LoadTarget;
}

const POST_BODY = JSON.stringify(SAMPLE_BODY);
const WORKLOADS: Workload[] = (
  [
    {
      id: 'health',
      label: 'GET /health',
      suite: 'basic',
      targetRatio: TARGET,
      target: (s) => ({ url: s.baseUrl + s.healthPath, method: 'GET' }),
    },
    {
      id: 'post',
      label: 'POST /v1/bench/items',
      suite: 'basic',
      targetRatio: TARGET,
      target: (s) => ({
        url: s.baseUrl + s.postPath!,
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: POST_BODY,
      }),
    },
    {
      id: 'me',
      label: 'GET /v1/users/me',
      suite: 'identity',
      targetRatio: ME_TARGET,
      target: (s) => ({ url: s.baseUrl + s.mePath!, method: 'GET', headers: { authorization: `Bearer ${s.token}` } }),
    },
  ] satisfies Workload[]
).filter((w) => ONLY.has(w.id));

type Servers = Record<ServerKind, ServerHandle>;
type AllServers = Partial<Record<Suite, Servers>>;

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
const fmt = (n: number, digits = 0) =>
  Number.isFinite(n)
    ? n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })
    : 'n/a';
const pct = (x: number) => `${fmt(x * 100)}%`;
const pad = (s: string, n: number) => s.padEnd(n);
const lpad = (s: string, n: number) => s.padStart(n);

/** Set in main: the CPU the servers run on when the load generator is pinned to another. */
let serverCpu: number | undefined;

async function startBoth(suite: Suite, options: { cpuProfDir?: string } = {}): Promise<Servers> {
  const started = await Promise.allSettled(KINDS.map((kind) => startServer(kind, suite, {
    cpuProfDir: options.cpuProfDir ? join(options.cpuProfDir, suite, kind) : undefined,
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

async function startSuites(suites: Suite[], options: { cpuProfDir?: string } = {}): Promise<AllServers> {
  const started = await Promise.allSettled(suites.map((suite) => startBoth(suite, options)));
  const failed = started.find((s) => s.status === 'rejected') as PromiseRejectedResult | undefined;
  if (failed) {
    await Promise.all(started.map((s) => (s.status === 'fulfilled' ? stopBoth(s.value) : undefined)));
    throw failed.reason;
  }
  return Object.fromEntries(
    suites.map((suite, i) => [suite, (started[i] as PromiseFulfilledResult<Servers>).value]),
  ) as AllServers;
}

async function stopSuites(all: AllServers) {
  await Promise.all(Object.values(all).map((servers) => stopBoth(servers)));
}

// ---------------------------------------------------------------- preflight

interface Probe { status: number; headers: Record<string, string>; json: any }

async function probe(url: string, init?: RequestInit): Promise<Probe> {
  const res = await fetch(url, {
    ...init,
    headers: { 'accept-encoding': 'identity', ...(init?.headers as Record<string, string> | undefined) },
  });
  const text = await res.text();
  let json: unknown;
  try { json = JSON.parse(text); } catch { json = text; }
  const headers: Record<string, string> = {};
  res.headers.forEach((v, k) => { headers[k] = v; });
  return { status: res.status, headers, json };
}

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i;
const VOLATILE_HEADERS = new Set(['date', 'x-request-id', 'content-length', 'keep-alive', 'connection']);
/** Rate-limit headers whose numbers depend on how many requests each side has counted: compared with digits masked. */
const COUNTED_HEADERS = new Set(['x-ratelimit-remaining', 'x-ratelimit-reset', 'ratelimit']);
const USER_KEYS = 'createdAt,email,emailVerified,id,mfaEnabled,name,role,status,tier,updatedAt';

/** The rate-limit headers: present with the bench's limit on a limited route, absent on an exempt one. */
function rateLimitProblems(kind: ServerKind, what: string, p: Probe, limited: boolean): string[] {
  const limit = p.headers['x-ratelimit-limit'];
  if (!RATE_LIMIT_ON)
    return limit === undefined ? [] : [`${kind}: ${what} carries X-RateLimit-Limit ${limit} with BENCH_RATE_LIMIT=off`];
  if (!limited)
    return limit === undefined ? [] : [`${kind}: ${what} carries X-RateLimit-Limit ${limit} but must be exempt`];
  const missing = [
    'x-ratelimit-limit',
    'x-ratelimit-remaining',
    'x-ratelimit-reset',
    'ratelimit',
    'ratelimit-policy',
  ].filter((h) => p.headers[h] === undefined);
  if (missing.length) return [`${kind}: ${what} is not rate limited (no ${missing.join(', ')})`];
  return limit === String(RATE_LIMIT_PER_WINDOW)
    ? []
    : [`${kind}: ${what} has X-RateLimit-Limit ${limit}, want ${RATE_LIMIT_PER_WINDOW}`];
}

/**
 * Checks that each server answers the workloads as expected (statuses, body shapes, request
 * id echo, validation and auth errors, rate-limit headers) and that kernel and bare send the
 * same headers; signs the bench account in on the identity kernel. Returns problems per check
 * (a check with problems is INVALID) and notes.
 */
async function preflight(all: AllServers): Promise<{ problems: Record<Check, string[]>; notes: string[] }> {
  const problems: Record<Check, string[]> = { health: [], post: [], me: [], login: [] };
  const notes: string[] = [];
  const responses: Record<string, Record<ServerKind, Probe>> = {};
  const keep = (name: string, kind: ServerKind, p: Probe) => {
    (responses[name] ??= {} as Record<ServerKind, Probe>)[kind] = p;
  };

  if (all.basic) {
    for (const kind of KINDS) {
      const s = all.basic[kind];
      const health = await probe(s.baseUrl + s.healthPath);
      keep('health', kind, health);
      const keys = Object.keys(health.json ?? {}).sort().join(',');
      if (health.status !== 200) problems.health.push(`${kind}: GET ${s.healthPath} answered ${health.status}`);
      else if (keys !== 'name,status,uptimeSeconds,version' || health.json.status !== 'ok')
        problems.health.push(`${kind}: unexpected /health body ${JSON.stringify(health.json)}`);
      problems.health.push(...rateLimitProblems(kind, 'GET /health', health, false));

      const post = await probe(s.baseUrl + s.postPath!, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-request-id': 'bench-preflight-1' },
        body: POST_BODY,
      });
      keep('post', kind, post);
      const body = post.json ?? {};
      if (post.status !== 201)
        problems.post.push(
          `${kind}: POST ${s.postPath} answered ${post.status} ${JSON.stringify(post.json).slice(0, 300)}`,
        );
      else {
        if (Object.keys(body).sort().join(',') !== 'body,createdAt,id,priority,tags,title')
          problems.post.push(`${kind}: unexpected POST body ${JSON.stringify(body)}`);
        if (!UUID_V7.test(String(body.id))) problems.post.push(`${kind}: id ${body.id} is not a UUIDv7`);
        if (body.title !== SAMPLE_BODY.title || JSON.stringify(body.tags) !== JSON.stringify(SAMPLE_BODY.tags))
          problems.post.push(`${kind}: POST did not store the sent item`);
      }
      if (post.headers['x-request-id'] !== 'bench-preflight-1')
        problems.post.push(`${kind}: X-Request-Id not echoed (got ${post.headers['x-request-id']})`);
      problems.post.push(...rateLimitProblems(kind, `POST ${s.postPath}`, post, true));

      const invalid = await probe(s.baseUrl + s.postPath!, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ title: '', extra: 1 }),
      });
      keep('invalid POST', kind, invalid);
      if (
        invalid.status !== 400 ||
        invalid.json?.error?.code !== 'VALIDATION_ERROR' ||
        !invalid.json?.error?.requestId
      ) {
        problems.post.push(
          `${kind}: an invalid body got ${invalid.status} ${JSON.stringify(invalid.json).slice(0, 300)} (want 400 VALIDATION_ERROR)`,
        );
      }
    }
    const kd = JSON.stringify(responses['invalid POST'].kernel.json?.error?.details);
    const bd = JSON.stringify(responses['invalid POST'].bare.json?.error?.details);
    if (kd !== bd) notes.push(`validation error details differ: kernel ${kd} vs bare ${bd}`);
  }

  if (all.identity) {
    const signIn = await signUp(all.identity.kernel);
    problems.me.push(...signIn.map((p) => `kernel: ${p}`));
    problems.login.push(...signIn.map((p) => `kernel: ${p}`));
    for (const kind of KINDS) {
      const s = all.identity[kind];
      const health = await probe(s.baseUrl + s.healthPath);
      if (health.status !== 200)
        problems.login.push(`${kind} (identity): GET ${s.healthPath} answered ${health.status}`);
      problems.login.push(...rateLimitProblems(kind, 'GET /health (identity)', health, false));
      if (!s.token) { problems.me.push(`${kind}: no access token`); continue; }
      const me = await probe(s.baseUrl + s.mePath!, { headers: { authorization: `Bearer ${s.token}` } });
      keep('users/me', kind, me);
      if (me.status !== 200)
        problems.me.push(`${kind}: GET ${s.mePath} answered ${me.status} ${JSON.stringify(me.json).slice(0, 300)}`);
      else {
        if (
          Object.keys(me.json ?? {})
            .sort()
            .join(',') !== USER_KEYS
        )
          problems.me.push(`${kind}: unexpected users/me body ${JSON.stringify(me.json)}`);
        if (me.json.email !== BENCH_USER.email || me.json.name !== BENCH_USER.name || !UUID_V7.test(String(me.json.id)))
          problems.me.push(`${kind}: users/me is not the bench account: ${JSON.stringify(me.json)}`);
      }
      problems.me.push(...rateLimitProblems(kind, `GET ${s.mePath}`, me, true));
      if (RATE_LIMIT_ON && !/^"\w+";q=\d+;w=\d+$/.test(me.headers['ratelimit-policy'] ?? '')) problems.me.push(`${kind}: RateLimit-Policy ${me.headers['ratelimit-policy']}`);
      const bad = await probe(s.baseUrl + s.mePath!, { headers: { authorization: 'Bearer not.a.token' } });
      keep('users/me with a bad token', kind, bad);
      if (bad.status !== 401 || bad.json?.error?.code !== 'INVALID_TOKEN')
        problems.me.push(
          `${kind}: a bad token got ${bad.status} ${JSON.stringify(bad.json).slice(0, 300)} (want 401 INVALID_TOKEN)`,
        );
    }
  }

  // Same work: the same headers on the wire (volatile ones aside; counted ones with digits masked).
  for (const [name, pair] of Object.entries(responses)) {
    if (!pair.kernel || !pair.bare) continue;
    const k = pair.kernel.headers;
    const b = pair.bare.headers;
    const norm = (h: string, v: string | undefined) => (v !== undefined && COUNTED_HEADERS.has(h) ? v.replace(/\d+/g, 'N') : v);
    const diffs = [...new Set([...Object.keys(k), ...Object.keys(b)])]
      .filter((h) => !VOLATILE_HEADERS.has(h) && norm(h, k[h]) !== norm(h, b[h]))
      .map((h) => `${h}: kernel ${JSON.stringify(k[h] ?? null)} vs bare ${JSON.stringify(b[h] ?? null)}`);
    if (diffs.length)
      notes.push(`header difference on the ${name} response (not part of the verdict): ${diffs.join('; ')}`);
  }
  return { problems, notes };
}

// ---------------------------------------------------------------- measurement

/**
 * The two servers in the order round `round` of workload `index` runs them (KB, BK, KB, ...; the next
 * workload starts with B).
 */
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

async function measure(
  servers: Servers,
  index: number,
  workload: Workload,
  problems: string[],
): Promise<WorkloadResult> {
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
  out(
    `  ${pad(workload.label, 22)} ${rounds} rounds × ${fmt(seconds, 1)} s each, kernel/bare per round: ${pairRatios.map((r) => r.toFixed(2)).join(' ')}`,
  );
  const summaries = { kernel: summarize(segments.kernel), bare: summarize(segments.bare) };
  const ratio = summaries.kernel.reqPerSec / summaries.bare.reqPerSec;
  const all = [...problems];
  for (const kind of KINDS) {
    const s = summaries[kind];
    if (s.non2xx)
      all.push(
        `${kind} answered ${s.non2xx} non-2xx responses (${Object.entries(s.statusCodes)
          .filter(([c]) => !c.startsWith('2'))
          .map(([c, n]) => `${c}×${n}`)
          .join(', ')})`,
      );
    if (s.errors || s.timeouts) all.push(`${kind}: ${s.errors} connection errors, ${s.timeouts} timeouts`);
    if (!s.requests) all.push(`${kind} completed no request`);
  }
  const verdict = all.length ? 'INVALID' : ratio >= workload.targetRatio ? 'PASS' : 'FAIL';
  return { workload, summaries, ratio, pairRatios, problems: all, verdict };
}

function printResults(results: WorkloadResult[]) {
  if (!results.length) return;
  out();
  out(
    `Results (${DURATION} s per server per workload, ${SETTINGS.connections} connections, pipelining ${SETTINGS.pipelining}; latency over every response)`,
  );
  const header = `  ${pad('workload', 22)} ${pad('server', 7)} ${lpad('req/s', 10)} ${lpad('p50 ms', 7)} ${lpad('p99 ms', 7)} ${lpad('2xx', 9)} ${lpad('non-2xx', 8)} ${lpad('errors', 7)} ${lpad('CPU µs/req', 11)} ${lpad('srv busy', 9)} ${lpad('gen busy', 9)}`;
  out(header);
  out(`  ${'-'.repeat(header.length - 2)}`);
  for (const r of results) {
    for (const kind of KINDS) {
      const s = r.summaries[kind];
      out(
        `  ${pad(kind === 'kernel' ? r.workload.label : '', 22)} ${pad(kind, 7)} ${lpad(fmt(s.reqPerSec, 1), 10)} ${lpad(fmt(s.p50, 2), 7)} ${lpad(fmt(s.p99, 2), 7)} ${lpad(fmt(s.ok2xx), 9)} ${lpad(fmt(s.non2xx), 8)} ${lpad(fmt(s.errors + s.timeouts), 7)} ${lpad(fmt(s.cpuUsPerReq, 1), 11)} ${lpad(pct(s.serverBusy), 9)} ${lpad(pct(s.loaderBusy), 9)}`,
      );
    }
    const target = r.workload.targetRatio;
    const sorted = [...r.pairRatios].sort((a, b) => a - b);
    const { kernel, bare } = r.summaries;
    out(
      `  ${pad('', 22)} ratio kernel/bare req/s = ${r.ratio.toFixed(3)}  (target ≥ ${target.toFixed(2)})  ${r.verdict}`,
    );
    const ci = ratioInterval(r.pairRatios);
    out(
      `  ${pad('', 22)} ${r.pairRatios.length} back-to-back rounds: geometric mean ${ci.mean.toFixed(3)} (95% CI from round-to-round noise ${ci.low.toFixed(3)}–${ci.high.toFixed(3)}), median ${median(sorted).toFixed(3)}, range ${sorted[0].toFixed(2)}–${sorted[sorted.length - 1].toFixed(2)}`,
    );
    if (Number.isFinite(kernel.cpuUsPerReq) && Number.isFinite(bare.cpuUsPerReq)) {
      out(
        `  ${pad('', 22)} server CPU per request: kernel ${kernel.cpuUsPerReq.toFixed(1)} µs vs bare ${bare.cpuUsPerReq.toFixed(1)} µs (${kernel.cpuUsPerReq >= bare.cpuUsPerReq ? '+' : ''}${(kernel.cpuUsPerReq - bare.cpuUsPerReq).toFixed(1)} µs) -> CPU-bound ratio bare/kernel = ${(bare.cpuUsPerReq / kernel.cpuUsPerReq).toFixed(3)}`,
      );
    }
    if (r.verdict !== 'INVALID' && ci.low < target && ci.high >= target) {
      out(
        `  ${pad('', 22)} ~ too close to call at this machine's noise level (the 95% CI spans the target): rerun, or raise BENCH_DURATION`,
      );
    }
    if (Math.max(kernel.loaderBusy, bare.loaderBusy) > 0.9) {
      out(
        `  ${pad('', 22)} ~ the load generator was ${pct(Math.max(kernel.loaderBusy, bare.loaderBusy))} busy: it may cap the faster server's req/s`,
      );
    }
    for (const p of r.problems) out(`  ${pad('', 22)} ! ${p}`);
  }
}

function printLogin(r: LoginLoadResult) {
  out();
  out(
    `/health latency while logins run (kernel, identity suite; ${LOGIN.healthConnections} /health connections; ${LOGIN.loginConnections} concurrent POST /v1/auth/login with the right password)`,
  );
  const header = `  ${pad('phase', 28)} ${lpad('req/s', 9)} ${lpad('p50 ms', 7)} ${lpad('p99 ms', 7)} ${lpad('max ms', 8)} ${lpad('2xx', 8)} ${lpad('non-2xx', 8)} ${lpad('loop p99', 9)} ${lpad('main thr', 9)} ${lpad('process', 8)}`;
  out(header);
  out(`  ${'-'.repeat(header.length - 2)}`);
  const row = (name: string, s: Summary, loop: number | undefined, main: number, proc: number) =>
    out(
      `  ${pad(name, 28)} ${lpad(fmt(s.reqPerSec, 0), 9)} ${lpad(fmt(s.p50, 2), 7)} ${lpad(fmt(s.p99, 2), 7)} ${lpad(fmt(maxOf(s), 1), 8)} ${lpad(fmt(s.ok2xx), 8)} ${lpad(fmt(s.non2xx), 8)} ${lpad(loop === undefined ? 'n/a' : `${fmt(loop, 1)} ms`, 9)} ${lpad(pct(main), 9)} ${lpad(pct(proc), 8)}`,
    );
  row(
    `GET /health idle (${fmt(LOGIN.idleSeconds, 0)} s)`,
    r.idle,
    r.loop.idle?.loopDelayP99Ms,
    r.busy.idleMain,
    r.busy.idleProcess,
  );
  row(
    `GET /health under logins (${fmt(LOGIN.loadedSeconds, 0)} s)`,
    r.loaded,
    r.loop.loaded?.loopDelayP99Ms,
    r.busy.loadedMain,
    r.busy.loadedProcess,
  );
  row(`POST /v1/auth/login`, r.logins, undefined, NaN, r.logins.serverBusy);
  out(
    `  ${pad('', 28)} logins: ${fmt(r.logins.ok2xx)} answered 200 in ${fmt(r.logins.seconds, 1)} s = ${fmt(r.loginsPerSec, 1)} logins/s (p50 ${fmt(r.logins.p50)} ms, p99 ${fmt(r.logins.p99)} ms); server CPU per login: ${fmt(r.logins.cpuUsPerReq / 1000, 1)} ms all threads, main thread ≤ ${fmt((r.busy.loadedMain * 1000) / r.loginsPerSec, 1)} ms (its CPU under logins / logins, /health's share included)`,
  );
  out(
    `  ${pad('', 28)} /health p99 under logins / idle = ${fmt(r.loaded.p99, 2)} / ${fmt(r.idle.p99, 2)} ms = ${r.ratio.toFixed(2)}×  (target ≤ ${LOGIN.maxRatio}×)  ${r.verdict}`,
  );
  out(
    `  ${pad('', 28)} event-loop delay p50/p99/max: idle ${loopText(r.loop.idle)}, under logins ${loopText(r.loop.loaded)}; queued logins drained in ${fmt(r.drainSeconds, 1)} s`,
  );
  out(
    `  ${pad('', 28)} (main thr = the server's main thread, process = all its threads incl. libuv's pool, as a share of one CPU; the servers ${serverCpu === undefined ? 'are not pinned' : `share CPU ${serverCpu}`})`,
  );
  if (r.verdict === 'FAIL' && r.busy.loadedMain < r.busy.idleMain * 0.6) {
    out(
      `  ${pad('', 28)} ~ under logins the main thread was on the CPU ${pct(r.busy.loadedMain)} of the time (idle phases: ${pct(r.busy.idleMain)}) while the process used ${pct(r.busy.loadedProcess)}: the hashing threads take the event loop's CPU`,
    );
  }
  for (const p of r.problems) out(`  ${pad('', 28)} ! ${p}`);
}

function maxOf(s: Summary) { return s.max; }
const loopText = (s: LoginLoadResult['loop']['idle']) =>
  s ? `${fmt(s.loopDelayP50Ms, 1)}/${fmt(s.loopDelayP99Ms, 1)}/${fmt(s.loopDelayMaxMs, 1)} ms` : 'n/a';

// ---------------------------------------------------------------- profiling

interface ProfiledRun {
  workload: Workload;
  windows: Record<ServerKind, Array<[number, number]>>;
  requests: Record<ServerKind, number>;
  reqPerSec: Record<ServerKind, number>;
}

/** Profiles the servers of every suite with a missed target: the failed workloads, and the login measurement. */
async function profile(workloads: Workload[], login: boolean): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'kernel-bench-prof-'));
  const suites = [...new Set<Suite>([...workloads.map((w) => w.suite), ...(login ? ['identity' as const] : [])])];
  out();
  out(
    `CPU profiles (node --cpu-prof, sampling every ${PROFILE_INTERVAL_US} µs; ${PROFILE_DURATION} s per server per workload after a warm-up; main thread only)`,
  );
  try {
    for (const suite of suites) {
      for (const kind of KINDS) mkdirSync(join(dir, suite, kind), { recursive: true });
      let servers: Servers | undefined;
      const runs: ProfiledRun[] = [];
      let loginRun: LoginLoadResult | undefined;
      try {
        servers = await startBoth(suite, { cpuProfDir: dir });
        if (suite === 'identity') {
          const p = await signUp(servers.kernel);
          if (p.length) throw new Error(`kernel sign-in under the profiler: ${p.join('; ')}`);
        }
        for (const workload of workloads.filter((w) => w.suite === suite)) {
          const index = WORKLOADS.indexOf(workload);
          for (const kind of order(index, 0))
            await runSegment(workload.target(servers[kind]), Math.min(WARMUP, 2), SETTINGS);
          const run: ProfiledRun = {
            workload,
            windows: { kernel: [], bare: [] },
            requests: { kernel: 0, bare: 0 },
            reqPerSec: { kernel: 0, bare: 0 },
          };
          const seconds = { kernel: 0, bare: 0 };
          const rounds = Math.max(2, Math.round(PROFILE_DURATION / SEGMENT));
          for (let round = 0; round < rounds; round++) {
            for (const kind of order(index, round)) {
              const seg = await runSegment(workload.target(servers[kind]), PROFILE_DURATION / rounds, SETTINGS);
              run.windows[kind].push([seg.startUs, seg.endUs]);
              run.requests[kind] += seg.requests;
              seconds[kind] += seg.seconds;
              if (seg.non2xx || seg.errors)
                out(`  ! ${kind} ${workload.label}: ${seg.non2xx} non-2xx, ${seg.errors} errors under the profiler`);
            }
          }
          for (const kind of KINDS) run.reqPerSec[kind] = run.requests[kind] / seconds[kind];
          runs.push(run);
        }
        if (suite === 'identity' && login) loginRun = await measureHealthUnderLogin(servers.kernel, LOGIN);
      } finally {
        if (servers) await stopBoth(servers);
      }
      const profiles: Partial<Record<ServerKind, CpuProfile>> = {};
      for (const kind of KINDS) {
        const file = readdirSync(join(dir, suite, kind)).find((f) => f.endsWith('.cpuprofile'));
        if (file) profiles[kind] = readProfile(join(dir, suite, kind, file));
        else out(`  ! no CPU profile was written by the ${kind} ${suite} server`);
      }
      if (profiles.kernel && profiles.bare) {
        for (const run of runs)
          printProfile(
            run,
            summarizeProfile(profiles.kernel, run.windows.kernel, ROOT),
            summarizeProfile(profiles.bare, run.windows.bare, ROOT),
          );
      }
      if (profiles.kernel && loginRun) printLoginProfile(loginRun, profiles.kernel);
    }
  } finally {
    if (KEEP_PROFILES) out(`  profiles kept in ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  }
}

/** Repo code (not node_modules): where the kernel's own work shows up. */
const REPO_CATEGORIES = new Set(['kernel/', 'plugins/', 'adapters/']);

function printProfile(run: ProfiledRun, k: ProfileSummary, b: ProfileSummary) {
  const perReq = (us: number, kind: ServerKind) => us / Math.max(1, run.requests[kind]);
  const kBusy = perReq(k.busyUs, 'kernel');
  const bBusy = perReq(b.busyUs, 'bare');
  out();
  out(
    `${run.workload.label}: under the profiler kernel ${fmt(run.reqPerSec.kernel)} req/s, bare ${fmt(run.reqPerSec.bare)} req/s (ratio ${(run.reqPerSec.kernel / run.reqPerSec.bare).toFixed(3)})`,
  );
  out(
    `  CPU per request (idle excluded): kernel ${kBusy.toFixed(1)} µs, bare ${bBusy.toFixed(1)} µs, difference ${kBusy - bBusy >= 0 ? '+' : ''}${(kBusy - bBusy).toFixed(1)} µs (${kBusy - bBusy >= 0 ? '+' : ''}${fmt((kBusy / bBusy - 1) * 100, 1)}%); idle: kernel ${fmt((k.idleUs / k.sampledUs) * 100, 1)}%, bare ${fmt((b.idleUs / b.sampledUs) * 100, 1)}%`,
  );

  out(`  self time by where the code lives, µs per request:`);
  out(`    ${pad('category', 44)} ${lpad('kernel', 8)} ${lpad('bare', 8)} ${lpad('Δ', 8)}`);
  const cats = [...new Set([...k.categories.keys(), ...b.categories.keys()])].filter(
    (c) => c !== '(idle)' && c !== '(root)',
  );
  const rows = cats
    .map((c) => ({ c, kv: perReq(k.categories.get(c) ?? 0, 'kernel'), bv: perReq(b.categories.get(c) ?? 0, 'bare') }))
    .sort((x, y) => Math.abs(y.kv - y.bv) - Math.abs(x.kv - x.bv) || y.kv - x.kv);
  for (const r of rows.slice(0, 14)) {
    if (r.kv < 0.05 && r.bv < 0.05) continue;
    out(
      `    ${pad(r.c, 44)} ${lpad(r.kv.toFixed(1), 8)} ${lpad(r.bv.toFixed(1), 8)} ${lpad(`${r.kv - r.bv >= 0 ? '+' : ''}${(r.kv - r.bv).toFixed(1)}`, 8)}`,
    );
  }

  const repoFns = k.functions.filter((f) => REPO_CATEGORIES.has(f.category));
  const table = (title: string, fns: typeof k.functions, key: 'selfUs' | 'totalUs', n: number) => {
    out(`  ${title}`);
    out(`    ${lpad('µs/req', 7)} ${lpad('% busy', 7)}  function (file:line of the transpiled module)`);
    for (const f of [...fns].sort((x, y) => y[key] - x[key]).slice(0, n)) {
      if (f[key] <= 0) continue;
      out(
        `    ${lpad(perReq(f[key], 'kernel').toFixed(2), 7)} ${lpad(((f[key] / k.busyUs) * 100).toFixed(1), 7)}  ${f.name}  ${f.location}`,
      );
    }
  };
  table('kernel/ plugins/ adapters/ functions, self time (top 10):', repoFns, 'selfUs', 10);
  table('kernel/ plugins/ adapters/ functions, inclusive time (with callees, top 12):', repoFns, 'totalUs', 12);
  table(
    'kernel process, self time by function in any file (top 15):',
    k.functions.filter((f) => f.category !== '(idle)' && f.category !== '(root)'),
    'selfUs',
    15,
  );

  // Library code the kernel runs more of per request than the bare app (callers summed, so
  // e.g. Koa's delegate setters compare whoever calls them).
  const byCode = (fns: typeof k.functions) => {
    const m = new Map<string, { label: string; us: number }>();
    for (const f of fns) {
      if (['(idle)', '(root)', 'scripts/bench/', ...REPO_CATEGORIES].includes(f.category)) continue;
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
    .slice(0, 12);
  out(
    `  code outside the repo with the most extra self time per request in the kernel process vs bare (top 12; partly noise):`,
  );
  out(`    ${lpad('Δ µs/req', 8)}  function  location`);
  for (const { label, delta } of extra) if (delta > 0.05) out(`    ${lpad(`+${delta.toFixed(2)}`, 8)}  ${label}`);
}

/** What the kernel's main thread did while logins ran, against the idle phases. */
function printLoginProfile(r: LoginLoadResult, profile: CpuProfile) {
  const idle = summarizeProfile(profile, r.windows.idle, ROOT);
  const loaded = summarizeProfile(profile, r.windows.loaded, ROOT);
  const secs = (w: Array<[number, number]>) => w.reduce((a, [x, y]) => a + (y - x), 0) / 1e6;
  const idleS = secs(r.windows.idle);
  const loadedS = secs(r.windows.loaded);
  const logins = r.loginsPerSec * loadedS;
  out();
  const under = r.loaded.requests
    ? `p99 ${fmt(r.loaded.p99, 2)} ms (${r.ratio.toFixed(2)}×)`
    : `no /health answered in ${fmt(LOGIN.loadedSeconds, 0)} s`;
  out(
    `/health under logins, under the profiler: idle p99 ${fmt(r.idle.p99, 2)} ms, under logins ${under}, ${fmt(r.loginsPerSec, 1)} logins/s, ${fmt(r.loaded.reqPerSec)} /health req/s`,
  );
  out(
    `  main thread not idle in the samples: idle ${pct(idle.busyUs / (idleS * 1e6))}, under logins ${pct(loaded.busyUs / (loadedS * 1e6))}; on CPU (schedstat): idle ${pct(r.busy.idleMain)}, under logins ${pct(r.busy.loadedMain)}`,
  );
  out(
    `  (V8 samples by wall clock: a main thread that waits for the CPU, or blocks in a system call, is charged to the function it is in)`,
  );
  out(`  main-thread self time by where the code lives, ms per second of wall time (idle -> under logins):`);
  const cats = [...new Set([...idle.categories.keys(), ...loaded.categories.keys()])].filter(
    (c) => c !== '(idle)' && c !== '(root)',
  );
  const rows = cats
    .map((c) => ({
      c,
      i: (idle.categories.get(c) ?? 0) / idleS / 1000,
      l: (loaded.categories.get(c) ?? 0) / loadedS / 1000,
    }))
    .sort((x, y) => y.l - y.i - (x.l - x.i));
  for (const row of rows.slice(0, 12))
    if (row.l > 0.5 || row.i > 0.5)
      out(`    ${pad(row.c, 44)} ${lpad(row.i.toFixed(1), 7)} -> ${lpad(row.l.toFixed(1), 7)}`);
  out(`  main-thread functions under logins, self time (top 15), ms per login (the main thread served /health too):`);
  for (const f of [...loaded.functions]
    .filter((f) => f.category !== '(idle)' && f.category !== '(root)')
    .sort((x, y) => y.selfUs - x.selfUs)
    .slice(0, 15)) {
    out(`    ${lpad((f.selfUs / Math.max(1, logins) / 1000).toFixed(3), 7)}  ${f.name}  ${f.location}`);
  }
  out(
    `  kernel/ plugins/ adapters/ functions under logins, inclusive time (top 12), ms per login (/health's share included):`,
  );
  for (const f of [...loaded.functions]
    .filter((f) => REPO_CATEGORIES.has(f.category))
    .sort((x, y) => y.totalUs - x.totalUs)
    .slice(0, 12)) {
    out(`    ${lpad((f.totalUs / Math.max(1, logins) / 1000).toFixed(3), 7)}  ${f.name}  ${f.location}`);
  }
}

// ---------------------------------------------------------------- main

async function main() {
  const started = Date.now();
  const cpu = cpus()[0]?.model ?? 'unknown cpu';
  out(
    `kernel vs bare Koa benchmark — node ${process.version}, ${availableParallelism()} CPUs (${cpu.trim()}), 127.0.0.1`,
  );
  out(
    `  ${SETTINGS.connections} connections, pipelining ${SETTINGS.pipelining}, ${WARMUP} s warm-up + ${DURATION} s measured per server per workload (in ~${SEGMENT} s rounds, alternating kernel/bare), target kernel/bare ≥ ${TARGET.toFixed(2)} (GET /v1/users/me ≥ ${ME_TARGET.toFixed(2)})`,
  );
  out(
    `  both servers: log.level info + one request log line per request to /dev/null, CORS + compression (kernel defaults), request id, error boundary, rate limiting ${RATE_LIMIT_ON ? `(limit ${RATE_LIMIT_PER_WINDOW} a minute, never reached; not on /health)` : 'off (BENCH_RATE_LIMIT=off)'}`,
  );
  if (ONLY.size < ALL_CHECKS.length) out(`  BENCH_ONLY: ${[...ONLY].join(', ')}`);

  if (PIN && availableParallelism() >= 2 && hasTaskset() && pinSelf(0)) {
    serverCpu = 1;
    out(`  pinned: load generator on CPU 0, servers on CPU 1 (BENCH_PIN=0 to let the OS schedule)`);
  } else {
    out(`  not pinned to CPUs (${PIN ? 'taskset unavailable or a single CPU' : 'BENCH_PIN=0'})`);
  }
  const suites = [
    ...new Set<Suite>([...WORKLOADS.map((w) => w.suite), ...(ONLY.has('login') ? ['identity' as const] : [])]),
  ];
  const all = await startSuites(suites);
  const results: WorkloadResult[] = [];
  let login: LoginLoadResult | undefined;
  let loginProblems: string[] = [];
  try {
    for (const suite of suites) {
      const servers = all[suite]!;
      out(
        `  ${suite} suite: kernel pid ${servers.kernel.pid} :${servers.kernel.port}, bare pid ${servers.bare.pid} :${servers.bare.port}`,
      );
      for (const kind of KINDS) for (const note of servers[kind].notes ?? []) out(`    ${kind}: ${note}`);
    }
    const { problems, notes } = await preflight(all);
    for (const id of Object.keys(problems) as Check[])
      if (ONLY.has(id)) for (const p of problems[id]) out(`  ! preflight ${id}: ${p}`);
    for (const n of notes) out(`  note: ${n}`);
    out();
    for (const [i, workload] of WORKLOADS.entries())
      results.push(await measure(all[workload.suite]!, i, workload, problems[workload.id]));
    if (ONLY.has('login')) {
      loginProblems = problems.login;
      if (!loginProblems.length) {
        out(
          `  /health under logins      idle ${LOGIN.idleSeconds / 2} s, then ${LOGIN.loginConnections} logins for ${LOGIN.leadSeconds} s + /health ${LOGIN.loadedSeconds} s under them, drain, idle ${LOGIN.idleSeconds / 2} s`,
        );
        login = await measureHealthUnderLogin(all.identity!.kernel, LOGIN);
        login.problems.unshift(...loginProblems);
        if (loginProblems.length) login.verdict = 'INVALID';
      }
    }
  } finally {
    await stopSuites(all);
  }
  printResults(results);
  if (login) printLogin(login);
  else if (ONLY.has('login')) out(`\n/health under logins: not measured (${loginProblems.join('; ')})`);

  const loginVerdict = !ONLY.has('login') ? undefined : login ? login.verdict : 'INVALID';
  const failedWorkloads = results.filter((r) => r.verdict === 'FAIL').map((r) => r.workload);
  const always = PROFILE_MODE === '1' || PROFILE_MODE === 'always';
  if (always || (PROFILE_MODE === 'auto' && (failedWorkloads.length || loginVerdict === 'FAIL'))) {
    try {
      await profile(always ? WORKLOADS : failedWorkloads, always ? ONLY.has('login') : loginVerdict === 'FAIL');
    } catch (e) {
      out(`  ! profiling failed: ${(e as Error).message}`);
    }
  } else if (failedWorkloads.length || loginVerdict === 'FAIL') {
    out('\n(profiling skipped: BENCH_PROFILE=0)');
  }

  const verdicts = [...results.map((r) => r.verdict), ...(loginVerdict ? [loginVerdict] : [])];
  const overall = verdicts.includes('INVALID') ? 'INVALID' : verdicts.includes('FAIL') ? 'FAIL' : 'PASS';
  const parts = results.map(
    (r) =>
      `${r.workload.label} ${fmt(r.summaries.kernel.reqPerSec)} vs ${fmt(r.summaries.bare.reqPerSec)} req/s = ` +
      `${r.ratio.toFixed(2)} (≥ ${r.workload.targetRatio.toFixed(2)}) ${r.verdict}${
        r.verdict === 'INVALID'
          ? ''
          : (() => {
              const ci = ratioInterval(r.pairRatios);
              return ` [rounds 95% CI ${ci.low.toFixed(2)}–${ci.high.toFixed(2)}]`;
            })()
      }`,
  );
  if (login)
    parts.push(
      `/health p99 under ${LOGIN.loginConnections} logins ${fmt(login.loaded.p99, 2)} ms vs idle ${fmt(login.idle.p99, 2)} ms = ${login.ratio.toFixed(2)}× (≤ ${LOGIN.maxRatio}×) ${login.verdict}, ${fmt(login.loginsPerSec, 1)} logins/s`,
    );
  else if (loginVerdict) parts.push('/health under logins INVALID (not measured)');
  out();
  out(`SUMMARY: ${overall} — ${parts.join('; ')} (${Math.round((Date.now() - started) / 1000)} s)`);
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`bench could not run: ${err?.stack ?? err}\n`);
    process.exit(1);
  },
);
