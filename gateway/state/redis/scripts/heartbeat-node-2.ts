import { LUA_NOW_MS, type ScriptDef } from '../script-def.js';

/**
 * KEYS: the node sorted set (id → heartbeat expiry ms), the node info hash.
 * ARGV: node id, ttl ms, info JSON.
 */
export const heartbeatNode: ScriptDef = {
  name: 'sluiceHeartbeatNode',
  numberOfKeys: 2,
  lua: `${LUA_NOW_MS}
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
return 1
`,
};
