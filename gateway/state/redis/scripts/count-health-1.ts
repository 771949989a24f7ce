import { LUA_NOW_MS, type ScriptDef } from '../script-def.js';

/**
 * KEYS: the (source, provider) hash. ARGV: window ms, bucket ms.
 * Sums the buckets that overlap the last `window` ms.
 * Returns {delivered, deferred, bounced, complained}.
 */
export const countHealth: ScriptDef = {
  name: 'sluiceCountHealth',
  numberOfKeys: 1,
  lua: `${LUA_NOW_MS}
local from = now - tonumber(ARGV[1])
local bucketMs = tonumber(ARGV[2])
local totals = { delivered = 0, deferred = 0, bounced = 0, complained = 0 }
local fields = redis.call('HGETALL', KEYS[1])
for i = 1, #fields, 2 do
  local start, outcome = string.match(fields[i], '^(%d+):(%a+)$')
  start = tonumber(start)
  if start and totals[outcome] and start + bucketMs > from and start <= now then
    totals[outcome] = totals[outcome] + tonumber(fields[i + 1])
  end
end
return {totals.delivered, totals.deferred, totals.bounced, totals.complained}
`,
};
