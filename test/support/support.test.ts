import { Resolver } from 'node:dns/promises';
import { connect, createServer } from 'node:net';
import { X509Certificate } from 'node:crypto';
import nodemailer from 'nodemailer';
import { afterEach, describe, expect, it } from 'vitest';
import { makeCert } from './certs.js';
import { startDnsServer, type TestDnsServer } from './dns-server.js';
import { freePort } from './ports.js';
import { startTestMx, type TestMx } from './test-mx.js';
import { redisServerPath } from './redis-server.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

async function dns(zone: Parameters<typeof startDnsServer>[0]): Promise<{ server: TestDnsServer; resolver: Resolver }> {
  const server = await startDnsServer(zone);
  cleanups.push(() => server.close());
  const resolver = new Resolver({ timeout: 2000, tries: 1 });
  resolver.setServers([server.address]);
  return { server, resolver };
}

async function mx(opts: Parameters<typeof startTestMx>[0] = {}): Promise<TestMx> {
  const server = await startTestMx(opts);
  cleanups.push(() => server.close());
  return server;
}

function transport(server: TestMx, extra: Record<string, unknown> = {}) {
  return nodemailer.createTransport({
    host: server.host,
    port: server.port,
    secure: false,
    ignoreTLS: true,
    tls: { rejectUnauthorized: false },
    ...extra,
  });
}

describe('startDnsServer', () => {
  it('answers MX, A and AAAA, case-insensitively', async () => {
    const { resolver, server } = await dns({
      'Example.TEST': { mx: [{ priority: 10, exchange: 'mx1.example.test' }, { priority: 20, exchange: 'mx2.example.test' }] },
      'mx1.example.test': { a: ['127.0.0.2', '127.0.0.3'], aaaa: ['::1', '2001:db8::25'] },
    });
    const mxs = await resolver.resolveMx('example.test');
    expect(mxs.sort((a, b) => a.priority - b.priority)).toEqual([
      { priority: 10, exchange: 'mx1.example.test' },
      { priority: 20, exchange: 'mx2.example.test' },
    ]);
    expect((await resolver.resolve4('MX1.example.test')).sort()).toEqual(['127.0.0.2', '127.0.0.3']);
    expect((await resolver.resolve6('mx1.example.test')).sort()).toEqual(['2001:db8::25', '::1']);
    expect(server.queries.map((q) => q.type)).toEqual(['MX', 'A', 'AAAA']);
  });

  it('serves a null MX, NXDOMAIN and NODATA', async () => {
    const { resolver } = await dns({
      'nullmx.test': { mx: [{ priority: 0, exchange: '.' }] },
      'a-only.test': { a: ['127.0.0.9'] },
    });
    expect(await resolver.resolveMx('nullmx.test')).toEqual([{ priority: 0, exchange: '' }]);
    await expect(resolver.resolveMx('nowhere.test')).rejects.toMatchObject({ code: 'ENOTFOUND' });
    await expect(resolver.resolveMx('a-only.test')).rejects.toMatchObject({ code: 'ENODATA' });
    expect(await resolver.resolve4('a-only.test')).toEqual(['127.0.0.9']);
  });

  it('set() replaces the zone', async () => {
    const { resolver, server } = await dns({ 'x.test': { a: ['127.0.0.1'] } });
    server.set({ 'x.test': { a: ['127.0.0.5'] } });
    expect(await resolver.resolve4('x.test')).toEqual(['127.0.0.5']);
    server.set({});
    await expect(resolver.resolve4('x.test')).rejects.toMatchObject({ code: 'ENOTFOUND' });
  });

  it('answers over TCP too when the UDP answer is truncated', async () => {
    const many = Array.from({ length: 40 }, (_, i) => ({ priority: i, exchange: `mx-${i}.a-rather-long-hosting-name.example.test` }));
    const { resolver, server } = await dns({ 'big.test': { mx: many } });
    expect(await resolver.resolveMx('big.test')).toHaveLength(40);
    expect(server.queries.map((q) => q.transport)).toContain('tcp');
  });
});

