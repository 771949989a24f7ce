import type { ScriptDef } from '../script-def.js';

/**
 * KEYS: the holder's index, then the lease's sorted sets. ARGV: lease id.
 * Idempotent: releasing twice, or a lease that lapsed or was never granted, is harmless
 * (a node releases the id of every acquire it stopped waiting for).
 */
export const releaseLease: ScriptDef = {
  name: 'sluiceReleaseLease',
  numberOfKeys: 'dynamic',
  lua: `
redis.call('HDEL', KEYS[1], ARGV[1])
for i = 2, #KEYS do
  redis.call('ZREM', KEYS[i], ARGV[1])
end
return 1
`,
};
