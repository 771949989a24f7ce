import { LUA_NOW_MS, type ScriptDef } from '../script-def.js';

/**
 * KEYS: the (source, day) counter, a sorted set of recent op ids.
 * ARGV: cap, op id, counter ttl ms, op memory ms.
 * Counts one message when used < cap. An op id seen in the last `op memory` ms is a
 * retry of a call whose reply was lost: it answers yes again without counting twice.
 * Returns {1 | 0, used}.
 */
export const takeWarmup: ScriptDef = {
  name: 'sluiceTakeWarmup',
  numberOfKeys: 2,
  lua: `${LUA_NOW_MS}
local cap = tonumber(ARGV[1])
local op = ARGV[2]
local ttl = tonumber(ARGV[3])
local memory = tonumber(ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - memory)
if redis.call('ZSCORE', KEYS[2], op) then
  return {1, tonumber(redis.call('GET', KEYS[1]) or '0')}
end
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
if used >= cap then return {0, used} end
used = redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('ZADD', KEYS[2], now, op)
redis.call('PEXPIRE', KEYS[2], memory)
return {1, used}
`,
};
