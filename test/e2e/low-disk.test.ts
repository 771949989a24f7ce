// When free space in the data dir is below min_free_disk, MAIL FROM answers 452 4.3.1
// instead of accepting what the node could not store, and counts it in
// sluice_ingress_refused_total{reason="low_disk"}.
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startGateway, type TestGateway } from '../support/gateway.js';
import { RawSmtp } from '../support/smtp-client.js';

let gw: TestGateway;
beforeAll(async () => {
  // More than any test machine has free: the node is "low on disk" from the start.
  gw = await startGateway(`
[node]
data_dir = "\${DIR}/data"
min_free_disk = "1000000GB"
[[listen]]
host = "127.0.0.1"
port = 0
mode = "relay"
`);
});
afterAll(() => gw.stop());

test('MAIL FROM gets 452 4.3.1 while disk is low', async () => {
  const c = await RawSmtp.open(gw.port());
  await c.read();
  await c.cmd('EHLO app.test');
  const r = await c.cmd('MAIL FROM:<app@example.com>');
  expect(r?.code).toBe(452);
  expect(r?.text).toMatch(/^4\.3\.1/);
  c.close();
  const refused = await gw.node.registry.getSingleMetric('sluice_ingress_refused_total')?.get();
  expect(refused?.values.filter((v) => v.labels['reason'] === 'low_disk').map((v) => v.value)).toEqual([1]);
});
