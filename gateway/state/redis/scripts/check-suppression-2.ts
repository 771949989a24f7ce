import type { ScriptDef } from '../script-def.js';

/**
 * KEYS: the address hash, the domain hash. ARGV: address key, `@domain` key or ''.
 * The address first, then its domain (SuppressionStore.check), in one round trip.
 * Returns {key, value} or {} when neither is suppressed.
 */
export const checkSuppression: ScriptDef = {
  name: 'sluiceCheckSuppression',
  numberOfKeys: 2,
  lua: `
local value = redis.call('HGET', KEYS[1], ARGV[1])
if value then return {ARGV[1], value} end
if ARGV[2] ~= '' then
  value = redis.call('HGET', KEYS[2], ARGV[2])
  if value then return {ARGV[2], value} end
end
return {}
`,
};
