import { LUA_NOW_MS, type ScriptDef } from '../script-def.js';

/** KEYS: one lease sorted set. Drops lapsed holders, returns how many remain. */
export const countLease: ScriptDef = {
  name: 'sluiceCountLease',
  numberOfKeys: 1,
  lua: `${LUA_NOW_MS}
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
return redis.call('ZCARD', KEYS[1])
`,
};
