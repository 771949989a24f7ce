/**
 * One allow-list for the names ops give things (sources, pools, providers, warm-up
 * plans, node ids): the config schema and the admin API check them the same way.
 * Names become object keys, Redis keys and metric labels, so the names every plain
 * object already answers to ("constructor", "toString"…) are refused: config.sources
 * ["constructor"] is Object's constructor, and a hold saved under it is a hold of
 * something that does not exist. ("__proto__" fails the first-character rule.)
 */
export const NAME_RULE = 'names are 1-128 letters, digits, "-", "_" and ".", starting with a letter or digit, and not a built-in object property such as "constructor"';

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

export function isName(text: string): boolean {
  return NAME.test(text) && !(text in Object.prototype);
}
