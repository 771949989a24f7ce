import type { ScriptDef } from '../script-def.js';

/**
 * KEYS: one TAT key per bucket. ARGV: count and period ms per bucket, in key order.
 * GCRA: emission interval T = period/count, tolerance tau = period - T, so a full
 * bucket passes `count` at once and then one every T. One token from every bucket or
 * from none. Returns {1, 0} or {0, retry-after ms}. A TAT key expires when its bucket
 * is full again: an absent key and a full bucket mean the same.
 * Time is fractional ms here (TIME has microseconds) so short intervals stay exact.
 */
export const takeRate: ScriptDef = {
  name: 'sluiceTakeRate',
  numberOfKeys: 'dynamic',
  lua: `
local redisTime = redis.call('TIME')
local now = tonumber(redisTime[1]) * 1000 + tonumber(redisTime[2]) / 1000
local staged = {}
local retry = 0
for i, key in ipairs(KEYS) do
  local count = tonumber(ARGV[2 * i - 1])
  local period = tonumber(ARGV[2 * i])
  local interval = period / count
  local tolerance = period - interval
  local tat = staged[key] or tonumber(redis.call('GET', key) or '0')
  if tat < now then tat = now end
  if tat - now > tolerance then
    local wait = math.ceil(tat - tolerance - now)
    if wait < 1 then wait = 1 end
    if wait > retry then retry = wait end
  else
    staged[key] = tat + interval
  end
end
if retry > 0 then return {0, retry} end
for key, tat in pairs(staged) do
  redis.call('SET', key, string.format('%.3f', tat), 'PX', math.max(1, math.ceil(tat - now)))
end
return {1, 0}
`,
};
