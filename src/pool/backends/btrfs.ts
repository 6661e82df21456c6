import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { errnoCode } from '../../errors.js';
import {
  commitTransaction,
  createSubvolume,
  deleteSubvolume,
  isSubvolume,
  markNoCow,
  snapshotSubvolume,
  waitForDeletedSubvolumes,
} from '../../host/btrfs.js';
import { reflink } from '../reflink.js';
import type { BackendKind, PoolBackend } from './backend.js';

/**
 * How long a request that needs space waits for the kernel's cleaner to free deleted volumes.
 * Short: on a full pool the cleaner itself may be slow, and the caller is told to retry.
 */
const RECLAIM_WAIT_MS = 5_000;

/**
 * One btrfs subvolume per object; a copy is a subvolume snapshot, whose cost does not grow with
 * the image's size or with how fragmented its writes have made it (a reflink remaps every
 * extent). Snapshots are writable: a CSI snapshot's image is kept read-only by its mode, as on
 * the reflink backend, and its meta.json must still be written after the copy.
 */
export class BtrfsBackend implements PoolBackend {
  readonly kind: BackendKind = 'btrfs';
  /** Subvolumes deleted since the cleaner was last waited for: their space may not be free yet. */
  private pendingDeletes = 0;

  async makeEmpty(work: string): Promise<void> {
    await createSubvolume(work);
    // The image (made next, inside) is NOCOW, like an image on XFS: its blocks are overwritten
    // in place, so a write needs new space only where the block is shared with a copy or was
    // never written. With copy-on-write for every block, a volume's own filesystem would fail
    // even journal writes once the pool is full, and its data path would fragment and checksum.
    // Snapshots keep the flag; their shared blocks are still copied on first write.
    await markNoCow(work);
  }

  async copy(sourceDir: string, work: string, imageName: string): Promise<void> {
    // ENOENT from here on means the source is gone, which the caller reports as such.
    if (await isSubvolume(sourceDir)) {
      await snapshotSubvolume(sourceDir, work);
      return;
    }
    // An object made by the reflink backend before this pool had subvolumes: the copy is a
    // subvolume from now on, holding a reflink of the image.
    await createSubvolume(work);
    await reflink(join(sourceDir, imageName), join(work, imageName));
  }

  async remove(dir: string): Promise<void> {
    let subvolume: boolean;
    try {
      subvolume = await isSubvolume(dir);
    } catch (error) {
      if (errnoCode(error) === 'ENOENT') return;
      throw error;
    }
    // A subvolume goes in one step (the kernel frees its blocks in the background); a plain
    // directory is an object of the reflink days, or work that failed before its subvolume.
    if (subvolume) {
      await deleteSubvolume(dir);
      this.pendingDeletes += 1;
    } else {
      await rm(dir, { recursive: true, force: true });
    }
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

  workDirFor(objectDir: string): string {
    return objectDir;
  }
}
