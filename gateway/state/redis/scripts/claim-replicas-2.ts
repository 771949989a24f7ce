import { LUA_NOW_MS, type ScriptDef } from '../script-def.js';

/**
 * KEYS: the node sorted set (id -> heartbeat expiry), the origin's taken-over hash.
 * ARGV: origin id, holder id, queue ids...
 * Refuses (nil) while the origin's heartbeat is live, so a node that is back (its
 * collect-taken marked it live) can never have a message taken after it looked.
 * Returns the ids now recorded for this holder (new, or its own from an earlier try).
 */
export const claimReplicas: ScriptDef = {
  name: 'sluiceClaimReplicas',
  numberOfKeys: 2,
  lua: `${LUA_NOW_MS}
local expiry = redis.call('ZSCORE', KEYS[1], ARGV[1])
if expiry and tonumber(expiry) > now then return false end
local got = {}
for i = 3, #ARGV do
  local cur = redis.call('HGET', KEYS[2], ARGV[i])
  if not cur then
    redis.call('HSET', KEYS[2], ARGV[i], ARGV[2])
    got[#got + 1] = ARGV[i]
  elseif cur == ARGV[2] then
    got[#got + 1] = ARGV[i]
  end
end
redis.call('PEXPIRE', KEYS[2], 604800000)
return got
`,
};