describe('startTestMx', () => {
  it('records messages with envelope, helo, peer and raw bytes', async () => {
    const server = await mx();
    const t = transport(server, { name: 'client.test' });
    await t.sendMail({ envelope: { from: 'a@x.test', to: ['b@y.test', 'c@y.test'] }, raw: 'Subject: hi\r\n\r\nbody\r\n.dot\r\n' });
    const [msg] = await server.waitFor(1, 5000);
    expect(msg).toMatchObject({ peerIp: '127.0.0.1', helo: 'client.test', mailFrom: 'a@x.test', rcpts: ['b@y.test', 'c@y.test'], secure: false });
    expect(msg?.raw.toString()).toBe('Subject: hi\r\n\r\nbody\r\n.dot\r\n');
    expect(server.stats('127.0.0.1')).toMatchObject({ connections: 1, messages: 1, peak: 1 });
    t.close();
    await server.waitUntil((m) => m.stats('127.0.0.1').current === 0, 5000);
  });

  it('replies per recipient and can refuse DATA', async () => {
    const server = await mx({
      rejectRcpt: (rcpt) =>
        rcpt.startsWith('gone@') ? { code: 550, message: '5.1.1 No such user' } : rcpt.startsWith('full@') ? { code: 452, message: '4.2.2 Mailbox full' } : null,
    });
    const t = transport(server);
    const info = await t.sendMail({ envelope: { from: 'a@x.test', to: ['ok@y.test', 'gone@y.test', 'full@y.test'] }, raw: 'Subject: x\r\n\r\nx\r\n' });
    expect(info.accepted).toEqual(['ok@y.test']);
    const errors = (info as { rejectedErrors?: Array<{ response?: string }> }).rejectedErrors ?? [];
    expect(errors.map((e) => e.response)).toEqual(['550 5.1.1 No such user', '452 4.2.2 Mailbox full']);
    expect(server.messages[0]?.rcpts).toEqual(['ok@y.test']);

    server.configure({ onData: () => ({ code: 451, message: '4.3.0 Try later' }) });
    await expect(t.sendMail({ envelope: { from: 'a@x.test', to: ['ok@y.test'] }, raw: 'Subject: y\r\n\r\ny\r\n' })).rejects.toMatchObject({
      response: '451 4.3.0 Try later',
    });
    expect(server.messages).toHaveLength(1);
    expect(server.rejected).toHaveLength(1);
    t.close();
  });

  it('binds to another loopback address and counts concurrency and rate per peer', async () => {
    const server = await mx({ host: '127.0.0.2' });
    const ts = [0, 1, 2].map(() => transport(server, { localAddress: '127.0.0.3' }));
    await Promise.all(ts.map((t, i) => t.sendMail({ envelope: { from: 'a@x.test', to: ['b@y.test'] }, raw: `Subject: ${i}\r\n\r\nx\r\n` })));
    await server.waitFor(3, 5000);
    const stats = server.stats('127.0.0.3');
    expect(stats.messages).toBe(3);
    expect(stats.peak).toBeGreaterThanOrEqual(1);
    expect(stats.peakPerSecond).toBeGreaterThanOrEqual(1);
    expect([...server.peers().keys()]).toEqual(['127.0.0.3']);
    ts.forEach((t) => t.close());
  });

  it('counts open sessions per peer and keeps the peak', async () => {
    const server = await mx();
    const sockets = [0, 1, 2].map(() => connect({ host: server.host, port: server.port, localAddress: '127.0.0.4' }));
    await server.waitUntil((m) => m.stats('127.0.0.4').current === 3, 5000);
    sockets.forEach((s) => s.destroy());
    await server.waitUntil((m) => m.stats('127.0.0.4').current === 0, 5000);
    expect(server.stats('127.0.0.4')).toMatchObject({ current: 0, peak: 3, connections: 3, messages: 0 });
  });

  it('offers STARTTLS with a generated certificate', async () => {
    const server = await mx({ tls: true });
    const t = transport(server, { ignoreTLS: false, requireTLS: true });
    await t.sendMail({ envelope: { from: 'a@x.test', to: ['b@y.test'] }, raw: 'Subject: tls\r\n\r\nx\r\n' });
    const [msg] = await server.waitFor(1, 5000);
    expect(msg?.secure).toBe(true);
    t.close();
  });

  it('goes down and comes back on the same port', async () => {
    const server = await mx();
    const port = server.port;
    await server.down();
    const t = transport(server);
    await expect(t.sendMail({ envelope: { from: 'a@x.test', to: ['b@y.test'] }, raw: 'Subject: d\r\n\r\nx\r\n' })).rejects.toMatchObject({
      code: 'ESOCKET',
    });
    await server.up();
    expect(server.port).toBe(port);
    await t.sendMail({ envelope: { from: 'a@x.test', to: ['b@y.test'] }, raw: 'Subject: u\r\n\r\nx\r\n' });
    expect(server.messages).toHaveLength(1);
    t.close();
  });

  it('can refuse the session at connect', async () => {
    const server = await mx({ onConnect: () => ({ code: 421, message: '4.7.0 Try again later' }) });
    const t = transport(server);
    await expect(t.sendMail({ envelope: { from: 'a@x.test', to: ['b@y.test'] }, raw: 'Subject: c\r\n\r\nx\r\n' })).rejects.toMatchObject({
      responseCode: 421,
    });
    expect(server.stats('127.0.0.1').connections).toBe(0);
    t.close();
  });

  it('waitFor times out with a useful message', async () => {
    const server = await mx();
    await expect(server.waitFor(1, 50)).rejects.toThrow(/timed out after 50 ms waiting for 1 messages \(have 0\)/);
  });
});

describe('makeCert and freePort', () => {
  it('makes a certificate for the given names', async () => {
    const { key, cert } = await makeCert(['mx.test', '127.0.0.1']);
    expect(key).toMatch(/BEGIN PRIVATE KEY/);
    const x509 = new X509Certificate(cert);
    expect(x509.subjectAltName).toContain('DNS:mx.test');
    expect(x509.subjectAltName).toContain('IP Address:127.0.0.1');
  });

  it('returns a port that can be bound', async () => {
    const port = await freePort();
    expect(port).toBeGreaterThan(0);
    const srv = createServer();
    await new Promise<void>((resolve, reject) => {
      srv.once('error', reject);
      srv.listen(port, '127.0.0.1', resolve);
    });
    await new Promise((resolve) => srv.close(resolve));
  });
});

describe('redisServerPath', () => {
  it('finds redis-server on the PATH, and with CI=true a missing one is an error, not a skip', () => {
    expect(redisServerPath({ PATH: process.env['PATH'] ?? '' })).toMatch(/redis-server$/);
    expect(redisServerPath({ PATH: '/nonexistent' })).toBeNull();
    expect(() => redisServerPath({ PATH: '/nonexistent', CI: 'true' })).toThrow(/redis-server is not installed.*fail instead of skipping/);
  });
});
