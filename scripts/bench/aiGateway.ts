/**
 * Issue 12: the AI gateway's overhead. A mock OpenAI-shaped upstream on loopback, in its own process, answers the
 * same completion, unstreamed and streamed (role chunk, 12 content chunks, finish, usage chunk with `choices: []`,
 * `[DONE]`, each its own write). It is called directly and through the kernel's `POST /v1/chat/completions` (API key
 * auth, rate limit, routing, moderation, the ledger hold and capture, the usage record, egress), the kernel in a
 * process of its own too (scripts/bench/aiServer.ts), one request at a time, in interleaved rounds, with the same
 * HTTP client in this process. Reports p50 and p99 of both, the added p50 and p99 and the added time to first byte
 * of a stream, each with a 95% interval over rounds, and the kernel process's CPU per request.
 * Alone: `node --import tsx scripts/bench/aiGateway.ts [--quick]`; in the bench: `npm run bench -- --ai`.
 * `BENCH_AI_ROUNDS` and `BENCH_AI_CALLS` change the rounds (10, quick 4) and the calls per round (200, quick 60).
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { Pool } from 'undici';
import { createKernel, loadConfig } from '../kernel.ts';
import { CONFIG_DIR } from '../paths.ts';
import type { Kernel } from '../../kernel/boot.ts';
import type { AiGateway } from '../../plugins/ai/api.ts';
import { startServer, type ServerHandle } from './servers.ts';

const TARGETS = { p50: 1, p99: 3, ttfb: 1 };
const ADMIN = { email: 'bench-admin@example.com', password: 'Bench#Passw0rd' };
const WORDS = 'The quick brown fox jumps over the lazy dog while the gateway counts every token'.split(' ');

const percentile = (values: number[], q: number) => {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.round(q * (s.length - 1))))];
};

export function upstream(req: IncomingMessage, res: ServerResponse) {
  let raw = '';
  req.on('data', (c) => (raw += c));
  req.on('end', () => {
    const body = JSON.parse(raw || '{}') as { stream?: boolean; model?: string };
    const base = { id: 'chatcmpl-mock', created: 1_700_000_000, model: body.model ?? 'gpt-4o-mini' };
    const usage = { prompt_tokens: 24, completion_tokens: 12, total_tokens: 36 };
    if (!body.stream) {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({
        ...base, object: 'chat.completion', usage,
        choices: [{ index: 0, message: { role: 'assistant', content: WORDS.slice(0, 12).join(' ') },
          finish_reason: 'stop' }],
      }));
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    const chunk = (choices: unknown[], extra: object = {}) =>
      `data: ${JSON.stringify({ ...base, object: 'chat.completion.chunk', choices, ...extra })}\n\n`;
    res.write(chunk([{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }]));
    let i = 0;
    const next = () => {
      if (i < 12) {
        res.write(chunk([{ index: 0, delta: { content: `${WORDS[i++]} ` }, finish_reason: null }]));
        setImmediate(next);
        return;
      }
      res.write(chunk([{ index: 0, delta: {}, finish_reason: 'stop' }]));
      res.write(chunk([], { usage }));
      res.end('data: [DONE]\n\n');
    };
    setImmediate(next);
  });
}

export interface Sample { total: number; ttfb: number }

/**
 * The split: the same unstreamed completion through the ai plugin's `aiGateway.chat` in this process, no HTTP in
 * front (routing, moderation, limits, hold, egress to the mock, capture, usage record). What /v1 adds over it is
 * the HTTP server, authentication, rate limiting and the OpenAI wire mapping.
 */
