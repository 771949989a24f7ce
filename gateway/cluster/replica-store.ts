/**
 * Replicas this node keeps for its peers (docs/CLUSTER.md "Replicas"), in a segment spool
 * of their own under data_dir/replica-log/ (spool/segment-spool.ts, opened by node-replicas.ts): every copy is appended
 * to a shared segment file, and the copies that arrive while the previous batch syncs are
 * made durable by one fdatasync together (group commit), before `keep` resolves. A drop is
 * a journal line, not fsync'd: a drop lost to a crash is redone from the ledger.
 *
 * A record's envelope is `{ id: "<origin>/<queue id>", replica: <facts> }`. Copies kept by
 * an earlier version, one file each under data_dir/replicas/<origin>/<queue id>.rep, are
 * moved into the log when the store opens.
 */
import { readdir, readFile, rm, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { SluiceError } from '../errors.js';
import type { Envelope, Spool } from '../spool/types.js';
import type { ReplicaFacts, ReplicaSink } from './replica-sink.js';

/** Node ids and queue ids become keys ("origin/id"): nothing else may. */
const SAFE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const LEGACY_MAGIC = Buffer.from('SLR1');
const LEGACY_HEAD = 16;

export interface HeldReplica {
  readonly facts: ReplicaFacts;
  readonly body: Buffer;
}

/** What the replica log stores as a record's envelope. */
interface ReplicaRecord {
  readonly id: string;
  readonly replica: ReplicaFacts;
}

interface Entry {
  readonly receivedAt: number;
}

export interface ReplicaStoreOptions {
  /** Copies kept by an earlier version, one file each (data_dir/replicas); moved in at open. */
  readonly legacyRoot?: string;
  /** Reports damage found in the log at open (the copies there are lost; their origin still has the mail). */
  readonly onCorrupt?: (file: string, reason: string) => void;
}

export class ReplicaStore implements ReplicaSink {
  private readonly held = new Map<string, Map<string, Entry>>();

  private constructor(private readonly log: Spool) {}

  /**
   * Opens the store on `log` (the composition root opens a segment spool for it, without a
   * body cache: bodies are read back only when a peer is taken over), indexes what an
   * earlier run kept, and moves in copies kept one file each.
   */
  static async open(log: Spool, opts: ReplicaStoreOptions = {}): Promise<ReplicaStore> {
    const store = new ReplicaStore(log);
    await log.recover(
      (m) => {
        const r = (m.envelope as unknown as Partial<ReplicaRecord>).replica;
        if (r && typeof r.origin === 'string' && typeof r.queueId === 'string') store.index(r.origin, r.queueId, r.envelope.receivedAt);
        else void log.remove(m.envelope.id);
      },
      (file, reason) => opts.onCorrupt?.(file, reason),
    );
    if (opts.legacyRoot) await store.importLegacy(opts.legacyRoot);
    return store;
  }

  /** Keeps a copy; resolves once it is durable. */
  async keep(facts: ReplicaFacts, body: Buffer): Promise<void> {
    const { origin, queueId } = facts;
    if (!SAFE.test(origin) || !SAFE.test(queueId)) throw new SluiceError('USAGE', `replica with an unusable origin or queue id: ${origin}/${queueId}`);
    // Sent again by a peer that did not see our 250: the copy here is durable already, and a
    // message's bytes and facts do not change between the two sends.
    if (this.has(origin, queueId)) return;
    const id = key(origin, queueId);
    const replica: ReplicaFacts = { origin, queueId, envelope: facts.envelope, attempts: facts.attempts, done: facts.done, ...(facts.trace ? { trace: facts.trace } : {}) };
    const record: ReplicaRecord = { id, replica };
    await this.log.commit(record as unknown as Envelope, body);
    this.index(origin, queueId, facts.envelope.receivedAt);
  }

  /** Origins this node holds replicas of. */
  origins(): string[] {
    return [...this.held].filter(([, ids]) => ids.size > 0).map(([origin]) => origin);
  }

  ids(origin: string): string[] {
    return [...(this.held.get(origin)?.keys() ?? [])];
  }

  has(origin: string, id: string): boolean {
    return this.held.get(origin)?.has(id) ?? false;
  }

  get count(): number {
    let n = 0;
    for (const ids of this.held.values()) n += ids.size;
    return n;
  }

  /** Ids of `origin` received before `before` (ms): left over once a message is past max_age. */
  olderThan(origin: string, before: number): string[] {
    return [...(this.held.get(origin) ?? [])].filter(([, e]) => e.receivedAt < before).map(([id]) => id);
  }

  async read(origin: string, id: string): Promise<HeldReplica> {
    const k = key(origin, id);
    const record = (await this.log.readEnvelope(k)) as unknown as Partial<ReplicaRecord>;
    if (!record.replica) throw new SluiceError('SPOOL_CORRUPT', `replica ${k} holds no facts`);
    return { facts: record.replica, body: await this.log.readBody(k) };
  }

  /** Drops these replicas (ones not held are skipped); resolves to how many went. */
  async drop(origin: string, ids: readonly string[]): Promise<number> {
    const held = this.held.get(origin);
    if (!held) return 0;
    let n = 0;
    for (const id of ids) {
      if (!held.delete(id)) continue;
      n++;
      await this.log.remove(key(origin, id));
    }
    return n;
  }

  close(): Promise<void> {
    return this.log.close();
  }

  private index(origin: string, id: string, receivedAt: number): void {
    let ids = this.held.get(origin);
    if (!ids) this.held.set(origin, (ids = new Map<string, Entry>()));
    ids.set(id, { receivedAt });
  }

  /** Moves copies kept one file each by an earlier version into the log, then deletes the files. */
  private async importLegacy(root: string): Promise<void> {
    let origins: string[];
    try {
      origins = await readdir(root);
    } catch {
      return; // none
    }
    for (const origin of origins) {
      if (!SAFE.test(origin)) continue;
      for (const name of await readdir(join(root, origin)).catch(() => [] as string[])) {
        const path = join(root, origin, name);
        const parsed = name.endsWith('.rep') ? parseLegacy(await readFile(path)) : null;
        // A torn file (crash mid-write) was never acknowledged: nothing is lost by dropping it.
        if (parsed && !this.has(parsed.facts.origin, parsed.facts.queueId)) await this.keep(parsed.facts, parsed.body);
        await unlink(path).catch(() => undefined);
      }
    }
    await rm(root, { recursive: true, force: true });
  }
}

function key(origin: string, queueId: string): string {
  return `${origin}/${queueId}`;
}

/** An earlier version's file: "SLR1", facts length (u32 BE), body length (u64 BE), facts JSON, body. */
function parseLegacy(data: Buffer): HeldReplica | null {
  if (data.length < LEGACY_HEAD || !data.subarray(0, 4).equals(LEGACY_MAGIC)) return null;
  const factsLength = data.readUInt32BE(4);
  const bodyLength = Number(data.readBigUInt64BE(8));
  if (data.length !== LEGACY_HEAD + factsLength + bodyLength) return null;
  try {
    const facts = JSON.parse(data.subarray(LEGACY_HEAD, LEGACY_HEAD + factsLength).toString('utf8')) as ReplicaFacts;
    if (typeof facts.origin !== 'string' || typeof facts.queueId !== 'string' || typeof facts.envelope?.id !== 'string') return null;
    return { facts, body: data.subarray(LEGACY_HEAD + factsLength) };
  } catch {
    return null;
  }
}
