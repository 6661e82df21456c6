import { chmod, mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { syncfs } from '../../host/kernel.js';
import { fsyncPath } from '../../util/atomic-file.js';
import { IMAGE_FILE } from '../layout.js';
import { reflink } from '../reflink.js';
import type { PoolBackend } from './backend.js';

/** Objects are plain directories; a copy is one FICLONE of the image (XFS with reflink=1, btrfs). */
export const reflinkBackend: PoolBackend = {
  kind: 'reflink',

  imageIn: (work) => join(work, IMAGE_FILE),

  async makeEmpty(work) {
    await mkdir(work, { mode: 0o700 });
  },

  async copy(source, work, access) {
    await mkdir(work, { mode: 0o700 });
    const image = join(work, IMAGE_FILE);
    await reflink(source.image, image);
    // The copy has its source's mode: a snapshot's image is read-only, a volume's is not.
    await chmod(image, access === 'read-only' ? 0o400 : 0o600);
    // FICLONE's new extent map is durable only once the file is fsynced.
    await fsyncPath(image);
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
