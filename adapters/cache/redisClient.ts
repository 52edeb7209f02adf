import { Redis, ReplyError } from 'ioredis';
import type { AdapterContext, AdapterLifecycle } from '../../kernel/ports/adapter.ts';
import type { Cache, CacheIncrementOptions, CacheSetOptions } from '../../kernel/ports/cache.ts';
import { errors } from '../../kernel/errors.ts';
import { checkIncrement, checkPinned, checkTtl, encode } from './memory.ts';
import { connectRedis } from '../shared/redis.ts';

export interface RedisCacheOptions {
  url: string;
  keyPrefix?: string;
  connectTimeoutMs?: number;
  commandTimeoutMs?: number;
}

// EXISTS before INCRBY tells whether this call created the key; only then does the ttl apply
// (or on every call when ARGV[3] is '1': a quiet-window counter).
const INCREMENT_LUA = `
local created = redis.call('EXISTS', KEYS[1]) == 0
local value = redis.call('INCRBY', KEYS[1], ARGV[1])
if (created or ARGV[3] == '1') and ARGV[2] ~= '' then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return value`;

// Lease primitives: act only while the key still holds the caller's value.
const COMPARE_AND_SET_LUA = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[3] ~= '' then redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) else redis.call('SET', KEYS[1], ARGV[2]) end
return 1`;
const COMPARE_AND_DELETE_LUA = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
return redis.call('DEL', KEYS[1])`;

const SCAN_COUNT = 500;

type IncrementingRedis = Redis & {
  kernelIncrement(key: string, by: number, ttlMs: number | '', refresh: '1' | '0'): Promise<number>;
  kernelCompareAndSet(key: string, expected: string, value: string, ttlMs: number | ''): Promise<number>;
  kernelCompareAndDelete(key: string, expected: string): Promise<number>;
};

/** `*`, `?`, `[`, `]` and `\` are glob syntax in SCAN MATCH. */
const escapeGlob = (s: string) => s.replace(/[*?[\]\\]/g, '\\$&');

export async function createRedisCache(
  options: RedisCacheOptions,
  ctx: AdapterContext,
): Promise<Cache & AdapterLifecycle> {
  const prefix = options.keyPrefix ?? '';
  const k = (key: string) => prefix + key;

  const redis = new Redis(options.url, {
    lazyConnect: true,
    connectTimeout: options.connectTimeoutMs ?? 2000,
    // A command waits at most this long, queued offline or not: a down Redis means a prompt
    // rejection (→ 503), never a hang.
    commandTimeout: options.commandTimeoutMs ?? 2000,
    maxRetriesPerRequest: 1,
  }) as IncrementingRedis;
  redis.defineCommand('kernelIncrement', { numberOfKeys: 1, lua: INCREMENT_LUA });
  redis.defineCommand('kernelCompareAndSet', { numberOfKeys: 1, lua: COMPARE_AND_SET_LUA });
  redis.defineCommand('kernelCompareAndDelete', { numberOfKeys: 1, lua: COMPARE_AND_DELETE_LUA });
  await connectRedis(redis, options.url, ctx.logger, 'redis cache');
  await warnIfEvicting(redis, ctx);

  /** Replies from Redis (WRONGTYPE, not an integer) are bugs; anything else means Redis is unavailable. */
  async function call<T>(op: () => Promise<T>): Promise<T> {
    try {
      return await op();
    } catch (err) {
      if (err instanceof ReplyError) throw err;
      throw errors.unavailable('cache', 5, err);
    }
  }

  const decode = <T,>(json: string | null): T | undefined => (json === null ? undefined : (JSON.parse(json) as T));

  return {
    get: <T,>(key: string) => call(async () => decode<T>(await redis.get(k(key)))),

    async set(key: string, value: unknown, opts: CacheSetOptions = {}) {
      checkTtl(opts.ttlMs);
      checkPinned(opts);
      const json = encode(value);
      const args: (string | number)[] = [];
      if (opts.ttlMs !== undefined) args.push('PX', Math.ceil(opts.ttlMs));
      if (opts.ifAbsent) args.push('NX');
      const reply = await call(() => redis.call('SET', k(key), json, ...args));
      return reply === 'OK';
    },

    delete: (key: string) => call(async () => (await redis.unlink(k(key))) > 0),

    has: (key: string) => call(async () => (await redis.exists(k(key))) > 0),

    async increment(key: string, by = 1, opts: CacheIncrementOptions = {}) {
      checkIncrement(by);
      checkTtl(opts.ttlMs);
      const ttl = opts.ttlMs === undefined ? '' : Math.ceil(opts.ttlMs);
      return call(() => redis.kernelIncrement(k(key), by, ttl, opts.refreshTtl ? '1' : '0'));
    },

    ttl: (key: string) =>
      call(async () => {
        const ms = await redis.pttl(k(key));
        if (ms === -2) return undefined;
        if (ms === -1) return null;
        return ms;
      }),

    deletePrefix: (p: string) =>
      call(async () => {
        const match = escapeGlob(k(p)) + '*';
        let cursor = '0';
        let count = 0;
        do {
          const [next, keys] = await redis.scan(cursor, 'MATCH', match, 'COUNT', SCAN_COUNT);
          if (keys.length > 0) count += await redis.unlink(...keys);
          cursor = next;
        } while (cursor !== '0');
        return count;
      }),

    async compareAndSet(key: string, expected: unknown, value: unknown, opts: { ttlMs?: number } = {}) {
      checkTtl(opts.ttlMs);
      const json = encode(value);
      const ttl = opts.ttlMs === undefined ? '' : Math.ceil(opts.ttlMs);
      return call(async () => (await redis.kernelCompareAndSet(k(key), encode(expected), json, ttl)) === 1);
    },

    compareAndDelete: (key: string, expected: unknown) =>
      call(async () => (await redis.kernelCompareAndDelete(k(key), encode(expected))) === 1),

    async health() {
      await call(() => redis.ping());
    },

    async close() {
      try {
        await redis.quit();
      } catch {
        redis.disconnect();
      }
    },
  };
}

/**
 * Pinned entries (revocations) hold only if Redis never evicts keys that have a ttl: with any
 * `allkeys-*` or `volatile-*` policy, memory pressure could revive a logged-out token. Managed
 * Redis may refuse CONFIG; then the operator is told to check it.
 */
async function warnIfEvicting(redis: Redis, ctx: AdapterContext): Promise<void> {
  try {
    const reply = (await redis.call('CONFIG', 'GET', 'maxmemory-policy')) as string[];
    const policy = reply?.[1];
    if (policy && policy !== 'noeviction') {
      ctx.logger.warn(
        { policy },
        'redis cache: maxmemory-policy is not noeviction; revocations could be evicted under memory pressure',
      );
    }
  } catch {
    ctx.logger.info(
      'redis cache: could not read maxmemory-policy; set it to noeviction so revocations are never evicted',
    );
  }
}
