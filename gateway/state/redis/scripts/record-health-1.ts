import { LUA_NOW_MS, type ScriptDef } from '../script-def.js';

/**
 * KEYS: the (source, provider) hash, fields `<bucket start>:<outcome>`.
 * ARGV: outcome, bucket ms, keep ms.
 * Counts one outcome in the current bucket. The first count of a bucket also drops
 * buckets older than `keep`, so the hash holds at most keep/bucket buckets.
 */
export const recordHealth: ScriptDef = {
  name: 'sluiceRecordHealth',
  numberOfKeys: 1,
  lua: `${LUA_NOW_MS}
local bucketMs = tonumber(ARGV[2])
local keep = tonumber(ARGV[3])
local bucket = now - (now % bucketMs)
local field = string.format('%d:%s', bucket, ARGV[1])
if redis.call('HINCRBY', KEYS[1], field, 1) == 1 then
  local oldest = now - keep
  for _, name in ipairs(redis.call('HKEYS', KEYS[1])) do
    local start = tonumber(string.match(name, '^(%d+):'))
    if start == nil or start + bucketMs <= oldest then redis.call('HDEL', KEYS[1], name) end
  end
end
redis.call('PEXPIRE', KEYS[1], keep + bucketMs)
return 1
`,
};
