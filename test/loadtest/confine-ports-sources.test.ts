// --listen-port and --source-base confine a default-mode run: the gateway it starts listens
// on that port and its mail leaves from that range, as the simulators saw it (their peers).
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseArgs } from '../../loadtest/cli-args.js';
import { ROOT } from '../support/gateway.js';
import { freePort } from '../support/ports.js';

const run = promisify(execFile);

describe('confining the load test', () => {
  it('refuses a source range that is not loopback, runs past .254 or takes the run\'s own addresses', () => {
    expect(parseArgs(['--source-base', '127.0.0.80', '--sources', '3', '--listen-port', '2600'])).toMatchObject({ sourceBase: '127.0.0.80', sources: 3, listenPort: 2600 });
    expect(() => parseArgs(['--source-base', '10.0.0.2'])).toThrow(/loopback/);
    expect(() => parseArgs(['--source-base', '127.0.0.253', '--sources', '4'])).toThrow(/runs past 127\.0\.0\.254/);
    expect(() => parseArgs(['--source-base', '127.0.0.28', '--sources', '2'])).toThrow(/includes 127\.0\.0\.29/);
    expect(() => parseArgs(['--listen-port', '2600', '--target', '127.0.0.1:2525'])).toThrow(/not with --target/);
  });

  it('a run with --listen-port and --source-base uses exactly them', async () => {
    const port = await freePort();
    const { stdout } = await run(
      process.execPath,
      [join(ROOT, 'dist/loadtest/main.js'), '--messages', '40', '--connections', '2', '--sources', '2', '--source-base', '127.0.0.90', '--listen-port', String(port), '--domains', '4', '--json', '--drain-timeout', '5s', '--stall', '3s'],
      { timeout: 120_000, maxBuffer: 16 * 1024 * 1024 },
    );
    const report = JSON.parse(stdout) as { delivered: number; target: string; providers: Record<string, { sources: Record<string, unknown> }> };
    expect(report.delivered).toBe(40);
    expect(report.target).toBe(`127.0.0.1:${port}`);
    const peers = new Set(Object.values(report.providers).flatMap((p) => Object.keys(p.sources)));
    expect([...peers].sort()).toEqual(['127.0.0.90', '127.0.0.91']);
  }, 150_000);
});
