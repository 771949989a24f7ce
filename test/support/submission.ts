/** Submission-side helpers for AUTH tests: a TLS session ready for AUTH, and AUTH PLAIN. */
import { RawSmtp, type Reply } from './smtp-client.js';

export const plain = (user: string, password: string): string => Buffer.from(`\0${user}\0${password}`).toString('base64');

/** Connects from `localAddress`, reads the banner, EHLO, STARTTLS, EHLO again. */
export async function tlsSession(port: number, localAddress: string): Promise<RawSmtp> {
  const c = await RawSmtp.open(port, { localAddress });
  await c.read();
  await c.cmd('EHLO client.test');
  await c.starttls();
  await c.cmd('EHLO client.test');
  return c;
}

/** One AUTH PLAIN in a fresh TLS session, then the session is closed. */
export async function authOnce(port: number, localAddress: string, user: string, password: string): Promise<Reply | null> {
  const c = await tlsSession(port, localAddress);
  const r = await c.cmd(`AUTH PLAIN ${plain(user, password)}`);
  c.close();
  return r;
}
