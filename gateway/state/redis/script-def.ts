/**
 * One atomic Redis operation: a Lua script loaded with defineCommand (EVALSHA, falling
 * back to EVAL after a restart flushed the script cache). `numberOfKeys` is fixed, or
 * 'dynamic' for scripts over one key per claim (file name `<name>-n.ts`); those are
 * called with the key count first.
 */
export interface ScriptDef {
  readonly name: string;
  readonly numberOfKeys: number | 'dynamic';
  readonly lua: string;
}

/**
 * Milliseconds from the Redis server clock, so nodes with skewed clocks share one
 * limit. Lua scripts are replicated by effects (Redis >= 5 default, 7 always), so
 * calling TIME before writes is allowed.
 */
export const LUA_NOW_MS = `
local redisTime = redis.call('TIME')
local now = tonumber(redisTime[1]) * 1000 + math.floor(tonumber(redisTime[2]) / 1000)
`;
