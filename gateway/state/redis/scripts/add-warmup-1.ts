import type { ScriptDef } from '../script-def.js';

/**
 * KEYS: the (source, day) counter. ARGV: messages, counter ttl ms.
 * Adds messages a node counted on its own while Redis was away, so the fleet's daily
 * total includes them once Redis is back. Returns used.
 */
export const addWarmup: ScriptDef = {
  name: 'sluiceAddWarmup',
  numberOfKeys: 1,
  lua: `
local used = redis.call('INCRBY', KEYS[1], ARGV[1])
if redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return used
`,
};
