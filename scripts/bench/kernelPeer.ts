/**
 * The kernel side of the honest benchmark: the real boot (`Kernel.create`) of the embedded
 * default (system, identity, notes; oauth off) on SQLite (a temp file) or PostgreSQL (a fresh
 * database), with the kernel's own logger (createLogger, buffered) to /dev/null, request logs
 * on or off, and rate limiting on at a limit no run reaches. A bench account is registered
 * and signed in over HTTP; notes are created through POST /v1/notes.
 */
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { Kernel, createLogger } from '../../kernel/boot.ts';
import { loadRawConfig } from '../../kernel/config/load.ts';
import { validateConfig } from '../../kernel/config/validate.ts';
import { catalogs } from '../catalog.ts';
import { CONFIG_DIR, CONTRACTS_DIR, VERSION } from '../paths.ts';
import { BENCH_USER, RATE_LIMIT_ON, RATE_LIMIT_PER_WINDOW, RATE_LIMIT_TIER, RATE_LIMIT_WINDOW_MS } from './shared.ts';
import { BENCH_TOKEN_TTL_SECONDS } from './rawAuth.ts';
import type { BenchDriver } from './rawStore.ts';

export interface PeerStarted { port: number; token: string; noteId: string; notes: string[]; close(): Promise<void> }

async function freshPostgres(baseUrl: string): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `bench_kernel_${process.pid}_${Date.now().toString(36)}`;
  const admin = new pg.Client({ connectionString: baseUrl });
  await admin.connect();
  await admin.query(`create database ${name}`);
  await admin.end();
  const url = new URL(baseUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const c = new pg.Client({ connectionString: baseUrl });
      await c.connect();
      await c.query(`drop database if exists ${name} with (force)`);
      await c.end();
    },
  };
}

/** The wire dialect of issue 9's pair: snake_case bodies and the `{ success, data, message }` envelope. */
export const DIALECT = { casing: 'snake', envelope: 'success' } as const;

export async function startKernelPeer(
  driver: BenchDriver,
  logs: boolean,
  pgUrl: string | undefined,
  dialect = false,
): Promise<PeerStarted> {
  const file = join(tmpdir(), `bench-kernel-${process.pid}-${Date.now()}.db`);
  const pgDb = driver === 'postgresql' ? await freshPostgres(pgUrl!) : undefined;
  const tiers = Object.fromEntries(
    ['free', 'premium', 'enterprise', RATE_LIMIT_TIER].map((t) => [t, RATE_LIMIT_PER_WINDOW]),
  );
  const overrides = {
    server: { host: '127.0.0.1', port: 0, ...(dialect ? DIALECT : {}) },
    database:
      driver === 'sqlite'
        ? { driver, url: `file:${file}`, migrate: 'auto' }
        : { driver, url: pgDb!.url, migrate: 'auto' },
    plugins: { oauth: { enabled: false }, identity: { accessTokenTtlSeconds: BENCH_TOKEN_TTL_SECONDS } },
    log: { level: 'info', requests: logs },
    rateLimit: RATE_LIMIT_ON
      ? { enabled: true, windowMs: RATE_LIMIT_WINDOW_MS, defaultTier: RATE_LIMIT_TIER, tiers }
      : { enabled: false },
  };
  const { raw, problems } = loadRawConfig({ configDir: CONFIG_DIR, env: {}, overrides });
  const config = validateConfig(raw, catalogs, problems);
  const kernel = await Kernel.create({
    config,
    catalogs,
    contractsDir: CONTRACTS_DIR,
    version: VERSION,
    logger: createLogger(config, '/dev/null'),
  });
  const { port } = await kernel.listen(0, '127.0.0.1');
  const base = `http://127.0.0.1:${port}`;
  const post = async (path: string, body: unknown, token?: string) => {
    const res = await fetch(base + path, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify(body),
    });
    const json = (await res.json()) as Record<string, any>;
    if (res.status >= 300)
      throw new Error(`kernel ${path} answered ${res.status}: ${JSON.stringify(json).slice(0, 300)}`);
    return dialect ? json.data : json;
  };
  await post('/v1/auth/register', { name: BENCH_USER.name, email: BENCH_USER.email, password: BENCH_USER.password });
  const login = await post('/v1/auth/login', { email: BENCH_USER.email, password: BENCH_USER.password });
  const accessToken: string = dialect ? login.access_token : login.accessToken;
  let noteId = '';
  for (let i = 0; i < 50; i++)
    noteId = (
      await post('/v1/notes', { title: `Note ${i}`, body: `Body of note ${i}`, pinned: i % 5 === 0 }, accessToken)
    ).id;
  return {
    port,
    token: accessToken,
    noteId,
    notes: [
      `kernel ${VERSION}${dialect ? ` (server.casing ${DIALECT.casing}, server.envelope ${DIALECT.envelope})` : ''}: ` +
        `${driver}, request logs ${logs ? 'on' : 'off'} (createLogger, buffered, to /dev/null), rate limit ${RATE_LIMIT_ON ? 'on' : 'off'}`,
    ],
    async close() {
      try {
        await kernel.stop();
      } finally {
        if (driver === 'sqlite') for (const f of [file, `${file}-wal`, `${file}-shm`]) rmSync(f, { force: true });
        await pgDb?.drop();
      }
    },
  };
}
