/**
 * The identity suite's helpers: the bench account made through the kernel's HTTP API, and
 * the "/health p99 while logins hash" measurement.
 *
 * Logins hash with argon2id on libuv's thread pool, so the event loop should stay free to
 * answer /health. Measured on the kernel only (bare has no login): /health latency with
 * `healthConnections` connections when the server is idle (half before the login load, half
 * after it has drained), and the same while `loginConnections` connections POST
 * /v1/auth/login with the right password (each one really hashes: only 200s count).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import {
  processCpuUs,
  runSegment,
  summarize,
  threadCpuUs,
  type LoadTarget,
  type Segment,
  type Summary,
} from './load.ts';
import type { ServerHandle } from './servers.ts';
import { BENCH_USER, type ServerStats } from './shared.ts';

const nowUs = () => Number(process.hrtime.bigint() / 1000n);

async function call(url: string, init: RequestInit): Promise<{ status: number; json: any }> {
  const res = await fetch(url, init);
  const text = await res.text();
  let json: unknown;
  try { json = JSON.parse(text); } catch { json = text; }
  return { status: res.status, json };
}

/**
 * Registers the bench account on a kernel (POST /auth/register) and signs in (POST
 * /auth/login); the access token goes to `server.token`. Returns problems (empty when fine).
 */
export async function signUp(server: ServerHandle): Promise<string[]> {
  if (!server.registerPath || !server.loginPath) return ['the kernel serves no register/login route'];
  const json = { 'content-type': 'application/json' };
  const reg = await call(server.baseUrl + server.registerPath, {
    method: 'POST',
    headers: json,
    body: JSON.stringify({ name: BENCH_USER.name, email: BENCH_USER.email, password: BENCH_USER.password }),
  });
  if (reg.status !== 201 && reg.status !== 409)
    return [`POST ${server.registerPath} answered ${reg.status} ${JSON.stringify(reg.json).slice(0, 300)}`];
  const login = await call(server.baseUrl + server.loginPath, { method: 'POST', headers: json, body: loginBody() });
  if (login.status !== 200 || typeof login.json?.accessToken !== 'string')
    return [`POST ${server.loginPath} answered ${login.status} ${JSON.stringify(login.json).slice(0, 300)}`];
  server.token = login.json.accessToken;
  return [];
}

export const loginBody = () => JSON.stringify({ email: BENCH_USER.email, password: BENCH_USER.password });

export function loginTarget(server: ServerHandle): LoadTarget {
  return {
    url: server.baseUrl + server.loginPath!,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: loginBody(),
  };
}

export interface LoginLoadSettings {
  healthConnections: number;
  loginConnections: number;
  /** Seconds of idle /health measurement (half before, half after the login load). */
  idleSeconds: number;
  /** Seconds of /health measurement under the login load. */
  loadedSeconds: number;
  /** Seconds the login load runs before /health is measured under it. */
  leadSeconds: number;
  maxRatio: number;
}

export interface LoginLoadResult {
  idle: Summary;
  loaded: Summary;
  logins: Summary;
  loginsPerSec: number;
  ratio: number;
  verdict: 'PASS' | 'FAIL' | 'INVALID';
  problems: string[];
  /** Event-loop delay (server side) in the idle phases (the worse of the two) and under load. */
  loop: { idle?: ServerStats; loaded?: ServerStats };
  /** Share of one CPU the main thread / the whole process used. */
  busy: { idleMain: number; loadedMain: number; idleProcess: number; loadedProcess: number };
  drainSeconds: number;
  /** [startUs, endUs] of the measured phases, for a CPU profile. */
  windows: { idle: Array<[number, number]>; loaded: Array<[number, number]> };
}

/** Waits until the server has used < 10% of a CPU over 250 ms (queued hashes done), at most 20 s. */
async function drain(pid: number): Promise<number> {
  const t0 = Date.now();
  while (Date.now() - t0 < 20_000) {
    const a = processCpuUs(pid);
    await sleep(250);
    const b = processCpuUs(pid);
    if (a === undefined || b === undefined || b - a < 25_000) break;
  }
  return (Date.now() - t0) / 1000;
}

