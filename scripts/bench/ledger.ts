/**
 * "Ledger holds+captures per second": billing's exported ledger (a hold, then its capture: two transactions,
 * each locking the user's account row) against the raw driver doing the same two transactions by hand
 * (ledgerRaw.ts), in one process, no HTTP. WORKERS concurrent loops, each on its own user (no lock contention
 * between them), in short interleaved rounds; ops/s per target and the kernel/raw ratio per round.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { v7 as uuidv7 } from 'uuid';
import { Kernel } from '../../kernel/boot.ts';
import { loadRawConfig } from '../../kernel/config/load.ts';
import { validateConfig } from '../../kernel/config/validate.ts';
import { catalogs } from '../catalog.ts';
import { CONFIG_DIR, CONTRACTS_DIR, VERSION } from '../paths.ts';
import type { Ledger } from '../../plugins/billing/api.ts';
import { devNullLogger } from './shared.ts';
import {
  LEDGER_CHARGE_MICROS, LEDGER_HOLD_MICROS, openRawPgLedger, openRawSqliteLedger, type LedgerTarget,
} from './ledgerRaw.ts';
import type { BenchDriver } from './rawStore.ts';

export interface LedgerBenchResult {
  driver: BenchDriver;
  opsPerSec: { kernel: number; raw: number };
  /** kernel/raw ops per round. */
  rounds: number[];
}

const BALANCE = 1e15; // never runs out

async function freshDb(baseUrl: string, tag: string) {
  const name = `bench_ledger_${tag}_${process.pid}_${Date.now().toString(36)}`;
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

async function kernelLedger(driver: BenchDriver, pgUrl: string | undefined, users: string[]): Promise<LedgerTarget> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-ledger-kernel-'));
  const db = driver === 'postgresql' ? await freshDb(pgUrl!, 'kernel') : undefined;
  const overrides = {
    server: { host: '127.0.0.1', port: 0 },
    database: db
      ? { driver, url: db.url, migrate: 'auto' }
      : { driver, url: `file:${join(dir, 'k.db')}`, migrate: 'auto' },
    plugins: { oauth: { enabled: false }, notes: { enabled: false }, billing: {} },
    log: { level: 'error' },
  };
  const { raw, problems } = loadRawConfig({ configDir: CONFIG_DIR, env: {}, overrides });
  const config = validateConfig(raw, catalogs, problems);
  const kernel = await Kernel.create({
    config, catalogs, contractsDir: CONTRACTS_DIR, version: VERSION, logger: devNullLogger(),
  });
  const ledger = (kernel.runtimes.get('billing')!.container.cradle as unknown as { ledger: Ledger }).ledger;
  for (const u of users) await ledger.grant(u, BALANCE, { idempotencyKey: 'bench' });
  return {
    async holdAndCapture(user, i) {
      const hold = await ledger.hold(user, LEDGER_HOLD_MICROS, { idempotencyKey: `h${i}` });
      await ledger.capture(hold.id, LEDGER_CHARGE_MICROS);
    },
    async close() {
      await kernel.stop();
      await db?.drop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Runs `target` with `workers` loops for `seconds`; returns the operations completed. */
async function segment(target: LedgerTarget, users: string[], seconds: number, next: { i: number }): Promise<number> {
  const until = performance.now() + seconds * 1000;
  let done = 0;
  await Promise.all(users.map(async (user) => {
    while (performance.now() < until) {
      await target.holdAndCapture(user, next.i++);
      done++;
    }
  }));
  return done;
}

export async function runLedgerBench(o: { drivers: BenchDriver[]; pgUrl?: string; seconds: number; segment: number;
  workers: number }): Promise<LedgerBenchResult[]> {
  const results: LedgerBenchResult[] = [];
  for (const driver of o.drivers) {
    const users = Array.from({ length: o.workers }, () => uuidv7());
    const rawDb = driver === 'postgresql' ? await freshDb(o.pgUrl!, 'raw') : undefined;
    const targets = {
      kernel: await kernelLedger(driver, o.pgUrl, users),
      raw: rawDb ? await openRawPgLedger(rawDb.url, users, BALANCE) : openRawSqliteLedger(users, BALANCE),
    };
    try {
      const next = { i: 0 };
      for (const t of Object.values(targets)) await segment(t, users, Math.min(1, o.segment * 2), next); // warm-up
      const totals = { kernel: { ops: 0, s: 0 }, raw: { ops: 0, s: 0 } };
      const rounds: number[] = [];
      const n = Math.max(1, Math.round(o.seconds / o.segment));
      for (let r = 0; r < n; r++) {
        const order = r % 2 ? (['raw', 'kernel'] as const) : (['kernel', 'raw'] as const);
        const got: Record<string, number> = {};
        for (const name of order) {
          got[name] = await segment(targets[name], users, o.segment, next);
          totals[name].ops += got[name];
          totals[name].s += o.segment;
        }
        rounds.push(got.kernel / Math.max(1, got.raw));
      }
      results.push({
        driver,
        opsPerSec: { kernel: totals.kernel.ops / totals.kernel.s, raw: totals.raw.ops / totals.raw.s },
        rounds,
      });
    } finally {
      await targets.kernel.close();
      await targets.raw.close();
      await rawDb?.drop();
    }
  }
  return results;
}
