import dgram from 'node:dgram';
import net from 'node:net';
import { LoadtestError } from '../errors.js';

/**
 * Free ports. The generated config needs real numbers (the gateway reads them before it
 * listens), so a port is found by binding port 0 and closing again; the gap before the
 * gateway binds it is a small race, retried by the caller if the gateway fails to listen.
 */

export function freeTcpPort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const addr = srv.address();
      srv.close(() => (addr && typeof addr === 'object' ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

export function canListenTcp(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, host, () => srv.close(() => resolve(true)));
  });
}

export function canBindUdp(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = dgram.createSocket('udp4');
    sock.once('error', () => {
      sock.close();
      resolve(false);
    });
    sock.bind(port, host, () => sock.close(() => resolve(true)));
  });
}

/** A port that is free over TCP on every one of `hosts` (one MX port for all simulators),
 * and over UDP too when `udp` is set (a DNS server answers on both). */
export async function freePortOnAll(hosts: readonly string[], udp = false): Promise<number> {
  const [first, ...rest] = hosts;
  if (!first) throw new LoadtestError('SETUP_FAILED', 'no address to find a port on');
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = await freeTcpPort(first);
    let ok = true;
    for (const h of rest) ok = ok && (await canListenTcp(h, port));
    if (ok && udp) for (const h of hosts) ok = ok && (await canBindUdp(h, port));
    if (ok) return port;
  }
  throw new LoadtestError('SETUP_FAILED', `no port free on all of ${hosts.join(', ')}`);
}

/** Resolves once host:port accepts a TCP connection; false after `timeoutMs` or if `stop()` says so. */
export async function waitForPort(host: string, port: number, timeoutMs: number, stop: () => boolean): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && !stop()) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect({ host, port });
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}
