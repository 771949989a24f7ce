/**
 * Replicas this node keeps for its peers (docs/CLUSTER.md "Replicas"): one file per
 * message under data_dir/replicas/<origin>/<queue id>.rep, fsync'd (the file, then its
 * directory, the directory syncs shared by whoever waits at the same time) before `keep`
 * resolves. A file per message keeps a drop to one unlink and a crash to at most one
 * torn file, which the length check at open finds and deletes.
 *
 * Layout: "SLR1", facts length (u32 BE), body length (u64 BE), facts JSON, body.
 */
import { mkdir, open, readdir, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { ReplicaFacts, ReplicaSink } from './replica-sink.js';

const MAGIC = Buffer.from('SLR1');
const HEAD = 16;
/** Node ids and queue ids become path parts: nothing else may. */
const SAFE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export interface HeldReplica {
  readonly facts: ReplicaFacts;
  readonly body: Buffer;
}

interface Entry {
  readonly receivedAt: number;
}

export class ReplicaStore implements ReplicaSink {
  private readonly held = new Map<string, Map<string, Entry>>();
  private readonly dirSyncs = new Map<string, DirSync>();

  private constructor(private readonly root: string) {}

  /** Opens the store, indexing what an earlier run kept and deleting torn files. */
  static async open(root: string): Promise<ReplicaStore> {
    const store = new ReplicaStore(root);
    await mkdir(root, { recursive: true });
    for (const origin of await readdir(root)) {
      if (!SAFE.test(origin)) continue;
      for (const name of await readdir(join(root, origin))) {
        const path = join(root, origin, name);
        const id = name.endsWith('.rep') ? name.slice(0, -4) : '';
        const facts = SAFE.test(id) ? await readFacts(path) : null;
        if (facts === null) await unlink(path).catch(() => undefined);
        else store.index(origin, id, facts.envelope.receivedAt);
      }
    }
    return store;
  }

  async keep(facts: ReplicaFacts, body: Buffer): Promise<void> {
    const { origin, queueId } = facts;
    if (!SAFE.test(origin) || !SAFE.test(queueId)) throw new Error(`replica with an unusable origin or queue id: ${origin}/${queueId}`);
    const dir = join(this.root, origin);
    if (!this.held.has(origin)) await mkdir(dir, { recursive: true });
    const json = Buffer.from(JSON.stringify(facts));
    const head = Buffer.alloc(HEAD);
    MAGIC.copy(head, 0);
    head.writeUInt32BE(json.length, 4);
    head.writeBigUInt64BE(BigInt(body.length), 8);
    const fh = await open(join(dir, `${queueId}.rep`), 'w');
    try {
      await fh.writev([head, json, body]);
      await fh.datasync();
    } finally {
      await fh.close();
    }
    await this.dirSync(dir).sync();
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
    const data = await readFile(join(this.root, origin, `${id}.rep`));
    const parsed = parse(data);
    if (parsed === null) throw new Error(`replica ${origin}/${id} is damaged`);
    return parsed;
  }

  /** Deletes these replicas (not held ones are skipped); resolves to how many went. No fsync: a drop lost to a crash is redone from the ledger. */
  async drop(origin: string, ids: readonly string[]): Promise<number> {
    const held = this.held.get(origin);
    if (!held) return 0;
    let n = 0;
    for (const id of ids) {
      if (!held.delete(id)) continue;
      n++;
      await unlink(join(this.root, origin, `${id}.rep`)).catch(() => undefined);
    }
    return n;
  }

  private index(origin: string, id: string, receivedAt: number): void {
    let ids = this.held.get(origin);
    if (!ids) this.held.set(origin, (ids = new Map<string, Entry>()));
    ids.set(id, { receivedAt });
  }

  private dirSync(dir: string): DirSync {
    let s = this.dirSyncs.get(dir);
    if (!s) this.dirSyncs.set(dir, (s = new DirSync(dir)));
    return s;
  }
}

function parse(data: Buffer): HeldReplica | null {
  if (data.length < HEAD || !data.subarray(0, 4).equals(MAGIC)) return null;
  const factsLength = data.readUInt32BE(4);
  const bodyLength = Number(data.readBigUInt64BE(8));
  if (data.length !== HEAD + factsLength + bodyLength) return null; // torn by a crash mid-write
  try {
    const facts = JSON.parse(data.subarray(HEAD, HEAD + factsLength).toString('utf8')) as ReplicaFacts;
    if (typeof facts.origin !== 'string' || typeof facts.envelope?.id !== 'string') return null;
    return { facts, body: data.subarray(HEAD + factsLength) };
  } catch {
    return null;
  }
}

async function readFacts(path: string): Promise<ReplicaFacts | null> {
  return parse(await readFile(path))?.facts ?? null;
}

/** Directory fsyncs shared by every keep that waits at the same time (group commit). */
class DirSync {
  private running: Promise<void> | null = null;
  private next: Promise<void> | null = null;

  constructor(private readonly dir: string) {}

  sync(): Promise<void> {
    if (!this.running) {
      this.running = this.run().finally(() => {
        this.running = null;
      });
      return this.running;
    }
    this.next ??= this.running.then(() => {
      this.next = null;
      return this.sync();
    });
    return this.next;
  }

  private async run(): Promise<void> {
    const fh = await open(this.dir, 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  }
}
