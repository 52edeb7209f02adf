/**
 * What the kernel side and the bare side of the benchmark share, so that both do the
 * same work: the request body, the item store, the request schema and the logger.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import pino, { type Logger } from 'pino';
import { parse as parseYaml } from 'yaml';

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
  const doc = parseYaml(readFileSync(BENCH_CONTRACT, 'utf8')) as { components: { schemas: Record<string, Record<string, unknown>> } };
  return doc.components.schemas.BenchItemCreate;
}

/** Info-level logging that really formats every line, written to /dev/null. Both servers use it. */
export function devNullLogger(): Logger {
  return pino({ level: 'info' }, pino.destination('/dev/null'));
}

/** What a server process prints on stdout once it listens: `READY {json}`. */
export interface ReadyMessage {
  kind: 'kernel' | 'bare';
  pid: number;
  port: number;
  healthPath: string;
  postPath: string;
}
export const READY_PREFIX = 'READY ';
