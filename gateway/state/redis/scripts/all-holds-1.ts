import { LUA_NOW_MS, type ScriptDef } from '../script-def.js';

/**
 * KEYS: the holds hash (scope → JSON hold). Deletes holds whose `until` has passed
 * (by the Redis clock) and returns the JSON of the rest.
 */
export const allHolds: ScriptDef = {
  name: 'sluiceAllHolds',
  numberOfKeys: 1,
  lua: `${LUA_NOW_MS}
local live = {}
local fields = redis.call('HGETALL', KEYS[1])
for i = 1, #fields, 2 do
  local ok, hold = pcall(cjson.decode, fields[i + 1])
  if ok and type(hold) == 'table' and type(hold['until']) == 'number' and hold['until'] <= now then
    redis.call('HDEL', KEYS[1], fields[i])
  else
    table.insert(live, fields[i + 1])
  end
end
return live
`,
};
