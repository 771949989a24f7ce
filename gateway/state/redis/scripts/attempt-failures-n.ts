import { LUA_NOW_MS, type ScriptDef } from '../script-def.js';

/**
 * KEYS: one hash per failure key (fields count, start, lock).
 * ARGV: limit, window ms, lockout ms for each key, in KEYS order.
 * Charges one attempt to every key, or to none when any is locked or out of attempts
 * in its window (that one is locked for its lockout; counting restarts when it ends).
 * Returns 0 when charged, else the ms until the longest lock ends.
 */
export const attemptFailures: ScriptDef = {
  name: 'sluiceAttemptFailures',
  numberOfKeys: 'dynamic',
  lua: `${LUA_NOW_MS}
local refused = 0
local open = {}
for i, key in ipairs(KEYS) do
  local limit = tonumber(ARGV[3 * i - 2])
  local window = tonumber(ARGV[3 * i - 1])
  local lockout = tonumber(ARGV[3 * i])
  local v = redis.call('HMGET', key, 'count', 'start', 'lock')
  local count = tonumber(v[1] or '0')
  local start = tonumber(v[2] or '0')
  local lock = tonumber(v[3] or '0')
  if lock > now then
    refused = math.max(refused, lock - now)
  else
    if now >= start + window then
      count = 0
      start = now
    end
    if count >= limit then
      redis.call('HSET', key, 'count', 0, 'start', now + lockout, 'lock', now + lockout)
      redis.call('PEXPIRE', key, lockout + window)
      refused = math.max(refused, lockout)
    else
      open[#open + 1] = {key, count, start, window}
    end
  end
end
if refused > 0 then return refused end
for _, o in ipairs(open) do
  redis.call('HSET', o[1], 'count', o[2] + 1, 'start', o[3])
  redis.call('PEXPIRE', o[1], math.max(1, o[3] + o[4] - now))
end
return 0
`,
};
