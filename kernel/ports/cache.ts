/**
 * Cache port: a shared key/value store with expiry. Values are JSON-serialisable.
 * Adapters: adapters/cache/memory.ts, adapters/cache/redis.ts.
 * Conformance: test/ports/cache.suite.ts.
 */
export interface CacheSetOptions {
  /** Time to live in milliseconds. Omitted: no expiry. */
  ttlMs?: number;
  /** Only set when the key does not exist (atomic). */
  ifAbsent?: boolean;
  /**
   * Never evicted to make room before its ttl ends (revocations, security state). Needs `ttlMs`,
   * so pinned entries are bounded by time, not by attacker-chosen keys. On Redis, only a
   * `maxmemory-policy` of `noeviction` keeps this promise (the adapter warns otherwise).
   */
  pinned?: boolean;
}

export interface CacheIncrementOptions {
  /** Time to live in ms; applies when the key is created (or on every call with `refreshTtl`). */
  ttlMs?: number;
  /** Restart the ttl on this call even when the key exists (a quiet-window counter). */
  refreshTtl?: boolean;
}

export interface Cache {
  get<T = unknown>(key: string): Promise<T | undefined>;
  /** Returns false only when `ifAbsent` was given and the key already existed. */
  set(key: string, value: unknown, options?: CacheSetOptions): Promise<boolean>;
  /** Returns true when a key was removed. */
  delete(key: string): Promise<boolean>;
  has(key: string): Promise<boolean>;
  /**
   * Atomically adds `by` (default 1, may be 0 or negative) to an integer counter; creates it at 0 first.
   * A ttl applies only when the key is created, unless `refreshTtl` is set.
   */
  increment(key: string, by?: number, options?: CacheIncrementOptions): Promise<number>;
  /** Remaining time to live in ms; undefined when the key is missing, null when it never expires. */
  ttl(key: string): Promise<number | null | undefined>;
  /** Deletes every key that starts with `prefix`; returns how many went. */
  deletePrefix(prefix: string): Promise<number>;

  // Leases (idempotency keys, single-flight work): take one with `set(key, token, { ifAbsent, ttlMs })`,
  // then renew, replace or release it only while it is still yours. Values compare as their JSON text.
  /** Atomically sets `key` to `value` only while it holds `expected`; true when it did. `ttlMs` as in `set`. */
  compareAndSet(key: string, expected: unknown, value: unknown, options?: { ttlMs?: number }): Promise<boolean>;
  /** Atomically deletes `key` only while it holds `expected`; true when it did. */
  compareAndDelete(key: string, expected: unknown): Promise<boolean>;
}

/** A view of a cache where every key is put under `prefix:` (one namespace per plugin). */
export function namespacedCache(cache: Cache, prefix: string): Cache {
  const k = (key: string) => `${prefix}:${key}`;
  return {
    get: (key) => cache.get(k(key)),
    set: (key, value, options) => cache.set(k(key), value, options),
    delete: (key) => cache.delete(k(key)),
    has: (key) => cache.has(k(key)),
    increment: (key, by, options) => cache.increment(k(key), by, options),
    ttl: (key) => cache.ttl(k(key)),
    deletePrefix: (p) => cache.deletePrefix(k(p)),
    compareAndSet: (key, expected, value, options) => cache.compareAndSet(k(key), expected, value, options),
    compareAndDelete: (key, expected) => cache.compareAndDelete(k(key), expected),
  };
}
