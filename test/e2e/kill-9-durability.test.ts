// Durability: mail queued while the MX is down survives kill -9 of the node; after a restart
// with the MX back, every accepted message is delivered.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, expect, test } from 'vitest';
import { startCli, tempDir } from '../support/gateway.js';
import { startTestMx } from '../support/test-mx.js';
import { freePort } from '../support/ports.js';
import { RawSmtp, message } from '../support/smtp-client.js';

const cleanups: (() => Promise<unknown> | void)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

test('kill -9 with mail queued loses nothing', async () => {
  const dir = tempDir();
  const mxPort = await freePort('127.0.0.26');
  const smtpPort = await freePort();
  const file = join(dir, 'sluice.toml');
  writeFileSync(file, `
[node]
data_dir = "${dir}/data"
[[listen]]
host = "127.0.0.1"
port = ${smtpPort}
mode = "relay"
[dns.static]
"*" = "127.0.0.26:${mxPort}"
[delivery]
connect_timeout = "1s"
[queue]
retry = ["1s"]
`);
  let node = startCli(file);
  cleanups.push(() => void node.child.kill('SIGKILL'));
  await node.waitFor('started');
  const ids: string[] = [];
  for (let conn = 0; conn < 4; conn++) {
    const c = await RawSmtp.open(smtpPort);
    await c.read();
    await c.cmd('EHLO app.test');
    for (let i = 0; i < 25; i++) {
      const r = await c.send('app@example.com', [`k${conn}-${i}@d${i % 5}.example.net`], message({ subject: `k${conn}-${i}` }));
      expect(r?.code).toBe(250);
      ids.push(r?.text ?? '');
    }
    c.close();
  }
  node.child.kill('SIGKILL');
  await node.exited();
  const mx = await startTestMx({ host: '127.0.0.26', port: mxPort });
  cleanups.push(() => mx.close());
  node = startCli(file);
  await node.waitFor('spool_recovered');
  await mx.waitFor(100, 30_000);
  const rcpts = new Set(mx.messages.flatMap((m) => m.rcpts));
  expect(rcpts.size).toBe(100);
  node.child.kill('SIGTERM');
  expect(await node.exited()).toBe(0);
});