async function withMainThread<T>(pid: number, run: () => Promise<T>): Promise<{ value: T; mainBusy: number }> {
  const c0 = threadCpuUs(pid);
  const t0 = nowUs();
  const value = await run();
  const c1 = threadCpuUs(pid);
  return { value, mainBusy: c0 !== undefined && c1 !== undefined ? (c1 - c0) / (nowUs() - t0) : NaN };
}

const busyOf = (segments: Segment[]) => {
  const wall = segments.reduce((a, s) => a + s.endUs - s.startUs, 0);
  return segments.every((s) => s.serverCpuUs !== undefined)
    ? segments.reduce((a, s) => a + s.serverCpuUs!, 0) / wall
    : NaN;
};

export async function measureHealthUnderLogin(
  server: ServerHandle,
  settings: LoginLoadSettings,
): Promise<LoginLoadResult> {
  const health: LoadTarget = { url: server.baseUrl + server.healthPath, method: 'GET' };
  const hc = { connections: settings.healthConnections, pipelining: 1 };
  const problems: string[] = [];

  await runSegment(health, 1, hc); // warm-up
  await server.stats();
  const before = await withMainThread(server.pid, () => runSegment(health, settings.idleSeconds / 2, hc, server.pid));
  const idleStats1 = await server.stats();

  const loginRun = runSegment(
    loginTarget(server),
    settings.leadSeconds + settings.loadedSeconds + 0.3,
    { connections: settings.loginConnections, pipelining: 1 },
    server.pid,
  );
  await sleep(settings.leadSeconds * 1000);
  await server.stats();
  const loaded = await withMainThread(server.pid, () => runSegment(health, settings.loadedSeconds, hc, server.pid));
  const loadedStats = await server.stats();
  const logins = await loginRun;
  const drainSeconds = await drain(server.pid);

  await server.stats();
  const after = await withMainThread(server.pid, () => runSegment(health, settings.idleSeconds / 2, hc, server.pid));
  const idleStats2 = await server.stats();

  const idle = summarize([before.value, after.value]);
  const loadedSummary = summarize([loaded.value]);
  const loginSummary = summarize([logins]);
  for (const [name, s] of [
    ['idle /health', idle],
    ['/health under the login load', loadedSummary],
  ] as const) {
    if (s.non2xx) problems.push(`${name}: ${s.non2xx} non-2xx responses`);
    if (s.errors || s.timeouts) problems.push(`${name}: ${s.errors} connection errors, ${s.timeouts} timeouts`);
    if (!s.requests) problems.push(`${name}: no response`);
  }
  if (loginSummary.non2xx)
    problems.push(
      `logins: ${loginSummary.non2xx} non-2xx (${Object.entries(loginSummary.statusCodes)
        .filter(([c]) => !c.startsWith('2'))
        .map(([c, n]) => `${c}×${n}`)
        .join(', ')}): the load must be successful logins`,
    );
  if (loginSummary.errors || loginSummary.timeouts)
    problems.push(`logins: ${loginSummary.errors} connection errors, ${loginSummary.timeouts} timeouts`);
  if (!loginSummary.ok2xx) problems.push('no login succeeded: nothing hashed');

  const ratio = loadedSummary.p99 / idle.p99;
  const worseIdle = idleStats1.loopDelayP99Ms >= idleStats2.loopDelayP99Ms ? idleStats1 : idleStats2;
  return {
    idle,
    loaded: loadedSummary,
    logins: loginSummary,
    loginsPerSec: loginSummary.ok2xx / loginSummary.seconds,
    ratio,
    verdict: problems.length ? 'INVALID' : ratio <= settings.maxRatio ? 'PASS' : 'FAIL',
    problems,
    loop: { idle: worseIdle, loaded: loadedStats },
    busy: {
      idleMain: (before.mainBusy + after.mainBusy) / 2,
      loadedMain: loaded.mainBusy,
      idleProcess: busyOf([before.value, after.value]),
      loadedProcess: busyOf([loaded.value]),
    },
    drainSeconds,
    windows: {
      idle: [
        [before.value.startUs, before.value.endUs],
        [after.value.startUs, after.value.endUs],
      ],
      loaded: [[loaded.value.startUs, loaded.value.endUs]],
    },
  };
}
