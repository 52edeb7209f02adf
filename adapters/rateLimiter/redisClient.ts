import { Redis } from 'ioredis';
import type { AdapterContext, AdapterLifecycle } from '../../kernel/ports/adapter.ts';
import type { RateLimitDecision, RateLimitPolicy, RateLimiter } from '../../kernel/ports/rateLimiter.ts';
import { errors } from '../../kernel/errors.ts';
import { checkConsume, emissionIntervalUs, usToMs } from './gcra.ts';
import { connectRedis } from '../shared/redis.ts';
import { LocalRateLimits, nowUs } from './memory.ts';
import { windowUs } from './slidingLog.ts';

export interface RedisRateLimiterOptions {
  url: string;
  keyPrefix?: string;
  connectTimeoutMs?: number;
  commandTimeoutMs?: number;
  insurance?: { enabled?: boolean; divisor?: number };
}

/**
 * `gcra()` from gcra.ts, in Lua, with Redis TIME as `now` so that every instance shares one
 * clock (Redis >= 5 replicates script effects, so TIME is allowed). The TAT is written with
 * %.0f so that it is stored as a plain integer whatever a Redis version's number formatting.
 * Returns {allowed, remaining, resetUs, retryAfterUs}.
 */
const CONSUME_LUA = `
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local t = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local w = t * limit
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local ahead = tat + cost * t - now
if ahead > w then return {0, 0, tat - now, ahead - w} end
if cost > 0 then
  redis.call('SET', KEYS[1], string.format('%.0f', now + ahead), 'PX', string.format('%.0f', math.ceil(ahead / 1000)))
end
return {1, math.floor((w - ahead) / t), ahead, 0}`;

/**
 * The sliding log of slidingLog.ts on a sorted set, on Redis TIME. Each unit of cost is one
 * member whose score and name are its time in µs; members are unique, so a time already taken
 * (same µs, or a TIME that stepped back) moves to the next free µs, which shifts a slot's expiry
 * by at most `limit` µs. Returns {allowed, remaining, resetUs, retryAfterUs}.
 */
const SLIDING_LUA = `
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local w = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%.0f', now - w))
local used = redis.call('ZCARD', KEYS[1])
if used + cost > limit then
  local nth = redis.call('ZRANGE', KEYS[1], used + cost - limit - 1, used + cost - limit - 1, 'WITHSCORES')
  local newest = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
  return {0, 0, tonumber(newest[2]) + w - now, tonumber(nth[2]) + w - now}
end
local newest = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
local last = newest[2] and tonumber(newest[2]) or nil
if cost > 0 then
  local at = now
  if last and last >= at then at = last + 1 end
  for i = 0, cost - 1 do
    local s = string.format('%.0f', at + i)
    redis.call('ZADD', KEYS[1], s, s)
  end
  last = at + cost - 1
  redis.call('PEXPIRE', KEYS[1], string.format('%.0f', math.ceil((last + w - now) / 1000)))
end
local reset = 0
if last and used + cost > 0 then reset = last + w - now end
return {1, limit - used - cost, reset, 0}`;

type ScriptedRedis = Redis & {
  rateLimitConsume(
    key: string,
    intervalUs: number,
    limit: number,
    cost: number,
  ): Promise<[number, number, number, number]>;
  rateLimitSliding(
    key: string,
    windowUs: number,
    limit: number,
    cost: number,
  ): Promise<[number, number, number, number]>;
};

/**
 * After a failed call, skip Redis for this long: a black-holed Redis costs one timeout per second,
 * not one per request.
 */
const BYPASS_MS = 1000;
const WARN_EVERY_MS = 10_000;

