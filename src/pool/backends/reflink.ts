import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { syncfs } from '../../host/kernel.js';
import { reflink } from '../reflink.js';
import type { PoolBackend } from './backend.js';

/** Objects are plain directories; a copy is one FICLONE of the image (XFS with reflink=1, btrfs). */
export const reflinkBackend: PoolBackend = {
  kind: 'reflink',

  async makeEmpty(work) {
    await mkdir(work, { mode: 0o700 });
  },

  async copy(sourceDir, work, imageName) {
    await mkdir(work, { mode: 0o700 });
    await reflink(join(sourceDir, imageName), join(work, imageName));
  },

  async remove(dir) {
    await rm(dir, { recursive: true, force: true });
  },

  // XFS frees an unlinked image's blocks in the background (inode garbage collection);
  // syncfs finishes that work, so statfs then counts them free.
  async reclaim(poolRoot) {
    await syncfs(poolRoot);
    return true;
  },

  // Temporary files live in the pool's tmp/, which is emptied at start: a crash leaves nothing
  // in an object's directory.
  workDirFor: (_objectDir, poolTmp) => poolTmp,
};
