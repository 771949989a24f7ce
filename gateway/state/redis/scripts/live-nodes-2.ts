import { LUA_NOW_MS, type ScriptDef } from '../script-def.js';

/**
 * KEYS: the node sorted set, the node info hash.
 * Forgets nodes whose heartbeat lapsed (by the Redis clock) and returns the info JSON
 * of the rest; a node that comes back re-registers with its next heartbeat.
 */
export const liveNodes: ScriptDef = {
  name: 'sluiceLiveNodes',
  numberOfKeys: 2,
  lua: `${LUA_NOW_MS}
local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)
for _, id in ipairs(dead) do
  redis.call('ZREM', KEYS[1], id)
  redis.call('HDEL', KEYS[2], id)
end
local ids = redis.call('ZRANGE', KEYS[1], 0, -1)
if #ids == 0 then return {} end
return redis.call('HMGET', KEYS[2], unpack(ids))
`,
};
