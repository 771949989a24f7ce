import { LUA_NOW_MS, type ScriptDef } from '../script-def.js';

/**
 * KEYS: the holder's index, then the lease's sorted sets. ARGV: lease id, ttl ms.
 * Extends the lease on every key when it still holds every key; a lease that lapsed
 * anywhere is gone (0) and the caller must stop using its connection.
 */
export const renewLease: ScriptDef = {
  name: 'sluiceRenewLease',
  numberOfKeys: 'dynamic',
  lua: `${LUA_NOW_MS}
local id = ARGV[1]
local ttl = tonumber(ARGV[2])
for i = 2, #KEYS do
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now)
  if not redis.call('ZSCORE', KEYS[i], id) then return 0 end
end
for i = 2, #KEYS do
  redis.call('ZADD', KEYS[i], 'XX', now + ttl, id)
  if redis.call('PTTL', KEYS[i]) < ttl then redis.call('PEXPIRE', KEYS[i], ttl) end
end
if redis.call('PTTL', KEYS[1]) > 0 and redis.call('PTTL', KEYS[1]) < ttl then redis.call('PEXPIRE', KEYS[1], ttl) end
return 1
`,
};
