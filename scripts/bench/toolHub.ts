/**
 * Issue 10: the tool hub's overhead over calling a tool endpoint directly. One cheap tool on
 * loopback; the same JSON input sent to it directly and through `POST /v1/tools/{id}/invoke` of
 * config/tool-hub.yaml (bearer auth, rate limit, plan entitlement and limit checks, the egress
 * client, the invocation log and usage record written before the answer), one request at a time,
 * in interleaved rounds. Reports p50 and p99 of both and the p50 difference with a 95% interval
 * over rounds. Alone: `node --import tsx scripts/bench/toolHub.ts [--quick]`.
 */
import { createServer } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { Pool } from 'undici';
import { createKernel, loadConfig } from '../kernel.ts';
import { CONFIG_DIR } from '../paths.ts';

const TARGET_MS = 2;
const ADMIN = { email: 'bench-admin@example.com', password: 'Bench#Passw0rd' };

const percentile = (values: number[], q: number) => {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.round(q * (s.length - 1))))];
};

export async function toolHubRows(quick = false): Promise<string[]> {
  const tool = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' })
      .end(JSON.stringify({ result: body.length, usage: { total_tokens: 12 } })));
  });
  await new Promise<void>((r) => tool.listen(0, '127.0.0.1', r));
  const toolUrl = `http://127.0.0.1:${(tool.address() as AddressInfo).port}/summarise`;
  const dir = mkdtempSync(join(tmpdir(), 'bench-hub-'));
  const config = loadConfig({
    file: resolve(CONFIG_DIR, 'tool-hub.yaml'),
    env: {},
    overrides: {
      server: { port: 0, host: '127.0.0.1' }, database: { url: `file:${join(dir, 'hub.db')}` },
      log: { level: 'info' }, rateLimit: { tiers: { free: 1e9, pro: 1e9, enterprise: 1e9 } },
      plugins: { identity: { bootstrapAdmin: ADMIN } },
    },
  });
  // Request logs on, written to /dev/null: the hub pays for its logging as it would in production.
  const kernel = await createKernel(config, { logger: pino({ level: 'info' }, pino.destination('/dev/null')) });
  const { port } = await kernel.listen();
  const hub = new Pool(`http://127.0.0.1:${port}`, { connections: 1 });
  const direct = new Pool(new URL(toolUrl).origin, { connections: 1 });
  const call = async (pool: Pool, path: string, body: unknown, token?: string) => {
    const res = await pool.request({
      method: 'POST', path, body: JSON.stringify(body),
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    });
    const text = await res.body.text();
    if (res.statusCode >= 300) throw new Error(`${path}: ${res.statusCode} ${text.slice(0, 200)}`);
    return JSON.parse(text);
  };
  try {
    const admin = await call(hub, '/v1/auth/login', ADMIN);
    const created = await call(hub, '/v1/admin/tools', {
      name: 'summarise', description: 'bench', endpoint_url: toolUrl, tokens_path: 'usage.total_tokens',
    }, admin.access_token);
    const email = `bench-${process.pid}@example.com`;
    await call(hub, '/v1/auth/register', { name: 'Bench', email, password: ADMIN.password });
    const user = await call(hub, '/v1/auth/login', { email, password: ADMIN.password });
    await call(hub, '/v1/subscription', { plan_id: 'enterprise' }, user.access_token);
    const input = { input: { text: 'Summarise this short paragraph, please.' } };
    const viaHub = () => call(hub, `/v1/tools/${created.id}/invoke`, input, user.access_token);
    const viaDirect = () => call(direct, '/summarise', input);
    const time = async (f: () => Promise<unknown>, n: number, into: number[]) => {
      for (let i = 0; i < n; i++) {
        const t = process.hrtime.bigint();
        await f();
        into.push(Number(process.hrtime.bigint() - t) / 1e6);
      }
    };
    const rounds = quick ? 4 : 12;
    const perRound = quick ? 100 : 300;
    await time(viaHub, perRound, []);
    await time(viaDirect, perRound, []);
    const all = { hub: [] as number[], direct: [] as number[] };
    const overheads: number[] = [];
    for (let round = 0; round < rounds; round++) {
      const h: number[] = [];
      const d: number[] = [];
      if (round % 2) { await time(viaHub, perRound, h); await time(viaDirect, perRound, d); }
      else { await time(viaDirect, perRound, d); await time(viaHub, perRound, h); }
      overheads.push(percentile(h, 0.5) - percentile(d, 0.5));
      all.hub.push(...h);
      all.direct.push(...d);
    }
    const [mid, low, high] = [0.5, 0.025, 0.975].map((q) => percentile(overheads, q));
    const f = (v: number) => v.toFixed(2);
    return [
      `  tool hub: direct p50 ${f(percentile(all.direct, 0.5))} ms p99 ${f(percentile(all.direct, 0.99))} ms; ` +
        `through POST /v1/tools/{id}/invoke p50 ${f(percentile(all.hub, 0.5))} ms p99 ` +
        `${f(percentile(all.hub, 0.99))} ms (${rounds} rounds x ${perRound}, one request at a time)`,
      `  tool hub overhead p50: ${f(mid)} ms (95% ${f(low)}-${f(high)}); target < ${TARGET_MS} ms: ` +
        `${high < TARGET_MS ? 'PASS' : mid < TARGET_MS ? 'PASS (interval crosses the target)' : 'FAIL'}` +
        `${quick ? ' (quick mode)' : ''}`,
    ];
  } finally {
    await hub.close();
    await direct.close();
    await kernel.stop();
    await new Promise((r) => tool.close(r));
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const line of await toolHubRows(process.argv.includes('--quick'))) console.log(line);
  process.exit(0);
}
