import type { ScriptDef } from '../script-def.js';

/** KEYS: failure hashes. Gives back one charge per key (never below zero). */
export const refundFailures: ScriptDef = {
  name: 'sluiceRefundFailures',
  numberOfKeys: 'dynamic',
  lua: `
for _, key in ipairs(KEYS) do
  local count = tonumber(redis.call('HGET', key, 'count') or '0')
  if count > 0 then redis.call('HINCRBY', key, 'count', -1) end
end
return 0
`,
};
