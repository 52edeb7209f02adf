/** Load segments with autocannon, with exact latency percentiles over several segments. */
import { readdirSync, readFileSync } from 'node:fs';
import autocannon from 'autocannon';

/**
 * CPU time (µs) a process has run so far, all its threads, from /proc/<pid>/task/<tid>/schedstat
 * (ns precision). Time stolen by the hypervisor or taken by other processes is not in it,
 * which makes CPU per request steadier than req/s on a busy machine. undefined off Linux.
 */
export function processCpuUs(pid: number): number | undefined {
  try {
    let ns = 0;
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try {
        ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
      } catch {
        /* thread gone */
      }
    }
    return ns / 1000;
  } catch {
    return undefined;
  }
}

/** CPU time (µs) of one thread of a process (the main thread: tid = pid); undefined off Linux. */
export function threadCpuUs(pid: number, tid = pid): number | undefined {
  try {
    return Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]) / 1000;
  } catch {
    return undefined;
  }
}

export interface LoadTarget {
  url: string;
  method: 'GET' | 'POST';
  headers?: Record<string, string>;
  body?: string;
}

export interface LoadSettings { connections: number; pipelining: number }

/** What segments and their summary both count. */
export interface Counts {
  /** Completed responses (any status). */
  requests: number;
  /** Seconds, as autocannon measured it. */
  seconds: number;
  ok2xx: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  statusCodes: Record<string, number>;
}

export interface Segment extends Counts {
  /** Response times in ms (float, from hrtime), one per response. */
  latencies: Float64Array;
  /** process.hrtime in µs at start and end (the same clock as a V8 CPU profile's timestamps). */
  startUs: number;
  endUs: number;
  /** CPU µs the server process used during the segment (when its pid was given and /proc exists). */
  serverCpuUs?: number;
  /** CPU µs this process (the load generator) used during the segment. */
  loaderCpuUs: number;
}

const nowUs = () => Number(process.hrtime.bigint() / 1000n);

export function runSegment(
  target: LoadTarget,
  seconds: number,
  settings: LoadSettings,
  serverPid?: number,
): Promise<Segment> {
  let latencies = new Float64Array(1 << 16);
  let n = 0;
  const serverCpu0 = serverPid ? processCpuUs(serverPid) : undefined;
  const loaderCpu0 = process.cpuUsage();
  const startUs = nowUs();
  return new Promise<Segment>((resolve, reject) => {
    const instance = autocannon(
      {
        url: target.url,
        method: target.method,
        headers: target.headers,
        body: target.body,
        connections: settings.connections,
        pipelining: settings.pipelining,
        duration: seconds,
        // autocannon only stops on a sample tick (default every 1000 ms): tick often so short rounds end on time.
        sampleInt: 100,
        timeout: 10,
      },
      (err, result) => {
        const endUs = nowUs();
        const serverCpu1 = serverPid ? processCpuUs(serverPid) : undefined;
        const loaderCpu = process.cpuUsage(loaderCpu0);
        if (err) {
          reject(err);
          return;
        }
        const statusCodes: Record<string, number> = {};
        for (const [code, { count }] of Object.entries(result.statusCodeStats ?? {})) statusCodes[code] = count;
        resolve({
          requests: result.requests.total,
          seconds: result.duration,
          ok2xx: result['2xx'],
          non2xx: result.non2xx,
          errors: result.errors,
          timeouts: result.timeouts,
          statusCodes,
          latencies: latencies.subarray(0, n),
          startUs,
          endUs,
          serverCpuUs: serverCpu0 !== undefined && serverCpu1 !== undefined ? serverCpu1 - serverCpu0 : undefined,
          loaderCpuUs: loaderCpu.user + loaderCpu.system,
        });
      },
    );
    instance.on('response', (_client: unknown, _status: number, _bytes: number, ms: number) => {
      if (n === latencies.length) {
        const grown = new Float64Array(latencies.length * 2);
        grown.set(latencies);
        latencies = grown;
      }
      latencies[n++] = ms;
    });
  });
}

export interface Summary extends Counts {
  reqPerSec: number;
  /** Server CPU µs per completed request; NaN when not measured. */
  cpuUsPerReq: number;
  /** Server CPU time / wall time (1 = one core fully busy). */
  serverBusy: number;
  /** Load generator CPU time / wall time. */
  loaderBusy: number;
  p50: number;
  p99: number;
  max: number;
}

/** Throughput over the summed segment time; latency percentiles over every response of every segment. */
export function summarize(segments: Segment[]): Summary {
  const total = segments.reduce((s, x) => s + x.latencies.length, 0);
  const all = new Float64Array(total);
  let offset = 0;
  for (const s of segments) { all.set(s.latencies, offset); offset += s.latencies.length; }
  all.sort();
  const pct = (p: number) => (all.length ? all[Math.min(all.length - 1, Math.ceil((p / 100) * all.length) - 1)] : NaN);
  const statusCodes: Record<string, number> = {};
  for (const s of segments)
    for (const [k, v] of Object.entries(s.statusCodes)) statusCodes[k] = (statusCodes[k] ?? 0) + v;
  const sum = (f: (s: Segment) => number) => segments.reduce((acc, s) => acc + f(s), 0);
  const seconds = sum((s) => s.seconds);
  const wallUs = sum((s) => s.endUs - s.startUs);
  const measured = segments.every((s) => s.serverCpuUs !== undefined);
  return {
    reqPerSec: sum((s) => s.requests) / seconds,
    cpuUsPerReq: measured ? sum((s) => s.serverCpuUs!) / sum((s) => s.requests) : NaN,
    serverBusy: measured ? sum((s) => s.serverCpuUs!) / wallUs : NaN,
    loaderBusy: sum((s) => s.loaderCpuUs) / wallUs,
    p50: pct(50),
    p99: pct(99),
    max: all.length ? all[all.length - 1] : NaN,
    requests: sum((s) => s.requests),
    seconds,
    ok2xx: sum((s) => s.ok2xx),
    non2xx: sum((s) => s.non2xx),
    errors: sum((s) => s.errors),
    timeouts: sum((s) => s.timeouts),
    statusCodes,
  };
}

/**
 * The process's CPU counter once it has gone idle (under 5% of a CPU over 200 ms, at most 10 s): read after a
 * segment, it counts the work the load left behind (an outbox relay's pass, a subscriber's backlog) too.
 */
export async function settledCpuUs(pid: number): Promise<number> {
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  let last = processCpuUs(pid)!;
  for (let i = 0; i < 50; i++) {
    await sleep(200);
    const now = processCpuUs(pid)!;
    if (now - last < 10_000) return now;
    last = now;
  }
  return last;
}
