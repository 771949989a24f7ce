/** One base error with a literal code (STYLE.md: errors carry `code` and `cause`). */
export type SluiceErrorCode =
  | 'CONFIG_INVALID'
  | 'CONFIG_UNREADABLE'
  | 'STATE_UNAVAILABLE'
  | 'SPOOL_WRITE_FAILED'
  | 'SPOOL_CORRUPT'
  /** No room on the spool's disk above min_free_disk: 452 4.3.1. */
  | 'SPOOL_FULL'
  /** `[cluster] replica_policy = "required"` and no live peer took a replica: 451 4.3.0. */
  | 'REPLICA_UNAVAILABLE'
  | 'PLUGIN_LOAD_FAILED'
  | 'PLUGIN_FAILED'
  | 'DKIM_KEY_INVALID'
  | 'LISTEN_FAILED'
  | 'DNS_FAILED'
  | 'ADMIN_UNREACHABLE'
  /** A peer did not take a message over the cluster listener (gateway/cluster/peer-client.ts). */
  | 'PEER_SEND_FAILED'
  | 'USAGE';

export class SluiceError extends Error {
  readonly code: SluiceErrorCode;
  constructor(code: SluiceErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = 'SluiceError';
  }
}

export function assertNever(value: never): never {
  throw new Error(`unexpected value: ${JSON.stringify(value)}`);
}
