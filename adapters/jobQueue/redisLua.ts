/**
 * The redis JobQueue adapter's own scripts, beside BullMQ's. Our fields live in BullMQ's job hash
 * (`k*` names BullMQ ignores); every worker write is fenced by BullMQ's lock (`<job>:lock` holds the
 * claim's lock token), so a worker whose lock ran out or went to another claim writes nothing.
 * Every script that writes our fields also sets BullMQ's `progress` to 1 (we never use BullMQ's progress):
 * BullMQ hands `progress` back with a claimed job, so a job it is 0 on has none of our fields, and its
 * claim needs no second read.
 */

/** KEYS: job, lock, steps. ARGV: lock token, startedAt, n, (field, value)*, n, field*, n, (step, json)*. */
export const FENCE = `
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
local st = redis.call('HGET', KEYS[1], 'kst')
if st and st ~= 'pending' and st ~= 'waiting_for_input' then return 0 end
if st == 'waiting_for_input' then redis.call('HSET', KEYS[1], 'kst', 'pending') end
redis.call('HSETNX', KEYS[1], 'kstart', ARGV[2])
redis.call('HSET', KEYS[1], 'progress', '1')
local i = 3
local n = tonumber(ARGV[i]); i = i + 1
for j = 1, n do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]); i = i + 2 end
n = tonumber(ARGV[i]); i = i + 1
for j = 1, n do redis.call('HDEL', KEYS[1], ARGV[i]); i = i + 1 end
n = tonumber(ARGV[i]); i = i + 1
for j = 1, n do redis.call('HSET', KEYS[3], ARGV[i], ARGV[i + 1]); i = i + 2 end
return 1`;

/** KEYS: job, lock. ARGV: now. -1 unknown, 0 finished (unchanged), 1 cancelled, 2 running: flagged. */
export const CANCEL = `
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local st = redis.call('HGET', KEYS[1], 'kst') or 'pending'
if st == 'completed' or st == 'failed' or st == 'cancelled' then return 0 end
if redis.call('HEXISTS', KEYS[1], 'finishedOn') == 1 and redis.call('HEXISTS', KEYS[1], 'failedReason') == 0 then
  return 0
end
redis.call('HSET', KEYS[1], 'progress', '1')
if st == 'waiting_for_input' or redis.call('EXISTS', KEYS[2]) == 0 then
  redis.call('HSET', KEYS[1], 'kst', 'cancelled', 'kdone', ARGV[1], 'kcx', ARGV[1])
  return 1
end
redis.call('HSET', KEYS[1], 'kcan', '1')
return 2`;

/** KEYS: job, steps, lock. ARGV: decision id, choice (JSON), now. 1 when answered. */
export const ANSWER = `
if redis.call('HGET', KEYS[1], 'kst') ~= 'waiting_for_input' then return 0 end
if redis.call('HGET', KEYS[1], 'kdid') ~= ARGV[1] then return 0 end
if redis.call('EXISTS', KEYS[3]) == 1 then return 0 end
redis.call('HSET', KEYS[2], 'ask:' .. ARGV[1], ARGV[2])
redis.call('HSET', KEYS[1], 'kst', 'pending', 'krun', ARGV[3], 'kns', '1', 'progress', '1')
return 1`;

/**
 * A running job whose lock ran out (its worker crashed or stalled) goes to the front of the wait
 * list. KEYS: active, wait. ARGV: the queue's key prefix. Returns how many were moved.
 */
export const RECOVER = `
local ids = redis.call('LRANGE', KEYS[1], 0, -1)
local n = 0
for _, id in ipairs(ids) do
  if redis.call('EXISTS', ARGV[1] .. id .. ':lock') == 0 then
    if redis.call('LREM', KEYS[1], 1, id) > 0 then
      redis.call('RPUSH', KEYS[2], id)
      n = n + 1
    end
  end
end
return n`;

/**
 * Indexes a job before BullMQ adds it, and claims its dedup key. KEYS: index, created, owner, dedup.
 * ARGV: id, type, createdAt, has owner, has dedup. Returns the id of the job holding the key.
 */
export const ADMIT = `
if ARGV[5] == '1' then
  local cur = redis.call('GET', KEYS[4])
  if cur and cur ~= ARGV[1] and redis.call('HEXISTS', KEYS[1], cur) == 1 then return cur end
  redis.call('SET', KEYS[4], ARGV[1])
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
if ARGV[4] == '1' then redis.call('ZADD', KEYS[3], ARGV[3], ARGV[1]) end
return ARGV[1]`;

/** KEYS: index. ARGV: BullMQ prefix, ids... Per id: {type, hash, lock, lock pttl, steps} or {''}. */
export const READ = `
local out = {}
for i = 2, #ARGV do
  local id = ARGV[i]
  local t = redis.call('HGET', KEYS[1], id)
  local k = t and (ARGV[1] .. ':' .. t .. ':' .. id)
  if not t or redis.call('EXISTS', k) == 0 then
    out[i - 1] = {''}
  else
    out[i - 1] = {t, redis.call('HGETALL', k), redis.call('GET', k .. ':lock') or '',
      redis.call('PTTL', k .. ':lock'), redis.call('HGETALL', k .. ':ksteps')}
  end
end
return out`;
