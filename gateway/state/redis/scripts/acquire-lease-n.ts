import { LUA_NOW_MS, type ScriptDef } from '../script-def.js';

/**
 * KEYS: the holder's index (a hash: lease id -> its lease keys, JSON), then one sorted
 * set per lease key (member = lease id, score = expiry ms).
 * ARGV: lease id, ttl ms, deadline (Redis ms; 0: none), 1 to record the lease in the
 * holder's index (0: no index), the lease keys as JSON, then one limit per lease key.
 *
 * Takes the lease on every key or on none. The caller picks the lease id, so a retry
 * after a lost reply finds its own lease instead of taking a second one.
 * A request that runs after its deadline takes nothing: its sender stopped waiting
 * (a command timeout during a Redis stall) and does not know it would hold the lease,
 * so a lease granted then would fill the limit with a connection nobody opens.
 * Returns {1, now} when held, {0, now} when some key is at its limit, {-1, now} when late.
 */
export const acquireLease: ScriptDef = {
  name: 'sluiceAcquireLease',
  numberOfKeys: 'dynamic',
  lua: `${LUA_NOW_MS}
local id = ARGV[1]
local ttl = tonumber(ARGV[2])
local deadline = tonumber(ARGV[3])
if deadline > 0 and now > deadline then return {-1, now} end
for i = 2, #KEYS do
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now)
end
for i = 2, #KEYS do
  if not redis.call('ZSCORE', KEYS[i], id) and redis.call('ZCARD', KEYS[i]) >= tonumber(ARGV[i + 4]) then
    return {0, now}
  end
end
for i = 2, #KEYS do
  redis.call('ZADD', KEYS[i], now + ttl, id)
  -- The set outlives its longest lease and no more: idle keys vanish on their own.
  if redis.call('PTTL', KEYS[i]) < ttl then redis.call('PEXPIRE', KEYS[i], ttl) end
end
if ARGV[4] == '1' then
  redis.call('HSET', KEYS[1], id, ARGV[5])
  if redis.call('PTTL', KEYS[1]) < ttl then redis.call('PEXPIRE', KEYS[1], ttl) end
end
return {1, now}
`,
};
