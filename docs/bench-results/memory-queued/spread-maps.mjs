// Why PluginHost.run no longer builds a hook's ctx with `{ ...base, ...helpers, log, config }`.
// Run: node --allow-natives-syntax docs/bench-results/memory-queued/spread-maps.mjs
// On Node 20.20 (V8 11.3) an object literal that starts with a spread and then adds keys its
// source lacks gets a new hidden class (Map + DescriptorArray, allocated in old space) on
// every call after the first few, so each call leaves old-space garbage until the next full
// collection. Object.assign onto {} and a literal that names its keys first share one map.
const helpers = { next() {}, accept() {}, reject() {}, defer() {}, drop() {} };
const base = () => ({ connection: {}, transaction: {}, message: {} });
const ways = {
  'spread, then new keys': (b) => ({ ...b, ...helpers, log: 1, config: 2 }),
  'spread, overwriting keys': (b) => ({ ...b, message: 1 }),
  'Object.assign onto {}': (b) => Object.assign({}, b, helpers, { log: 1, config: 2 }),
};
const sameMap = new Function('a', 'b', 'return %HaveSameMap(a, b)');
for (const [name, make] of Object.entries(ways)) {
  let prev = make(base());
  let same = 0;
  for (let i = 1; i < 20_000; i++) {
    const o = make(base());
    if (sameMap(o, prev)) same++;
    prev = o;
  }
  console.log(`${name.padEnd(26)} shares the previous object's map in ${same} of 19999 calls`);
}
