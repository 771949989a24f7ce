/**
 * Synchronous bounces through the bounce rules on real sockets: the MX's reply gives each
 * bounced recipient a reason (on the outcome event and in
 * sluice_messages_bounced_total{reason}); only a hard one suppresses the address; an
 * operator's [bounces] rules file comes before the shipped rules.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import type { OutcomeEvent } from '../../gateway/plugin-host/public.js';
import { startTestMx, type TestMx } from '../support/test-mx.js';
import { client, message, MX_HOST, removeDir, sluice, startNode, tempDir, type RunningNode } from '../plugin-host/harness.js';

let mx: TestMx;
let gw: RunningNode;
const dir = tempDir();

beforeAll(async () => {
  writeFileSync(join(dir, 'my-rules.toml'), '[[rules]]\nreason = "suspend"\ntext = "account parked"\n');
  mx = await startTestMx({
    host: MX_HOST,
    rejectRcpt: (rcpt) => {
      if (rcpt.startsWith('nobody@')) return { code: 550, message: '5.1.1 No such user here' };
      if (rcpt.startsWith('listed@')) return { code: 550, message: '5.7.1 Service unavailable; client host [127.0.0.1] blocked using zen.spamhaus.org' };
      if (rcpt.startsWith('parked@')) return { code: 550, message: '5.1.1 This account parked by its owner' };
      return null;
    },
  });
  gw = await startNode({ plugins: ['suppression'], mx: mx.address, extra: '[bounces]\nrules = ["my-rules.toml"]\n' }, dir);
});

afterAll(async () => {
  await gw?.stop();
  await mx?.close();
  await removeDir(dir);
});

test('each bounced recipient gets its reason; the metric counts by reason; only the hard one is suppressed', async () => {
  const bounced: OutcomeEvent[] = [];
  gw.node.plugins.outcomes.on('bounced', (e) => bounced.push(e));
  const c = await client(gw.port);
  expect((await c.send('app@app.test', ['nobody@example.net', 'listed@example.net', 'parked@example.net'], message({ subject: 'three' })))?.code).toBe(250);
  c.close();
  await expect.poll(() => bounced.length, { timeout: 10_000 }).toBe(3);
  const reasons = Object.fromEntries(bounced.map((e) => [e.recipient, e.bounce]));
  expect(reasons).toEqual({
    'nobody@example.net': { reason: 'userunknown', hard: true },
    'listed@example.net': { reason: 'blocked', hard: false },
    'parked@example.net': { reason: 'suspend', hard: false },
  });

  const metrics = await gw.node.registry.metrics();
  for (const reason of ['userunknown', 'blocked', 'suspend']) {
    expect(metrics).toMatch(new RegExp(`^sluice_messages_bounced_total\\{[^}]*reason="${reason}"[^}]*\\} 1$`, 'm'));
  }
  expect(metrics).not.toMatch(/^sluice_messages_accepted_total\{[^}]*reason=/m);

  await expect.poll(async () => (await sluice(['suppress', 'check', 'nobody@example.net', '--config', gw.configFile])).code, { timeout: 5_000 }).toBe(0);
  for (const soft of ['listed@example.net', 'parked@example.net']) {
    expect((await sluice(['suppress', 'check', soft, '--config', gw.configFile])).code).toBe(1);
  }
});
