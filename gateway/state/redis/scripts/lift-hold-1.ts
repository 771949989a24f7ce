import { LUA_NOW_MS, type ScriptDef } from '../script-def.js';

/** KEYS: the holds hash. ARGV: scope. Deletes the hold; returns 1 when it was in force. */
export const liftHold: ScriptDef = {
  name: 'sluiceLiftHold',
  numberOfKeys: 1,
  lua: `${LUA_NOW_MS}
local json = redis.call('HGET', KEYS[1], ARGV[1])
if not json then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
local ok, hold = pcall(cjson.decode, json)
if ok and type(hold) == 'table' and type(hold['until']) == 'number' and hold['until'] <= now then
  return 0
end
return 1
`,
};
