/**
 * Hook contexts for unit tests of plugins: what the plugin host builds, without a node.
 * The verdict helpers are the host's own, so verdicts compare equal to real ones.
 */
import { Registry } from 'prom-client';
import { helpers } from '../../gateway/plugin-host/host.js';
import { HeaderBlock } from '../../gateway/plugin-host/headers.js';
import type { ConnectionInfo, DataCtx, ObserverCtx, PluginLogger, RcptCtx, SetupCtx, TransactionInfo } from '../../gateway/plugin-host/public.js';
import type { StateBackend, SuppressionEntry, SuppressionStore } from '../../gateway/state/types.js';

export interface RecordingLog extends PluginLogger {
  readonly lines: { level: string; obj: object | string; msg?: string | undefined }[];
}

export function recordingLog(): RecordingLog {
  const lines: RecordingLog['lines'] = [];
  const at = (level: string) => (obj: object | string, msg?: string) => void lines.push({ level, obj, msg });
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

export function connection(over: Partial<ConnectionInfo> = {}): ConnectionInfo {
  return { id: 'sess1', remoteAddress: '127.0.0.1', remotePort: 40000, helo: 'app.test', authUser: null, tls: false, mode: 'relay', listener: '127.0.0.1:2525', ...over };
}

export function transaction(over: Partial<TransactionInfo> = {}): TransactionInfo {
  return { mailFrom: 'app@example.com', rcpts: ['user@example.net'], class: 'transactional', pool: null, priority: null, campaign: null, ...over };
}

export function rcptCtx<C>(config: C, rcpt: string, over: { connection?: Partial<ConnectionInfo>; log?: PluginLogger } = {}): RcptCtx<C> {
  return { ...helpers, log: over.log ?? recordingLog(), config, connection: connection(over.connection), transaction: transaction({ rcpts: [] }), rcpt };
}

/** A data ctx over a real header block parsed from `headerLines`. */
export function dataCtx<C>(config: C, headerLines: readonly string[], over: { connection?: Partial<ConnectionInfo>; transaction?: Partial<TransactionInfo>; log?: PluginLogger } = {}): DataCtx<C> {
  const raw = Buffer.from(`${[...headerLines, ''].join('\r\n')}\r\nbody\r\n`);
  const { headers, body } = HeaderBlock.split(raw);
  return { ...helpers, log: over.log ?? recordingLog(), config, connection: connection(over.connection), transaction: transaction(over.transaction), message: { headers, body, size: body.length } };
}

export function observerCtx<C>(config: C, log: PluginLogger = recordingLog()): ObserverCtx<C> {
  return { log, config };
}

/** A suppression store in a Map, with the real lookup order: the address, then `@domain`. */
export class MemorySuppression implements SuppressionStore {
  readonly entries = new Map<string, SuppressionEntry>();
  /** When set, every call rejects with it (a Redis outage). */
  failWith: Error | null = null;

  async add(entries: readonly SuppressionEntry[]): Promise<number> {
    this.fail();
    let fresh = 0;
    for (const e of entries) {
      if (!this.entries.has(e.address)) fresh++;
      this.entries.set(e.address, e);
    }
    return fresh;
  }

  async remove(addresses: readonly string[]): Promise<number> {
    this.fail();
    return addresses.filter((a) => this.entries.delete(a)).length;
  }

  async check(address: string): Promise<SuppressionEntry | null> {
    this.fail();
    const key = address.toLowerCase();
    const at = key.lastIndexOf('@');
    return this.entries.get(key) ?? (at < 0 ? null : (this.entries.get(key.slice(at)) ?? null));
  }

  async *list(): AsyncIterable<SuppressionEntry> {
    this.fail();
    yield* this.entries.values();
  }

  async count(): Promise<number> {
    this.fail();
    return this.entries.size;
  }

  private fail(): void {
    if (this.failWith) throw this.failWith;
  }
}

/** A setup ctx whose state has only a suppression store (other stores throw if touched). */
export function setupCtx(config: unknown, suppression: SuppressionStore = new MemorySuppression(), log: PluginLogger = recordingLog()): SetupCtx {
  const untouched = new Proxy({}, { get: () => { throw new Error('this test state has only a suppression store'); } });
  const state = { kind: 'embedded', suppression, throttle: untouched, warmup: untouched, health: untouched, holds: untouched, nodes: untouched, senders: untouched, healthy: () => true, close: async () => undefined } as unknown as StateBackend;
  return { config, configFile: '/etc/sluice/sluice.toml', baseDir: '/etc/sluice', log, state, metrics: new Registry() };
}
