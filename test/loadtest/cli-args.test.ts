import { describe, expect, it } from 'vitest';
import { parseArgs, parseSize } from '../../loadtest/cli-args.js';

describe('load test flags', () => {
  it('has the documented defaults', () => {
    expect(parseArgs([])).toMatchObject({
      messages: 20000, connections: 20, size: 5120, domains: 200, providers: ['sink'], dkim: 'none',
      target: null, json: false, html: null, keep: false, sinkOnly: false, sources: 4, drainTimeoutMs: 60_000, stallMs: 15_000,
    });
  });

  it('reads every form of flag', () => {
    const o = parseArgs(['--messages', '3000', '--connections=10', '--size', '1MB', '--providers', 'gmail,outlook,yahoo,other', '--dkim', 'ed25519', '--json', '--html', '/tmp/r.html', '--target', 'localhost:2525', '--keep']);
    expect(o).toMatchObject({ messages: 3000, connections: 10, size: 1048576, providers: ['gmail', 'outlook', 'yahoo', 'other'], dkim: 'ed25519', json: true, html: '/tmp/r.html', target: { host: '127.0.0.1', port: 2525 }, keep: true });
    expect(parseSize('2000')).toBe(2000);
    expect(parseSize('5kb')).toBe(5120);
  });

  it('refuses bad flags with a usage error', () => {
    expect(() => parseArgs(['--mesages', '3'])).toThrow(/unknown flag --mesages \(did you mean --messages\?\)/);
    expect(() => parseArgs(['--messages', 'x'])).toThrow(/--messages must be a whole number/);
    expect(() => parseArgs(['--dkim', 'dsa'])).toThrow(/--dkim must be/);
    expect(() => parseArgs(['--target', '10.0.0.1:25'])).toThrow(/loopback/); // never outside 127.0.0.0/8
    expect(() => parseArgs(['--sink-only', '--target', '127.0.0.1:25'])).toThrow(/exclude/);
    expect(() => parseArgs(['--html'])).toThrow(/needs a value/);
  });
});
