import { LUA_NOW_MS, type ScriptDef } from '../script-def.js';

/**
 * KEYS: the node sorted set, the origin's taken-over hash. ARGV: origin id, ttl ms.
 * Marks the origin live (its expiry pushed to now + ttl, never pulled back) before
 * reading, in one step: claim-replicas refuses from then on, so the list is complete.
 * Returns the hash as [id, holder, id, holder, ...].
 */
export const collectTaken: ScriptDef = {
  name: 'sluiceCollectTaken',
  numberOfKeys: 2,
  lua: `${LUA_NOW_MS}
local until_ = now + tonumber(ARGV[2])
local expiry = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not expiry or tonumber(expiry) < until_ then redis.call('ZADD', KEYS[1], until_, ARGV[1]) end
return redis.call('HGETALL', KEYS[2])
`,
};
