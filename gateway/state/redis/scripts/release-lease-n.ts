import type { ScriptDef } from '../script-def.js';

/** KEYS: the lease's sorted sets. ARGV: lease id. Idempotent: releasing twice is harmless. */
export const releaseLease: ScriptDef = {
  name: 'sluiceReleaseLease',
  numberOfKeys: 'dynamic',
  lua: `
for i, key in ipairs(KEYS) do
  redis.call('ZREM', key, ARGV[1])
end
return 1
`,
};
