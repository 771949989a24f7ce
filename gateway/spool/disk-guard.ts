/**
 * Whether the spool's disk can take more mail: free space (statfs) minus what was
 * written since it was measured minus what transactions in flight are about to write,
 * against `min_free_disk`. A write that hits ENOSPC or EDQUOT makes the node refuse at
 * once and measures again, instead of waiting for the next periodic check (issue 11:
 * with a check every 5 s the threshold was passed by 5 s of ingest, and the write that
 * failed answered 451 4.3.0 instead of 452 4.3.1, RFC 3463 §3.4 "mail system full").
 */
import { SluiceError } from '../errors.js';

export interface DiskGuardDeps {
  readonly freeBytes: () => Promise<number>;
  /** Read at each use: a reload may change it. */
  readonly minFree: () => number;
  /** A change between low and not low, with the free bytes then estimated. */
  readonly changed: (low: boolean, freeBytes: number, why: string) => void;
}

export class DiskGuard {
  private measured = Number.POSITIVE_INFINITY;
  private writtenSince = 0;
  private reserved = 0;
  private wasLow = false;
  private checking: Promise<void> | null = null;

  constructor(private readonly deps: DiskGuardDeps) {}

  /** Free bytes as best known now: measured, less what was written or is being written since. */
  get estimate(): number {
    return this.measured - this.writtenSince - this.reserved;
  }

  low(): boolean {
    return this.estimate < this.deps.minFree();
  }

  /**
   * Room for a message of `bytes` about to be committed: reserves it until `release`,
   * or throws SPOOL_FULL when it would take free space below min_free_disk.
   */
  reserve(bytes: number): (written: boolean) => void {
    if (this.estimate - bytes < this.deps.minFree()) {
      this.note('a message would take free space below min_free_disk');
      throw new SluiceError('SPOOL_FULL', `no room for ${bytes} bytes above min_free_disk`);
    }
    this.reserved += bytes;
    let done = false;
    return (written) => {
      if (done) return;
      done = true;
      this.reserved -= bytes;
      if (written) this.writtenSince += bytes;
      if (this.low()) this.note('writes since the last check reached min_free_disk');
    };
  }

  /** A write failed: when for lack of space, refuse from now on and measure again. */
  failed(err: unknown): boolean {
    if (!isNoSpace(err)) return false;
    this.measured = 0;
    this.writtenSince = 0;
    this.note(`a spool write failed: ${noSpaceCode(err)}`);
    return true;
  }

  /** Measures free space (periodically, and after each change the estimate saw). */
  check(): Promise<void> {
    this.checking ??= this.measure().finally(() => {
      this.checking = null;
    });
    return this.checking;
  }

  private async measure(): Promise<void> {
    const writtenBefore = this.writtenSince;
    const free = await this.deps.freeBytes();
    this.measured = free;
    // Bytes written while statfs ran may or may not be in its figure: count them (pessimistic).
    this.writtenSince -= writtenBefore;
    this.report('measured');
  }

  private note(why: string): void {
    this.report(why);
    void this.check().catch(() => undefined);
  }

  private report(why: string): void {
    const low = this.low();
    if (low === this.wasLow) return;
    this.wasLow = low;
    this.deps.changed(low, Math.max(0, this.estimate), why);
  }
}

/** ENOSPC or EDQUOT anywhere in the cause chain. */
export function isNoSpace(err: unknown): boolean {
  return noSpaceCode(err) !== null;
}

function noSpaceCode(err: unknown): string | null {
  for (let e = err, depth = 0; e && depth < 8; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOSPC' || code === 'EDQUOT') return code;
  }
  return null;
}
