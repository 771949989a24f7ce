/**
 * ext4 images on loop devices for the chaos suite (root only): make one, mount it, copy
 * it while mounted (what a power cut leaves on the disk: whatever reached the block
 * device, nothing of the page cache), check a copy as a boot would (e2fsck replays the
 * journal) and unmount everything at the end, even after a failure.
 */
import { execFile, spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { promisify } from 'node:util';

const run = promisify(execFile);

export class LoopImages {
  private readonly mounts: string[] = [];
  private readonly images: string[] = [];

  /** A sparse ext4 image of `size` (truncate syntax, e.g. "256M") at `img`. */
  async make(img: string, size: string): Promise<void> {
    await run('truncate', ['-s', size, img]);
    await run('mkfs.ext4', ['-q', '-F', img]);
  }

  /** Mounts `img` read-write on `dir` through a loop device (created if missing). */
  async mount(img: string, dir: string): Promise<void> {
    mkdirSync(dir, { recursive: true });
    this.images.push(img);
    await run('mount', ['-o', 'loop', img, dir]);
    this.mounts.push(dir);
  }

  /** The image as it is on the loop device's backing file now (async: the client goes on meanwhile). */
  async copy(img: string, to: string): Promise<void> {
    await run('cp', ['--sparse=always', img, to]);
  }

  /** `e2fsck -fy` as a boot would run it; its exit code (0 clean, 1 corrected, 2 corrected and reboot, 4+ left errors). */
  fsck(img: string): { code: number | null; output: string } {
    const r = spawnSync('e2fsck', ['-fy', img], { encoding: 'utf8' });
    return { code: r.status, output: `${r.stdout}${r.stderr}` };
  }

  /** Unmounts what this mounted (newest first; lazily if busy) and detaches any loop device left on its images. */
  release(): string[] {
    const problems: string[] = [];
    for (const dir of this.mounts.splice(0).reverse()) {
      if (spawnSync('umount', [dir]).status !== 0 && spawnSync('umount', ['-l', dir]).status !== 0) problems.push(`umount ${dir} failed`);
    }
    for (const img of this.images.splice(0)) {
      const held = spawnSync('losetup', ['-j', img], { encoding: 'utf8' }).stdout ?? '';
      for (const dev of held.split('\n').map((l) => l.split(':')[0]).filter((d) => d)) {
        if (spawnSync('losetup', ['-d', dev as string]).status !== 0) problems.push(`losetup -d ${dev} failed`);
      }
    }
    return problems;
  }
}
