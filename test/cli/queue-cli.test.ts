// `sluice queue` against a running node: the summary table, --json with the API's shape,
// an action's per-node counts, a bad selector's message and exit code, and hold / lift
// (with suspend / resume, their older names).
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { CLI, relayConfig, startGateway, type TestGateway } from '../support/gateway.js';
import { startTestMx, type TestMx } from '../support/test-mx.js';
import { freePort } from '../support/ports.js';
import { RawSmtp, message } from '../support/smtp-client.js';

const run = promisify(execFile);
let mx: TestMx;
let gw: TestGateway;

beforeAll(async () => {
  mx = await startTestMx({ host: '127.0.0.73', rejectRcpt: () => ({ code: 451, message: '4.7.0 Try again later' }) });
  gw = await startGateway(relayConfig({ mx: mx.address, admin: { port: await freePort(), token: 'cli-queue-token-0123' } }, '[queue]\nretry = ["1h"]\n'));
  const c = await RawSmtp.open(gw.port());
  await c.read();
  await c.cmd('EHLO app.test');
  await c.send('app@ok.test', ['a@slow.test', 'b@slow.test'], message({ headers: ['X-Campaign-ID: spring'] }));
  c.close();
  for (let i = 0; i < 100 && gw.node.scheduler.index.select({ domain: 'slow.test' }, 'deferred').length === 0; i++) await new Promise((r) => setTimeout(r, 100));
});
afterAll(async () => {
  await gw?.stop();
  await mx?.close();
});

const sluice = (...args: string[]) => run(process.execPath, [CLI, 'queue', ...args, '--config', gw.configFile]).then(
  (r) => ({ code: 0, out: r.stdout, err: r.stderr }),
  (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, out: e.stdout, err: e.stderr }),
);

test('summary prints the groups; --json prints the API shape', async () => {
  const table = await sluice('summary', '--by', 'domain');
  expect(table.code).toBe(0);
  expect(table.out).toMatch(/slow\.test\s+1\s+2\s+0\s+2\s/);
  const json = JSON.parse((await sluice('summary', '--by', 'campaign', '--json')).out) as { by: string; groups: { key: string; recipients: number }[] };
  expect(json.by).toBe('campaign');
  expect(json.groups).toMatchObject([{ key: 'spring', recipients: 2 }]);
  // Without --config, $SLUICE_CONFIG (what the container image and the compose nodes set).
  const viaEnv = await run(process.execPath, [CLI, 'queue', 'summary', '--by', 'domain'], { env: { ...process.env, SLUICE_CONFIG: gw.configFile } });
  expect(viaEnv.stdout).toMatch(/slow\.test\s+1\s+2\s+0\s+2\s/);
});

test('an action prints the per-node counts; a bad selector is refused with the reason', async () => {
  const r = await sluice('cancel', '--campaign', 'spring', '--dry-run');
  expect(r.code).toBe(0);
  expect(r.out).toContain('cancel (dry run): 1 messages, 2 recipients');
  expect(r.out).toContain(`${gw.node.config.node.id}: 1 messages, 2 recipients`);
  const empty = await sluice('bounce');
  expect(empty.code).toBe(2);
  expect(empty.err).toContain('selector is empty');
  const list = await sluice('list', '--domain', 'slow.test');
  expect(list.out).toContain('deferred app@ok.test -> a@slow.test,b@slow.test attempts=1');
});

test('hold and lift a campaign (suspend and resume, their older names, do the same)', async () => {
  const held = await sluice('hold', '--campaign', 'spring', '--duration', '30m');
  expect(held.code).toBe(0);
  expect(held.out).toContain('hold: 1 messages, 2 recipients');
  expect((await sluice('list', '--campaign', 'spring', '--state', 'held')).out).toContain('held app@ok.test -> a@slow.test,b@slow.test');
  expect((await sluice('rules')).out).toMatch(/^hold-\S+ hold \{"campaign":"spring"\} until \d{4}-\d\d-\d\dT\S+ by admin-api 127\.0\.0\.1 token:[0-9a-f]{8}$/m);
  const lifted = await sluice('lift', '--campaign', 'spring');
  expect(lifted.code).toBe(0);
  expect(lifted.out).toContain('lift: 1 messages, 2 recipients');
  expect((await sluice('rules')).out.trim()).toBe('');
  expect((await sluice('suspend', '--campaign', 'spring')).out).toContain('suspend: 1 messages, 2 recipients');
  expect((await sluice('list', '--campaign', 'spring', '--state', 'held')).out).toContain('held app@ok.test');
  expect((await sluice('resume', '--campaign', 'spring')).out).toContain('resume: 1 messages, 2 recipients');
  expect((await sluice('list', '--campaign', 'spring', '--state', 'held')).out.trim()).toBe('');
});
