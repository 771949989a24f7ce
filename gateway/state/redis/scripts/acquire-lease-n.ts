import { LUA_NOW_MS, type ScriptDef } from '../script-def.js';

/**
 * KEYS: one sorted set per lease key (member = lease id, score = expiry ms).
 * ARGV: lease id, ttl ms, then one limit per key.
 * Takes the lease on every key or on none. The caller picks the lease id, so a retry
 * after a lost reply finds its own lease instead of taking a second one.
 * Returns 1 when held, 0 when some key is at its limit.
 */
export const acquireLease: ScriptDef = {
  name: 'sluiceAcquireLease',
  numberOfKeys: 'dynamic',
  lua: `${LUA_NOW_MS}
local id = ARGV[1]
local ttl = tonumber(ARGV[2])
for i, key in ipairs(KEYS) do
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
end
for i, key in ipairs(KEYS) do
  if not redis.call('ZSCORE', key, id) and redis.call('ZCARD', key) >= tonumber(ARGV[i + 2]) then
    return 0
  end
end
for i, key in ipairs(KEYS) do
  redis.call('ZADD', key, now + ttl, id)
  -- The set outlives its longest lease and no more: idle keys vanish on their own.
  if redis.call('PTTL', key) < ttl then redis.call('PEXPIRE', key, ttl) end
end
return 1
`,
};
