import { chmod, lstat, mkdir, readdir, rename, rm, rmdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { DollyError, errnoCode } from '../../errors.js';
import {
  commitTransaction,
  createSubvolume,
  deleteSubvolume,
  isSubvolume,
  markNoCow,
  snapshotSubvolume,
  waitForDeletedSubvolumes,
} from '../../host/btrfs.js';
import { fsyncPath } from '../../util/atomic-file.js';
import { DATA_DIR, IMAGE_FILE, META_FILE } from '../layout.js';
import { reflink } from '../reflink.js';
import type { BackendKind, CopySource, PoolBackend } from './backend.js';

/**
 * How long a request that needs space waits for the kernel's cleaner to free deleted volumes.
 * Short: on a full pool the cleaner itself may be slow, and the caller is told to retry.
 */
const RECLAIM_WAIT_MS = 5_000;

/** Where an older object's image is put together before it becomes the copy's data/. */
const STAGING_DIR = 'data.new';

/**
 * An object is a plain directory holding meta.json and the subvolume data/, which holds only
 * the image. A copy is a snapshot of data/ (read-only for a CSI snapshot), whose cost does not
 * grow with the image's size or with how fragmented its writes have made it (a reflink remaps
 * every extent). Nothing is written into a copy's data/ afterwards: even a chmod there would
 * make the next transaction commit copy the tree leaves it shares with its source, and that
 * costs milliseconds per leaf of the image's extent records (measured: 6–13 ms at 200,000
 * extents; docs/performance.md).
 */
export class BtrfsBackend implements PoolBackend {
  readonly kind: BackendKind = 'btrfs';
  /** Subvolumes deleted since the cleaner was last waited for: their space may not be free yet. */
  private pendingDeletes = 0;

  imageIn(work: string): string {
    return join(work, DATA_DIR, IMAGE_FILE);
  }

  async makeEmpty(work: string): Promise<void> {
    await mkdir(work, { mode: 0o700 });
    const data = join(work, DATA_DIR);
    await createSubvolume(data);
    // The image (made next, inside) is NOCOW, like an image on XFS: its blocks are overwritten
    // in place, so a write needs new space only where the block is shared with a copy or was
    // never written. With copy-on-write for every block, a volume's own filesystem would fail
    // even journal writes once the pool is full, and its data path would fragment and checksum.
    // Snapshots keep the flag; their shared blocks are still copied on first write.
    await markNoCow(data);
  }

  async copy(source: CopySource, work: string, access: 'read-only' | 'writable'): Promise<void> {
    // ENOENT from here on means the source is gone, which the caller reports as such.
    const readOnly = access === 'read-only';
    const sourceData = join(source.dir, DATA_DIR);
    await mkdir(work, { mode: 0o700 });
    if (source.image === join(sourceData, IMAGE_FILE)) {
      // Durable when it returns: the snapshot ioctl commits its transaction.
      await snapshotSubvolume(sourceData, join(work, DATA_DIR), { readOnly });
      return;
    }
    await this.copyOlderObject(source, work, readOnly);
  }

  /**
   * A source made before objects had a data/ subvolume: a subvolume holding image and
   * meta.json (snapshotted, its meta.json dropped), or a plain directory of the reflink backend
   * (its image reflinked into a new subvolume). Made writable in data.new/, then renamed to
   * data/, or snapshotted read-only there. Slower than a snapshot of data/ (it writes into the
   * copy), but only once: the copy has the new layout.
   */
  private async copyOlderObject(source: CopySource, work: string, readOnly: boolean): Promise<void> {
    const staging = join(work, STAGING_DIR);
    const image = join(staging, IMAGE_FILE);
    if (await isSubvolume(source.dir)) {
      await snapshotSubvolume(source.dir, staging);
      await unlink(join(staging, META_FILE)).catch((error: unknown) => {
        if (errnoCode(error) !== 'ENOENT') throw error;
      });
    } else {
      await createSubvolume(staging);
      await reflink(source.image, image);
    }
    // A snapshot's image of those versions is mode 0400; the subvolume is what is read-only now.
    await chmod(image, 0o600);
    if (readOnly) {
      // The snapshot ioctl commits everything written into staging before it.
      await snapshotSubvolume(staging, join(work, DATA_DIR), { readOnly: true });
      await deleteSubvolume(staging);
      this.pendingDeletes += 1;
    } else {
      await fsyncPath(image);
      await rename(staging, join(work, DATA_DIR));
    }
  }

  async remove(dir: string): Promise<void> {
    if (await this.removeObject(dir)) return;
    let subvolume: boolean;
    try {
      subvolume = await isSubvolume(dir);
    } catch (error) {
      if (errnoCode(error) === 'ENOENT') return;
      throw error;
    }
    // A subvolume goes in one step (the kernel frees its blocks in the background): an object of
    // an older version. Otherwise the subvolumes in the directory (data/, or the work of a copy
    // that failed), then the directory.
    if (subvolume) {
      await this.deleteSubvolume(dir);
      return;
    }
    for (const entry of await readdir(dir)) {
      const path = join(dir, entry);
      if ((await lstat(path)).isDirectory() && (await isSubvolume(path))) await this.deleteSubvolume(path);
    }
    await rm(dir, { recursive: true, force: true });
  }

  /**
   * Removes an object directory of this layout (data/ and meta.json) in three calls, without
   * looking first: every delete goes through here. False, having removed nothing else, when
   * the directory is not one (an older object, failed work) or holds more.
   */
  private async removeObject(dir: string): Promise<boolean> {
    try {
      await this.deleteSubvolume(join(dir, DATA_DIR));
    } catch (error) {
      // No such directory, no data/, or a data/ that is no subvolume (EINVAL).
      if (['ENOENT', 'ENOTDIR', 'EINVAL'].includes(kernelErrno(error) ?? '')) return false;
      throw error;
    }
    await unlink(join(dir, META_FILE)).catch((error: unknown) => {
      if (errnoCode(error) !== 'ENOENT') throw error;
    });
    try {
      await rmdir(dir);
    } catch (error) {
      if (errnoCode(error) === 'ENOTEMPTY' || errnoCode(error) === 'EEXIST') return false;
      throw error;
    }
    return true;
  }

  private async deleteSubvolume(path: string): Promise<void> {
    await deleteSubvolume(path);
    this.pendingDeletes += 1;
  }

  async reclaim(poolRoot: string): Promise<boolean> {
    // A deleted file's blocks are free once its transaction commits; a deleted subvolume's once
    // the cleaner has dropped it, after that.
    await commitTransaction(poolRoot);
    if (this.pendingDeletes === 0) return true;
    const waitingFor = this.pendingDeletes;
    try {
      await waitForDeletedSubvolumes(poolRoot, RECLAIM_WAIT_MS);
    } catch {
      return false; // still cleaning: the caller answers with what is free now
    }
    this.pendingDeletes -= waitingFor;
    await commitTransaction(poolRoot);
    return true;
  }

  // meta.json of an older object lives inside its subvolume, and a rename cannot cross
  // subvolumes: its new version is written beside it.
  workDirFor(objectDir: string): string {
    return objectDir;
  }
}

/** The errno of a failed kernel call, also when it comes wrapped in a DollyError (host/btrfs.ts). */
function kernelErrno(error: unknown): string | undefined {
  return errnoCode(error instanceof DollyError ? error.cause : error);
}
