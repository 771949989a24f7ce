// Relay-network matching (gateway/config/networks.ts), which ingress runs at every command
// and reply: time per call and heap allocated per call, a first answer (the address parsed
// with ip-address) against one the list answers again. Run after a build:
//   npx tsc -p tsconfig.json && node --expose-gc --max-semi-space-size=256 test/bench/networks-contains.mjs
// (the large young generation keeps a scavenge from hiding what the calls allocate).
const { NetworkList } = await import('../../dist/gateway/config/networks.js');
const NETS = ['127.0.0.0/8', '10.0.0.0/8', '::1/128'];
// Fewer addresses than a list keeps answers for (4 096), so the second pass is all answered again.
const N = 4_000;
const addresses = Array.from({ length: N }, (_, i) => `10.0.${(i >> 8) & 255}.${i & 255}`);
function measure(name, f) {
  global.gc();
  const h0 = process.memoryUsage().heapUsed;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < N; i++) f(i);
  const ns = Number(process.hrtime.bigint() - t0) / N;
  const bytes = (process.memoryUsage().heapUsed - h0) / N;
  console.log(`${name}: ${ns.toFixed(0)} ns and ${bytes.toFixed(0)} B of heap a call`);
}
// A first list warms the code up; the second is measured.
for (const a of addresses) new NetworkList(NETS).contains(a);
const list = new NetworkList(NETS);
measure('first answer (parsed)', (i) => list.contains(addresses[i]));
measure('answered again', (i) => list.contains(addresses[i]));
