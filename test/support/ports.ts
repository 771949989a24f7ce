import { createServer } from 'node:net';

/**
 * A TCP port that was free on `host` a moment ago (the OS picks it). Prefer passing
 * port 0 to the server under test; use this only when a port must be known before
 * the server starts (a config file, a restart on the same port).
 */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen({ host, port: 0, exclusive: true }, () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close((err) => (err ? reject(err) : port > 0 ? resolve(port) : reject(new Error('no port'))));
    });
  });
}
