// A client that vanishes mid-DATA leaves nothing behind (no spool entry, no delivery), and
// the node keeps serving everyone else.
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startGateway, type TestGateway } from '../support/gateway.js';
import { startTestMx, type TestMx } from '../support/test-mx.js';
import { RawSmtp, message } from '../support/smtp-client.js';

let mx: TestMx;
let gw: TestGateway;
beforeAll(async () => {
  mx = await startTestMx({ host: '127.0.0.35' });
  gw = await startGateway(`
[node]
data_dir = "\${DIR}/data"
[[listen]]
host = "127.0.0.1"
port = 0
mode = "relay"
[dns.static]
"*" = "127.0.0.35:${mx.port}"
`);
});
afterAll(async () => {
  await gw.stop();
  await mx.close();
});

test('half a message then a dropped connection: nothing queued, nothing delivered', async () => {
  for (let i = 0; i < 20; i++) {
    const c = await RawSmtp.open(gw.port());
    await c.read();
    await c.cmd('EHLO app.test');
    await c.cmd('MAIL FROM:<app@example.com>');
    await c.cmd(`RCPT TO:<vanish${i}@example.net>`);
    await c.cmd('DATA');
    c.write(message().slice(0, 60));
    c.close();
  }
  const ok = await RawSmtp.open(gw.port());
  await ok.read();
  await ok.cmd('EHLO app.test');
  expect((await ok.send('app@example.com', ['stays@example.net'], message()))?.code).toBe(250);
  ok.close();
  await mx.waitFor(1);
  await new Promise((r) => setTimeout(r, 500));
  expect(mx.messages.map((m) => m.rcpts[0])).toEqual(['stays@example.net']);
  expect(gw.node.scheduler.depth).toBe(0);
  // And nothing comes back from the spool after a restart either.
  await gw.stop();
  const again = await startGateway(gw.configText, gw.dir);
  expect(again.node.scheduler.depth).toBe(0);
  await again.stop();
  gw = await startGateway(gw.configText, gw.dir);
});
