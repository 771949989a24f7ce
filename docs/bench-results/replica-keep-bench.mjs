import { ReplicaStore } from '../../dist/gateway/cluster/replica-store.js';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
const s = await ReplicaStore.open(mkdtempSync(join(tmpdir(), 'rs-')));
const body = Buffer.alloc(2200, 97);
const env = (i) => ({ id: `Q${i}`, mailFrom: 'a@b', rcpts: ['x@y'], receivedAt: Date.now(), class: 't', pool: null, priority: null, campaign: null, messageId: null, authUser: null, clientAddress: '127.0.0.1', routeHeaders: {}, isDsn: false });
for (const conc of [1, 4]) {
  const t = performance.now(); let i = 0;
  await Promise.all(Array.from({ length: conc }, async (_, w) => { for (let k = 0; k < 200 / conc; k++) { const n = `${conc}-${w}-${k}`; await s.keep({ origin: 'n9', queueId: `Q${n}`, envelope: env(n), attempts: {}, done: [] }, body); i++; } }));
  console.log(`concurrency ${conc}: ${i} keeps in ${(performance.now() - t).toFixed(0)} ms = ${((performance.now() - t) / i).toFixed(2)} ms each`);
}
