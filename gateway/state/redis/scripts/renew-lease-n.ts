import { LUA_NOW_MS, type ScriptDef } from '../script-def.js';

/**
 * KEYS: the lease's sorted sets. ARGV: lease id, ttl ms.
 * Extends the lease on every key when it still holds every key; a lease that lapsed
 * anywhere is gone (0) and the caller must stop using its connection.
 */
export const renewLease: ScriptDef = {
  name: 'sluiceRenewLease',
  numberOfKeys: 'dynamic',
  lua: `${LUA_NOW_MS}
local id = ARGV[1]
local ttl = tonumber(ARGV[2])
for i, key in ipairs(KEYS) do
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
  if not redis.call('ZSCORE', key, id) then return 0 end
end
for i, key in ipairs(KEYS) do
  redis.call('ZADD', key, 'XX', now + ttl, id)
  if redis.call('PTTL', key) < ttl then redis.call('PEXPIRE', key, ttl) end
end
return 1
`,
};