export async function createRedisRateLimiter(
  options: RedisRateLimiterOptions,
  ctx: AdapterContext,
): Promise<RateLimiter & AdapterLifecycle> {
  const prefix = options.keyPrefix ?? 'rl:';
  const insured = options.insurance?.enabled ?? true;
  const divisor = options.insurance?.divisor ?? 1;
  const insurance = new LocalRateLimits(100_000);

  const redis = new Redis(options.url, {
    lazyConnect: true,
    connectTimeout: options.connectTimeoutMs ?? 2000,
    commandTimeout: options.commandTimeoutMs ?? 500,
    // Fail fast while disconnected (→ insurance) instead of queueing, and never replay a
    // consume that may already have counted.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
  }) as ScriptedRedis;
  // defineCommand sends EVALSHA and falls back to EVAL on NOSCRIPT (e.g. after a Redis restart).
  redis.defineCommand('rateLimitConsume', { numberOfKeys: 1, lua: CONSUME_LUA });
  redis.defineCommand('rateLimitSliding', { numberOfKeys: 1, lua: SLIDING_LUA });
  await connectRedis(redis, options.url, ctx.logger, 'redis rate limiter');

  let bypassUntil = 0;
  let lastWarnAt = -Infinity;
  let degraded = false;
  const usable = () => redis.status === 'ready' && ctx.clock.now() >= bypassUntil;
  // Made only when logged or thrown: no Error (and stack trace) per request while Redis stays down.
  const skipped = () =>
    new Error(redis.status === 'ready' ? 'redis bypassed after a failed call' : `redis connection is ${redis.status}`);
  const cause = (err: unknown) => (err === skipped ? skipped() : err);

  /** Logs at most once per WARN_EVERY_MS, however many requests fall back. */
  function degrade(err: unknown, bypass: boolean): void {
    const now = ctx.clock.now();
    if (bypass) bypassUntil = now + BYPASS_MS;
    degraded = true;
    if (now - lastWarnAt >= WARN_EVERY_MS) {
      lastWarnAt = now;
      ctx.logger.warn(
        { err: cause(err) },
        insured
          ? 'redis rate limiter unavailable: using the in-memory insurance limiter'
          : 'redis rate limiter unavailable',
      );
    }
  }

  function fallback(key: string, policy: RateLimitPolicy, cost: number, err: unknown): RateLimitDecision {
    if (!insured) throw errors.unavailable('rateLimiter', 5, cause(err));
    const limit = Math.ceil(policy.limit / divisor);
    return insurance.consume(key, { ...policy, limit }, Math.min(cost, limit), nowUs(ctx));
  }

  return {
    async consume(key, policy, cost = 1) {
      checkConsume(policy, cost);
      if (!usable()) {
        degrade(skipped, false);
        return fallback(key, policy, cost, skipped);
      }
      try {
        const [allowed, remaining, resetUs, retryUs] =
          policy.algorithm === 'sliding-window'
            ? await redis.rateLimitSliding(`${prefix}~sw:${key}`, windowUs(policy), policy.limit, cost)
            : await redis.rateLimitConsume(prefix + key, emissionIntervalUs(policy), policy.limit, cost);
        if (degraded) {
          degraded = false;
          ctx.logger.info('redis rate limiter available again');
        }
        return {
          allowed: allowed === 1,
          limit: policy.limit,
          remaining,
          resetMs: usToMs(resetUs),
          retryAfterMs: usToMs(retryUs),
        };
      } catch (err) {
        degrade(err, true);
        return fallback(key, policy, cost, err);
      }
    },

    async reset(key) {
      insurance.reset(key);
      try {
        await redis.unlink(prefix + key, `${prefix}~sw:${key}`);
      } catch (err) {
        // The key expires by itself; a reset that cannot reach Redis is not worth a 5xx.
        degrade(err, true);
        if (!insured) throw errors.unavailable('rateLimiter', 5, err);
      }
    },

    async health() {
      try {
        await redis.ping();
      } catch (err) {
        throw errors.unavailable('rateLimiter', 5, err);
      }
    },

    async close() {
      try {
        if (redis.status === 'ready') await redis.quit();
      } catch {
        // fall through
      } finally {
        redis.disconnect();
      }
    },
  };
}
