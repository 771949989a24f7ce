import type { ScriptDef } from '../script-def.js';

/**
 * KEYS: one TAT key per bucket. ARGV: emission interval us, tolerance us and debt per
 * bucket, in key order (state/gcra-params.ts gcraParams() computes the first two, and why no
 * window of one period can hold more than `count` grants). One token from every bucket or
 * from none. Returns {1, 0} or {0, retry-after ms}.
 *
 * Debt: tokens a node granted from its local share while Redis was away, within the last
 * period. They are charged to the bucket (TAT moves debt * T further) whether or not this
 * take succeeds, so that a window spanning the return to Redis counts them too.
 *
 * Time is Redis TIME in whole microseconds; TATs are whole microseconds, exact in a double.
 * A TAT key expires when its bucket is full again: an absent key and a full bucket mean
 * the same. Retrying after a lost reply can only take (or charge) twice: the limiter
 * then grants less, never more.
 */
export const takeRate: ScriptDef = {
  name: 'sluiceTakeRate',
  numberOfKeys: 'dynamic',
  lua: `
local redisTime = redis.call('TIME')
local now = tonumber(redisTime[1]) * 1000000 + tonumber(redisTime[2])
local staged = {}
local charged = {}
local retry = 0
for i, key in ipairs(KEYS) do
  local interval = tonumber(ARGV[3 * i - 2])
  local tolerance = tonumber(ARGV[3 * i - 1])
  local debt = tonumber(ARGV[3 * i])
  local tat = staged[key] or charged[key] or tonumber(redis.call('GET', key) or '0')
  if tat < now then tat = now end
  if debt > 0 then
    tat = tat + debt * interval
    charged[key] = tat
  end
  if tat - now > tolerance then
    local wait = math.ceil((tat - tolerance - now) / 1000)
    if wait < 1 then wait = 1 end
    if wait > retry then retry = wait end
  else
    staged[key] = tat + interval
  end
end
-- Granted: every key is staged (debt included). Refused: only the debts are kept.
local keep = staged
if retry > 0 then keep = charged end
for key, tat in pairs(keep) do
  redis.call('SET', key, string.format('%.0f', tat), 'PX', math.max(1, math.ceil((tat - now) / 1000)))
end
if retry > 0 then return {0, retry} end
return {1, 0}
`,
};
