/**
 * An MX that records the command lines it is sent as bytes (latin1 strings), for tests
 * about what exactly goes on the wire: the recording test MX (test-mx.ts) is built on
 * smtp-server, which decodes addresses (xn-- labels to Unicode) before a test sees them.
 * It advertises SMTPUTF8 and 8BITMIME, accepts everything, and speaks no TLS.
 */
import { createServer, type Server, type Socket } from 'node:net';

export interface RawTransaction {
  /** Every command line of the transaction, MAIL to DATA, as sent. */
  readonly lines: readonly string[];
  readonly data: Buffer;
}

export interface RawMx {
  readonly port: number;
  readonly transactions: readonly RawTransaction[];
  close(): Promise<void>;
}

export async function startRawMx(host: string): Promise<RawMx> {
  const transactions: RawTransaction[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    serve(socket, (t) => transactions.push(t));
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    transactions,
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

function serve(socket: Socket, record: (t: RawTransaction) => void): void {
  let buf = Buffer.alloc(0);
  let lines: string[] = [];
  let inData = false;
  const reply = (text: string) => socket.write(`${text}\r\n`);
  reply('220 raw-mx.test ESMTP');
  socket.on('data', (chunk: Buffer) => {
    buf = Buffer.concat([buf, chunk]);
    for (;;) {
      if (inData) {
        const end = buf.indexOf('\r\n.\r\n');
        if (end < 0) return;
        record({ lines, data: buf.subarray(0, end + 2) });
        lines = [];
        buf = buf.subarray(end + 5);
        inData = false;
        reply('250 2.0.0 Ok');
        continue;
      }
      const eol = buf.indexOf('\r\n');
      if (eol < 0) return;
      const line = buf.subarray(0, eol).toString('latin1');
      buf = buf.subarray(eol + 2);
      const verb = line.slice(0, 4).toUpperCase();
      if (verb === 'EHLO') reply('250-raw-mx.test\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 ENHANCEDSTATUSCODES');
      else if (verb === 'QUIT') {
        reply('221 2.0.0 Bye');
        socket.end();
        return;
      } else if (verb === 'DATA') {
        lines.push(line);
        inData = true;
        reply('354 go ahead');
      } else {
        if (verb === 'MAIL' || verb === 'RCPT') lines.push(line);
        reply('250 2.0.0 Ok');
      }
    }
  });
}
