import { createHash } from 'node:crypto';
import type { Clock } from '../../kernel/index.ts';

const CHECKSUM_LENGTH = 8;
const checksum = (body: string) => createHash('sha256').update(body).digest('hex').slice(0, CHECKSUM_LENGTH);

/** A key's random part followed by a checksum of it, so garbage is refused before any lookup. */
export function withChecksum(body: string): string {
  return body + checksum(body);
}

export function checksumOk(tail: string): boolean {
  if (tail.length <= CHECKSUM_LENGTH) return false;
  const body = tail.slice(0, -CHECKSUM_LENGTH);
  return checksum(body) === tail.slice(-CHECKSUM_LENGTH);
}

/**
 * A bounded, short-lived, per-process set of key hashes that matched no live key (negative
 * cache). It cannot hide a new key: a key's hash is only added once that exact key was
 * presented and not found, and keys are random, so a key created later was never presented
 * before it existed (creation also forgets its hash, for the instance that made it). Revoked
 * keys are added on revoke; a key never comes back, so staleness is harmless.
 */
export class KeyMisses {
  private entries = new Map<string, number>();
  private inflight = new Map<string, Promise<unknown>>();

  constructor(
    private clock: Clock,
    private options: { maxEntries: number; ttlMs: number } = { maxEntries: 10_000, ttlMs: 60_000 },
  ) {}

  has(hash: string): boolean {
    const until = this.entries.get(hash);
    if (until === undefined) return false;
    if (until > this.clock.now()) return true;
    this.entries.delete(hash);
    return false;
  }

  add(hash: string): void {
    this.entries.delete(hash);
    // Oldest first out: a Map iterates in insertion order.
    while (this.entries.size >= this.options.maxEntries) this.entries.delete(this.entries.keys().next().value!);
    this.entries.set(hash, this.clock.now() + this.options.ttlMs);
  }

  /** Concurrent lookups of one hash share one database read (a flood of one key costs one query). */
  once<T>(hash: string, lookup: () => Promise<T>): Promise<T> {
    const running = this.inflight.get(hash) as Promise<T> | undefined;
    if (running) return running;
    const started = lookup().finally(() => this.inflight.delete(hash));
    this.inflight.set(hash, started);
    return started;
  }

  forget(hash: string): void {
    this.entries.delete(hash);
  }

  get size(): number {
    return this.entries.size;
  }
}
