/**
 * What the kernel side and the bare side of the benchmark share, so that both do the
 * same work: the request body, the item store, the request schema, the loggers, the rate
 * limit settings and the identity workload's fixed values.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import pino, { type Logger } from 'pino';
import { parse as parseYaml } from 'yaml';
import { ROOT } from '../paths.ts';

export const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
/** The bench-only contract; copied into a temp contracts dir at kernel start. */
export const BENCH_CONTRACT = resolve(BENCH_DIR, 'bench.yaml');

/** Both servers keep at most this many items, so the heap (and GC work) does not grow with the run. */
export const STORE_LIMIT = 10_000;

/** The POST body every request sends. Valid against BenchItemCreate. */
export const SAMPLE_BODY = {
  title: 'Benchmark item',
  body: 'A short body that is stored in memory by both servers.',
  tags: ['a', 'b'],
  priority: 3,
};

export interface BenchItemInput { title: string; body: string; tags: string[]; priority: number }
export interface BenchItem extends BenchItemInput { id: string; createdAt: string }

/** A bounded in-memory store (oldest item evicted first, O(1)). Same class on both sides. */
export class ItemStore {
  private readonly items = new Map<string, BenchItem>();
  /** Ids in insertion order, as a ring: `Map#keys().next()` would skip ever more deleted slots. */
  private readonly ring: string[] = new Array<string>(STORE_LIMIT);
  private next = 0;

  constructor(private readonly nextId: () => string, private readonly now: () => Date = () => new Date()) {}

  create(input: BenchItemInput): BenchItem {
    const item: BenchItem = {
      id: this.nextId(),
      title: input.title,
      body: input.body,
      tags: input.tags,
      priority: input.priority,
      createdAt: this.now().toISOString(),
    };
    const evicted = this.ring[this.next];
    if (evicted !== undefined) this.items.delete(evicted);
    this.ring[this.next] = item.id;
    this.next = (this.next + 1) % STORE_LIMIT;
    this.items.set(item.id, item);
    return item;
  }

  get size() { return this.items.size; }
}

/** The request body's JSON Schema, read from the same contract the kernel serves. */
export function benchItemCreateSchema(): Record<string, unknown> {
  const doc = parseYaml(readFileSync(BENCH_CONTRACT, 'utf8')) as {
    components: { schemas: Record<string, Record<string, unknown>> };
  };
  return doc.components.schemas.BenchItemCreate;
}

/** Info-level logging that really formats every line, written to /dev/null. The bare servers use it. */
export function devNullLogger(): Logger {
  return pino({ level: 'info' }, pino.destination('/dev/null'));
}

/**
 * The kernel's own logger (kernel/logger.ts createLogger: `name`, the level, the redact paths
 * and censor), written to /dev/null instead of stdout. createLogger takes no destination and
 * the paths are not exported, so they are read from kernel/logger.ts: the bench follows any
 * change to them. Throws when the file no longer has that shape.
 */
export function kernelLogger(
  name: string,
  level: string,
): { logger: Logger; redact: { paths: string[]; censor: string } } {
  const file = resolve(ROOT, 'kernel/logger.ts');
  const source = readFileSync(file, 'utf8');
  const list = /const SECRET_PATHS\s*=\s*\[([\s\S]*?)\];/.exec(source);
  const create = /export function createLogger\([^)]*\)[^{]*\{([\s\S]*?)\n\}/.exec(source);
  const censor = create && /censor:\s*'([^']*)'/.exec(create[1]);
  if (!list || !create || !censor || !/redact:\s*\{\s*paths:\s*SECRET_PATHS/.test(create[1])) {
    throw new Error(
      `cannot read the kernel's logger options from ${file} (SECRET_PATHS / createLogger changed shape): update scripts/bench/shared.ts kernelLogger()`,
    );
  }
  const paths = [...list[1].matchAll(/'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)"/g)].map((m) => m[1] ?? m[2]);
  if (!paths.length) throw new Error(`no redact paths found in SECRET_PATHS of ${file}`);
  const redact = { paths, censor: censor[1] };
  return { logger: pino({ name, level, redact }, pino.destination('/dev/null')), redact };
}

/**
 * Rate limiting in every kernel workload, and the same by hand in bare, unless
 * BENCH_RATE_LIMIT=off. The limit is so large that no run reaches it.
 */
export const RATE_LIMIT_ON = process.env.BENCH_RATE_LIMIT !== 'off';
export const RATE_LIMIT_TIER = 'free';
export const RATE_LIMIT_PER_WINDOW = 1_000_000_000;
export const RATE_LIMIT_WINDOW_MS = 60_000;

/** The identity workload: the account both sides serve on GET /v1/users/me. */
export const BENCH_USER = { name: 'Bench User', email: 'bench.user@example.com', password: 'Bench#Passw0rd' };
/** The identity plugin's default issuer and audience (plugins/identity/config.ts). */
export const TOKEN_ISSUER = 'api-kernel';
export const TOKEN_AUDIENCE = 'api-kernel';
export const ACCESS_TOKEN_TTL_SECONDS = 900;

/**
 * Which servers a process runs: `basic` (health + the bench POST) or `identity` (health + users/me,
 * and login on the kernel).
 */
export type Suite = 'basic' | 'identity';

/** What a server process prints once it listens: `READY {json}`. */
export interface ReadyMessage {
  kind: 'kernel' | 'bare';
  suite: Suite;
  pid: number;
  port: number;
  healthPath: string;
  /** basic suite */
  postPath?: string;
  /** identity suite */
  mePath?: string;
  /** identity suite, kernel only */
  loginPath?: string;
  registerPath?: string;
  /** identity suite, bare only: the access token it signed at start. */
  token?: string;
  /** How the server was set up (printed by the parent). */
  notes?: string[];
}
export const READY_PREFIX = 'READY ';
/** Sent on stdin: the server answers `STATS {json}` on the control fd (event-loop delay since the last ask). */
export const STATS_COMMAND = 'stats';
export const STATS_PREFIX = 'STATS ';
export interface ServerStats { loopDelayP50Ms: number; loopDelayP99Ms: number; loopDelayMaxMs: number; cpuUs: number }
