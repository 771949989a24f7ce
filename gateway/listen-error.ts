/**
 * Why a port could not be bound, said so that ops can fix it: the SMTP listeners and the
 * admin API give the same messages (no stack trace: main.ts prints a SluiceError's message).
 */
import { SluiceError } from './errors.js';

export function listenError(err: unknown, host: string, port: number, what = '[[listen]]'): SluiceError {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'EACCES') {
    return new SluiceError('LISTEN_FAILED', `cannot bind ${host}:${port}: permission denied. Ports below 1024 need root or CAP_NET_BIND_SERVICE: run as root, or "sudo setcap cap_net_bind_service=+ep $(command -v node)", or use ports above 1024 in ${what}`, { cause: err });
  }
  if (code === 'EADDRINUSE') return new SluiceError('LISTEN_FAILED', `cannot bind ${host}:${port}: the port is in use by another process (find it with "ss -ltnp 'sport = :${port}'") — stop it or change the port in ${what}`, { cause: err });
  if (code === 'EADDRNOTAVAIL') return new SluiceError('LISTEN_FAILED', `cannot bind ${host}:${port}: ${host} is not an address of this machine — fix the host in ${what}`, { cause: err });
  return new SluiceError('LISTEN_FAILED', `cannot bind ${host}:${port}: ${(err as Error).message}`, { cause: err });
}
