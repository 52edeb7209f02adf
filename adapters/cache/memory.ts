import { defineAdapter, type AdapterContext } from '../../kernel/ports/adapter.ts';
import type { Cache, CacheIncrementOptions, CacheSetOptions } from '../../kernel/ports/cache.ts';

export interface MemoryCacheOptions {
  maxEntries?: number;
}

interface Entry {
  /** JSON text: every read parses a fresh copy, so callers never share stored objects. */
  json: string;
  expiresAt: number | null;
  /** Pinned entries (revocations) are never evicted by `maxEntries`; they always carry a ttl. */
  pinned?: boolean;
}

export function encode(value: unknown): string {
  const json = JSON.stringify(value);
  if (json === undefined) throw new TypeError('Cache values must be JSON-serialisable');
  return json;
}

export function checkTtl(ttlMs: number | undefined): void {
  if (ttlMs !== undefined && !(Number.isFinite(ttlMs) && ttlMs > 0)) {
    throw new RangeError(`ttlMs must be a positive number, got ${ttlMs}`);
  }
}

/** A pinned entry must expire: pinning without a ttl would let the cache grow without bound. */
export function checkPinned(opts: CacheSetOptions): void {
  if (opts.pinned && opts.ttlMs === undefined) throw new RangeError('a pinned cache entry needs ttlMs');
}

export function checkIncrement(by: number): void {
  if (!Number.isSafeInteger(by)) throw new RangeError(`increment must be an integer, got ${by}`);
}

function createMemoryCache(options: MemoryCacheOptions, ctx: AdapterContext): Cache {
  const maxEntries = options.maxEntries ?? 100_000;
  const { clock } = ctx;
  // Map keeps insertion order; writes re-insert, so the first key is the least recently written.
  const entries = new Map<string, Entry>();
  // Pinned entries are kept apart, so a flood of other keys can never push them out; they are
  // bounded by their ttl instead (expired ones are swept as the map grows).
  const pinned = new Map<string, Entry>();
  let sweepAt = 1024;

  function live(key: string): Entry | undefined {
    const entry = entries.get(key) ?? pinned.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt !== null && entry.expiresAt <= clock.now()) {
      entries.delete(key);
      pinned.delete(key);
      return undefined;
    }
    return entry;
  }

  function sweepPinned(): void {
    const now = clock.now();
    for (const [key, entry] of pinned) if (entry.expiresAt !== null && entry.expiresAt <= now) pinned.delete(key);
    sweepAt = Math.max(1024, pinned.size * 2);
  }

  function write(key: string, json: string, expiresAt: number | null, pin = false): void {
    entries.delete(key);
    pinned.delete(key);
    if (pin) {
      pinned.set(key, { json, expiresAt, pinned: true });
      if (pinned.size >= sweepAt) sweepPinned();
      return;
    }
    entries.set(key, { json, expiresAt });
    for (const oldest of entries.keys()) {
      if (entries.size <= maxEntries) break;
      entries.delete(oldest);
    }
  }

  return {
    async get<T>(key: string) {
      const entry = live(key);
      return entry ? (JSON.parse(entry.json) as T) : undefined;
    },

    async set(key: string, value: unknown, opts: CacheSetOptions = {}) {
      checkTtl(opts.ttlMs);
      checkPinned(opts);
      const json = encode(value);
      if (opts.ifAbsent && live(key)) return false;
      write(key, json, opts.ttlMs === undefined ? null : clock.now() + opts.ttlMs, opts.pinned);
      return true;
    },

    async delete(key: string) {
      const existed = live(key) !== undefined;
      entries.delete(key);
      pinned.delete(key);
      return existed;
    },

    async has(key: string) {
      return live(key) !== undefined;
    },

    async increment(key: string, by = 1, opts: CacheIncrementOptions = {}) {
      checkIncrement(by);
      checkTtl(opts.ttlMs);
      const entry = live(key);
      let current = 0;
      let expiresAt: number | null = opts.ttlMs === undefined ? null : clock.now() + opts.ttlMs;
      if (entry) {
        current = JSON.parse(entry.json);
        if (!Number.isSafeInteger(current)) throw new TypeError(`Cache key ${key} does not hold an integer`);
        if (!opts.refreshTtl || opts.ttlMs === undefined) expiresAt = entry.expiresAt;
      }
      const next = current + by;
      write(key, String(next), expiresAt, entry?.pinned);
      return next;
    },

    async ttl(key: string) {
      const entry = live(key);
      if (!entry) return undefined;
      return entry.expiresAt === null ? null : entry.expiresAt - clock.now();
    },

    async deletePrefix(prefix: string) {
      let count = 0;
      for (const key of [...entries.keys(), ...pinned.keys()]) {
        if (key.startsWith(prefix) && live(key)) {
          entries.delete(key);
          pinned.delete(key);
          count++;
        }
      }
      return count;
    },

    async compareAndSet(key: string, expected: unknown, value: unknown, opts: { ttlMs?: number } = {}) {
      checkTtl(opts.ttlMs);
      const json = encode(value);
      if (live(key)?.json !== encode(expected)) return false;
      write(key, json, opts.ttlMs === undefined ? null : clock.now() + opts.ttlMs);
      return true;
    },

    async compareAndDelete(key: string, expected: unknown) {
      if (live(key)?.json !== encode(expected)) return false;
      entries.delete(key);
      return true;
    },
  };
}

export default defineAdapter<Cache, MemoryCacheOptions>({
  port: 'cache',
  name: 'memory',
  local: true,
  description: 'In-process cache with lazy expiry; not shared between processes.',
  optionsSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      maxEntries: { type: 'integer', minimum: 1, default: 100_000 },
    },
  },
  create: (options, ctx) => createMemoryCache(options ?? {}, ctx),
});
