/**
 * The local-disk spool: one file per message, written to tmp/, fdatasync'd, renamed into
 * msg/, then the directory fsync'd. Directory syncs are shared: every rename that happened
 * before a sync started is covered by it (group commit), so no 250 goes out before its
 * entry is durable and a burst of commits costs one directory fsync, not one each.
 *
 * File layout: "SLUICE1 <metaLen> <bodyLen> <sha256 of meta+body>\n" meta-json body.
 * A torn or corrupt file fails the length or checksum test and is moved to quarantine/.
 */
import { createHash } from 'node:crypto';
import { appendFile, mkdir, open, readdir, readFile, rename, statfs, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { AttemptRecord, Envelope, RecipientState, RecoveredMessage, Spool } from './types.js';
import { SluiceError } from '../errors.js';
import { DirSyncer } from './dir-syncer.js';
import { BodyCache } from './body-cache.js';

const MAGIC = 'SLUICE1';

export class DiskSpool implements Spool {
  private readonly msgDir: string;
  private readonly tmpDir: string;
  private readonly quarantineDir: string;
  private readonly dirSync: DirSyncer;
  /** Bodies of recently committed messages: most are delivered seconds later, without a read. */
  private readonly recent = new BodyCache(64 * 1024 * 1024);
  /** Messages that have a journal file, so removal does not try to unlink one that is not there. */
  private readonly journalled = new Set<string>();

  private constructor(private readonly root: string) {
    this.msgDir = join(root, 'msg');
    this.tmpDir = join(root, 'tmp');
    this.quarantineDir = join(root, 'quarantine');
    this.dirSync = new DirSyncer(this.msgDir);
  }

  static async open(root: string): Promise<DiskSpool> {
    const spool = new DiskSpool(root);
    for (const d of [spool.msgDir, spool.tmpDir, spool.quarantineDir]) await mkdir(d, { recursive: true });
    return spool;
  }

  async commit(envelope: Envelope, body: Buffer): Promise<void> {
    const meta = Buffer.from(JSON.stringify(envelope));
    const hash = createHash('sha256').update(meta).update(body).digest('hex');
    const head = Buffer.from(`${MAGIC} ${meta.length} ${body.length} ${hash}\n`);
    const tmp = join(this.tmpDir, `${envelope.id}.msg`);
    const final = join(this.msgDir, `${envelope.id}.msg`);
    try {
      const fh = await open(tmp, 'w', 0o600);
      try {
        await fh.writev([head, meta, body]);
        await fh.datasync();
      } finally {
        await fh.close();
      }
      await rename(tmp, final);
      await this.dirSync.sync();
      this.recent.set(envelope.id, body);
    } catch (err) {
      await unlink(tmp).catch(() => undefined);
      throw new SluiceError('SPOOL_WRITE_FAILED', `spool write failed for ${envelope.id}`, { cause: err });
    }
  }

  async readBody(id: string): Promise<Buffer> {
    const cached = this.recent.get(id);
    if (cached) return cached;
    return (await this.read(id)).body;
  }

  async readEnvelope(id: string): Promise<Envelope> {
    return (await this.read(id)).envelope;
  }

  record(id: string, rcpt: string, state: RecipientState | AttemptRecord): void {
    const line = typeof state === 'string' ? { r: rcpt, s: state } : { r: rcpt, a: state.attempts, ...(state.nextAt === undefined ? {} : { n: state.nextAt }) };
    this.journalled.add(id);
    // Not awaited and not fsync'd: losing this line only means a recipient is retried.
    appendFile(join(this.msgDir, `${id}.log`), `${JSON.stringify(line)}\n`).catch(() => undefined);
  }

  async remove(id: string): Promise<void> {
    this.recent.delete(id);
    await unlink(join(this.msgDir, `${id}.msg`)).catch(() => undefined);
    if (this.journalled.delete(id)) await unlink(join(this.msgDir, `${id}.log`)).catch(() => undefined);
  }

  async recover(onMessage: (m: RecoveredMessage) => void, onCorrupt: (file: string, reason: string) => void): Promise<number> {
    // Anything in tmp/ never got its 250: it is not ours to deliver.
    for (const f of await readdir(this.tmpDir)) await unlink(join(this.tmpDir, f)).catch(() => undefined);
    let found = 0;
    const names = (await readdir(this.msgDir)).filter((f) => f.endsWith('.msg')).sort();
    for (const name of names) {
      const path = join(this.msgDir, name);
      const parsed = parseEntry(await readFile(path));
      if (typeof parsed === 'string') {
        await rename(path, join(this.quarantineDir, name)).catch(() => undefined);
        await rename(path.replace(/\.msg$/, '.log'), join(this.quarantineDir, name.replace(/\.msg$/, '.log'))).catch(() => undefined);
        onCorrupt(name, parsed);
        continue;
      }
      const { done, attempts, retryAt, exists } = await readJournal(path.replace(/\.msg$/, '.log'));
      if (exists) this.journalled.add(parsed.envelope.id);
      onMessage({ envelope: parsed.envelope, done, attempts, retryAt });
      found++;
    }
    return found;
  }

  async freeBytes(): Promise<number> {
    const s = await statfs(this.root);
    return s.bavail * s.bsize;
  }

  async close(): Promise<void> {
    await this.dirSync.sync();
  }

  private async read(id: string): Promise<{ envelope: Envelope; body: Buffer }> {
    const parsed = parseEntry(await readFile(join(this.msgDir, `${id}.msg`)));
    if (typeof parsed === 'string') throw new SluiceError('SPOOL_CORRUPT', `${id}: ${parsed}`);
    return parsed;
  }
}

function parseEntry(data: Buffer): { envelope: Envelope; body: Buffer } | string {
  const nl = data.indexOf(0x0a);
  if (nl < 0 || nl > 200) return 'no header line';
  const m = /^SLUICE1 (\d+) (\d+) ([0-9a-f]{64})$/.exec(data.subarray(0, nl).toString('latin1'));
  if (!m) return 'bad header line';
  const metaLen = Number(m[1]);
  const bodyLen = Number(m[2]);
  if (data.length !== nl + 1 + metaLen + bodyLen) return `length ${data.length} does not match header (torn write?)`;
  const meta = data.subarray(nl + 1, nl + 1 + metaLen);
  const body = data.subarray(nl + 1 + metaLen);
  const hash = createHash('sha256').update(meta).update(body).digest('hex');
  if (hash !== m[3]) return 'checksum mismatch';
  try {
    return { envelope: JSON.parse(meta.toString('utf8')) as Envelope, body };
  } catch {
    return 'envelope is not JSON';
  }
}

async function readJournal(path: string): Promise<{ done: Map<string, RecipientState>; attempts: Map<string, number>; retryAt: Map<string, number>; exists: boolean }> {
  const done = new Map<string, RecipientState>();
  const attempts = new Map<string, number>();
  const retryAt = new Map<string, number>();
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    return { done, attempts, retryAt, exists: false };
  }
  for (const line of text.split('\n')) {
    if (!line) continue;
    try {
      const rec = JSON.parse(line) as { r: string; s?: RecipientState; a?: number; n?: number };
      if (rec.s) done.set(rec.r, rec.s);
      if (typeof rec.a === 'number') attempts.set(rec.r, rec.a);
      if (typeof rec.n === 'number') retryAt.set(rec.r, rec.n);
      else if (typeof rec.a === 'number') retryAt.delete(rec.r);
    } catch {
      // A torn last line after a crash: the rest of the journal still counts.
    }
  }
  return { done, attempts, retryAt, exists: true };
}
