import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { errnoCode } from '../../errors.js';
import { createSubvolume, deleteSubvolume, isSubvolume, snapshotSubvolume } from '../../host/btrfs.js';
import { reflink } from '../reflink.js';
import type { PoolBackend } from './backend.js';

/**
 * One btrfs subvolume per object; a copy is a subvolume snapshot, whose cost does not grow with
 * the image's size or with how fragmented its writes have made it (a reflink remaps every
 * extent). Snapshots are writable: a CSI snapshot's image is kept read-only by its mode, as on
 * the reflink backend, and its meta.json must still be written after the copy.
 */
export const btrfsBackend: PoolBackend = {
  kind: 'btrfs',

  async makeEmpty(work) {
    await createSubvolume(work);
  },

  async copy(sourceDir, work, imageName) {
    // ENOENT from here on means the source is gone, which the caller reports as such.
    if (await isSubvolume(sourceDir)) {
      await snapshotSubvolume(sourceDir, work);
      return;
    }
    // An object made by the reflink backend before this pool had subvolumes: the copy is a
    // subvolume from now on, holding a reflink of the image.
    await createSubvolume(work);
    await reflink(join(sourceDir, imageName), join(work, imageName));
  },

  async remove(dir) {
    let subvolume: boolean;
    try {
      subvolume = await isSubvolume(dir);
    } catch (error) {
      if (errnoCode(error) === 'ENOENT') return;
      throw error;
    }
    // A subvolume goes in one step (its blocks are freed by the kernel in the background); a
    // plain directory is an object of the reflink days, or work that failed before its subvolume.
    if (subvolume) await deleteSubvolume(dir);
    else await rm(dir, { recursive: true, force: true });
  },

  workDirFor: (objectDir) => objectDir,
};