async function inProcessRow(kernel: Kernel, userId: string, n: number): Promise<string> {
  const cradle = kernel.runtimes.get('ai')!.container.cradle as unknown as { aiGateway: AiGateway };
  const principal = { type: 'user', id: userId, permissions: [], tier: 'enterprise' };
  const times: number[] = [];
  const c0 = process.cpuUsage();
  for (let i = 0; i < n; i++) {
    const t = process.hrtime.bigint();
    await cradle.aiGateway.chat({ principal, model: 'gpt-4o-mini', maxTokens: 64,
      reference: { kind: 'bench', id: `${i}` },
      messages: [{ role: 'user', content: 'Say twelve words about a fox.' }] });
    times.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  const c = process.cpuUsage(c0);
  const p = (q: number) => percentile(times, q).toFixed(2);
  const sql = await statementsPerCall(() => cradle.aiGateway.chat({ principal, model: 'gpt-4o-mini', maxTokens: 64,
    reference: { kind: 'bench', id: 'sql' }, messages: [{ role: 'user', content: 'Say twelve words about a fox.' }] }));
  return `  ai gateway in process (aiGateway.chat, no HTTP, unstreamed): p50 ${p(0.5)} ms `
    + `p99 `
    + `${p(0.99)} ms, CPU ${((c.user + c.system) / 1000 / n).toFixed(2)} ms per call `
    + `including the mock upstream (${n} calls, info); SQLite statements per call: ${sql}`;
}

/** Counts libsql statement executions during one call, by method (run: writes and BEGIN/COMMIT; get/all/iterate). */
async function statementsPerCall(call: () => Promise<unknown>): Promise<string> {
  const { default: Database } = await import('libsql');
  const probe = new Database(':memory:');
  const proto = Object.getPrototypeOf(probe.prepare('select 1')) as Record<string, (...a: unknown[]) => unknown>;
  probe.close();
  const counts = new Map<string, number>();
  const saved = new Map<string, (...a: unknown[]) => unknown>();
  let depth = 0; // `all` runs through `iterate`: one statement, counted once
  for (const m of ['run', 'get', 'all', 'iterate']) {
    saved.set(m, proto[m]);
    proto[m] = function (this: unknown, ...args: unknown[]) {
      if (!depth) counts.set(m, (counts.get(m) ?? 0) + 1);
      depth++;
      try { return saved.get(m)!.apply(this, args); } finally { depth--; }
    };
  }
  try {
    await call();
  } finally {
    for (const [m, f] of saved) proto[m] = f;
  }
  const total = [...counts.values()].reduce((a, b) => a + b, 0);
  return `${total} (${[...counts].map(([k, v]) => `${k} ${v}`).join(', ')})`;
}

const completion = (stream: boolean) => JSON.stringify({
  model: 'gpt-4o-mini', max_tokens: 64, messages: [{ role: 'user', content: 'Say twelve words about a fox.' }],
  ...(stream ? { stream: true, stream_options: { include_usage: true } } : {}),
});
/** One completion, read to its end; total time and time to the first body bytes. */
export const call = async (pool: Pool, auth: Record<string, string>, stream: boolean): Promise<Sample> => {
  const t0 = process.hrtime.bigint();
  const res = await pool.request({ method: 'POST', path: '/v1/chat/completions', body: completion(stream),
    headers: { 'content-type': 'application/json', ...auth } });
  let ttfb = 0;
  let text = '';
  for await (const part of res.body) {
    if (!ttfb) ttfb = Number(process.hrtime.bigint() - t0) / 1e6;
    text += part;
  }
  const total = Number(process.hrtime.bigint() - t0) / 1e6;
  if (res.statusCode !== 200 || (stream && !text.includes('[DONE]'))) {
    throw new Error(`${res.statusCode} ${text.slice(0, 300)}`);
  }
  return { total, ttfb };
};

export interface GatewayBench {
  kernel: Kernel;
  userId: string;
  port: number;
  /** The bench user's API key (`Bearer` on /v1). */
  apiKey: string;
  viaGateway(stream: boolean): Promise<Sample>;
  viaDirect(stream: boolean): Promise<Sample>;
  close(): Promise<void>;
}

/** The mock upstream, the kernel in front of it, a user with credits on the enterprise plan and an API key. */
export async function gatewayBench(options: { mockOrigin?: string } = {}): Promise<GatewayBench> {
  // Without an origin the mock runs in this process (the in-process split row, aiProfile's INPROC=1).
  const mock = options.mockOrigin ? undefined : createServer(upstream);
  if (mock) await new Promise<void>((r) => mock.listen(0, '127.0.0.1', r));
  const mockOrigin = options.mockOrigin ?? `http://127.0.0.1:${(mock!.address() as AddressInfo).port}`;
  const dir = mkdtempSync(join(tmpdir(), 'bench-ai-'));
  const config = loadConfig({
    file: resolve(CONFIG_DIR, 'default.yaml'),
    env: {},
    overrides: {
      server: { port: 0, host: '127.0.0.1' }, database: { url: `file:${join(dir, 'ai.db')}` },
      log: { level: 'info' }, rateLimit: { tiers: { free: 1e9, premium: 1e9, enterprise: 1e9 } },
      adapters: {
        egress: { use: 'undici', allowCidrs: ['127.0.0.1/32'] },
        aiProvider: { use: 'gateway', moderation: 'local', providers: {
          openai: { adapter: 'openai', baseUrl: `${mockOrigin}/v1`, apiKey: 'sk-upstream' },
          local: { adapter: 'local' },
        } },
      },
      // publicBaseUrl: required when NODE_ENV is production (the bench's child processes run so).
      plugins: { identity: { bootstrapAdmin: ADMIN }, oauth: { publicBaseUrl: 'https://auth.example.com' } },
      jobs: { worker: false },
    },
  });
  // Request logs on, written to /dev/null: the gateway pays for its logging as it would in production.
  const kernel = await createKernel(config, { logger: pino({ level: 'info' }, pino.destination('/dev/null')) });
  const { port } = await kernel.listen();
  const gw = new Pool(`http://127.0.0.1:${port}`, { connections: 1 });
  const direct = new Pool(mockOrigin, { connections: 1 });
  const close = async () => {
    await gw.close();
    await direct.close();
    await kernel.stop();
    if (mock) await new Promise((r) => mock.close(r));
    rmSync(dir, { recursive: true, force: true });
  };
  const json = async (path: string, body: unknown, headers: Record<string, string> = {}) => {
    const res = await gw.request({ method: 'POST', path, body: JSON.stringify(body),
      headers: { 'content-type': 'application/json', ...headers } });
    const text = await res.body.text();
    if (res.statusCode >= 300) throw new Error(`${path}: ${res.statusCode} ${text.slice(0, 300)}`);
    return JSON.parse(text);
  };
  try {
    const admin = await json('/v1/auth/login', ADMIN);
    const email = `bench-ai-${process.pid}@example.com`;
    await json('/v1/auth/register', { name: 'Bench', email, password: ADMIN.password });
    const user = await json('/v1/auth/login', { email, password: ADMIN.password });
    const me = await (await gw.request({ method: 'GET', path: '/v1/users/me',
      headers: { authorization: `Bearer ${user.accessToken}` } })).body.json() as { id: string };
    await json(`/v1/admin/users/${me.id}/credits`, { amountCents: 1_000_000, reason: 'bench' },
      { authorization: `Bearer ${admin.accessToken}`, 'idempotency-key': `bench-${process.pid}` });
    // Enterprise: no daily token limit, so thousands of bench calls are not refused.
    await json('/v1/subscription', { planId: 'enterprise' }, { authorization: `Bearer ${user.accessToken}` });
    const key = await json('/v1/users/me/api-keys', { name: 'bench' }, { authorization: `Bearer ${user.accessToken}` });
    return {
      kernel, userId: me.id, port, apiKey: key.key as string, close,
      viaGateway: (stream) => call(gw, { authorization: `Bearer ${key.key}` }, stream),
      viaDirect: (stream) => call(direct, { authorization: 'Bearer sk-upstream' }, stream),
    };
  } catch (err) {
    await close();
    throw err;
  }
}

/** The mock upstream and the kernel, each in its own process, and this process's client pools for both. */
export async function gatewayChildren(options: { cpuProfDir?: string; kernelTree?: string } = {}) {
  const script = resolve(import.meta.dirname, 'aiServer.ts');
  const mock = await startServer('mock', 'ai', { script, args: ['mock'] });
  let kernel: ServerHandle | undefined;
  try {
    // kernelTree: the kernel of another checkout (a before/after pair in one run, as hotProfile's `base`).
    const kernelScript = options.kernelTree ? resolve(options.kernelTree, 'scripts/bench/aiServer.ts') : script;
    kernel = await startServer('kernel', 'ai', { script: kernelScript, args: ['kernel', mock.baseUrl],
      cpuProfDir: options.cpuProfDir, cpuProfIntervalUs: 100 });
  } catch (err) {
    await mock.stop();
    throw err;
  }
  const apiKey = (kernel as unknown as { apiKey: string }).apiKey;
  const gw = new Pool(kernel.baseUrl, { connections: 1 });
  const direct = new Pool(mock.baseUrl, { connections: 1 });
  return {
    mock, kernel,
    viaGateway: (stream: boolean) => call(gw, { authorization: `Bearer ${apiKey}` }, stream),
    viaDirect: (stream: boolean) => call(direct, { authorization: 'Bearer sk-upstream' }, stream),
    close: async () => {
      await gw.close();
      await direct.close();
      await kernel.stop();
      await mock.stop();
    },
  };
}

export async function aiGatewayRows(quick = false): Promise<string[]> {
  const children = await gatewayChildren();
  const { viaGateway, viaDirect, kernel, mock } = children;
  const lines: string[] = [];
  try {
    // CPU of the kernel's and the mock's processes per request, from their own process.cpuUsage().
    const cpu = { kernel: 0, mockGw: 0, mockDirect: 0, gwN: 0, directN: 0 };
    const time = async (f: () => Promise<Sample>, n: number, into: Sample[], side?: 'gw' | 'direct') => {
      const [k0, m0] = side ? await Promise.all([kernel.stats(), mock.stats()]) : [undefined, undefined];
      for (let i = 0; i < n; i++) into.push(await f());
      if (!side || !k0 || !m0) return;
      const [k1, m1] = await Promise.all([kernel.stats(), mock.stats()]);
      if (side === 'gw') { cpu.kernel += (k1.cpuUs - k0.cpuUs) / 1000; cpu.mockGw += (m1.cpuUs - m0.cpuUs) / 1000; }
      else cpu.mockDirect += (m1.cpuUs - m0.cpuUs) / 1000;
      cpu[`${side}N`] += n;
    };
    const rounds = Number(process.env.BENCH_AI_ROUNDS ?? (quick ? 4 : 10));
    const perRound = Number(process.env.BENCH_AI_CALLS ?? (quick ? 60 : 200));
    for (const stream of [false, true]) {
      await time(() => viaGateway(stream), perRound, []);
      await time(() => viaDirect(stream), perRound, []);
      const all = { gw: [] as Sample[], direct: [] as Sample[] };
      const added = { p50: [] as number[], p99: [] as number[], ttfb: [] as number[] };
      for (let round = 0; round < rounds; round++) {
        const g: Sample[] = [];
        const d: Sample[] = [];
        const [gwRun, directRun] = [() => time(() => viaGateway(stream), perRound, g, 'gw'),
          () => time(() => viaDirect(stream), perRound, d, 'direct')];
        if (round % 2) { await gwRun(); await directRun(); } else { await directRun(); await gwRun(); }
        const q = (s: Sample[], k: keyof Sample, p: number) => percentile(s.map((x) => x[k]), p);
        added.p50.push(q(g, 'total', 0.5) - q(d, 'total', 0.5));
        added.p99.push(q(g, 'total', 0.99) - q(d, 'total', 0.99));
        added.ttfb.push(q(g, 'ttfb', 0.5) - q(d, 'ttfb', 0.5));
        all.gw.push(...g);
        all.direct.push(...d);
      }
      const f = (v: number) => v.toFixed(2);
      const kind = stream ? 'streamed' : 'unstreamed';
      const at = (s: Sample[], p: number) => f(percentile(s.map((x) => x.total), p));
      lines.push(`  ai gateway ${kind}: direct p50 ${at(all.direct, 0.5)} ms p99 ${at(all.direct, 0.99)} ms; through `
        + `POST /v1/chat/completions p50 ${at(all.gw, 0.5)} ms p99 ${at(all.gw, 0.99)} ms (${rounds} rounds x `
        + `${perRound}, one request at a time; client, kernel and mock upstream in three processes)`);
      lines.push(`  ai gateway ${kind} kernel CPU per request: ${f(cpu.kernel / cpu.gwN)} ms (its own process); `
        + `mock upstream ${f(cpu.mockDirect / cpu.directN)} ms direct, ${f(cpu.mockGw / cpu.gwN)} ms through (info)`);
      Object.assign(cpu, { kernel: 0, mockGw: 0, mockDirect: 0, gwN: 0, directN: 0 });
      const rows: Array<[string, number[], number]> = [['added p50', added.p50, TARGETS.p50],
        ['added p99', added.p99, TARGETS.p99]];
      if (stream) rows.push(['added time to first byte (p50)', added.ttfb, TARGETS.ttfb]);
      for (const [label, values, target] of rows) {
        const [mid, low, high] = [0.5, 0.025, 0.975].map((qq) => percentile(values, qq));
        const verdict = high < target ? 'PASS' : mid < target ? 'PASS (interval crosses the target)' : 'FAIL';
        lines.push(`  ai gateway ${kind} ${label}: ${f(mid)} ms (95% ${f(low)}-${f(high)}); target < ${target} ms: `
          + `${verdict}${quick ? ' (quick mode)' : ''}`);
      }
    }
  } finally {
    await children.close();
  }
  // The split, in this process (no HTTP in front): booted after the children are gone.
  const bench = await gatewayBench();
  try {
    lines.push(await inProcessRow(bench.kernel, bench.userId, Number(process.env.BENCH_AI_CALLS ?? (quick ? 60 : 200))
      * 2));
  } finally {
    await bench.close();
  }
  return lines;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const line of await aiGatewayRows(process.argv.includes('--quick'))) console.log(line);
  process.exit(0);
}
