import type { ScriptDef } from '../script-def.js';

/** KEYS: the (source, day) counter. Gives one message back, never below zero. Returns used. */
export const giveBackWarmup: ScriptDef = {
  name: 'sluiceGiveBackWarmup',
  numberOfKeys: 1,
  lua: `
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
if used > 0 then used = redis.call('DECR', KEYS[1]) end
return used
`,
};
