import { mkdir, open, statfs } from 'node:fs/promises';
import { run } from '../../src/host/exec.js';
import type { Sandbox } from '../../test/helpers/sandbox.js';

/**
 * The pool filesystems the suite compares. `xfs`: XFS with reflink=1, where a clone is one
 * FICLONE of the image. `btrfs`: a btrfs filesystem, where the driver picks its own way (today
 * the same FICLONE; a subvolume snapshot once the btrfs backend lands): the suite only names
 * the filesystem and asks the driver through CSI, so it needs no change for that.
 */
export type Backend = 'xfs' | 'btrfs';
export const BACKENDS: readonly Backend[] = ['xfs', 'btrfs'];

export const MKFS: Record<Backend, string[]> = {
  xfs: ['mkfs.xfs', '-q', '-m', 'reflink=1'],
  btrfs: ['mkfs.btrfs', '-q', '-f'],
};

/**
 * A loop-mounted filesystem of `backend` in the sandbox, on a sparse image of `sizeBytes`
 * (costing only what is written). The sandbox's cleanup unmounts it and frees its loop device.
 */
export async function makePool(
  sandbox: Sandbox,
  backend: Backend,
  name: string,
  sizeBytes: number,
): Promise<string> {
  if (backend === 'xfs') return sandbox.xfsPool(name, sizeBytes);
  const image = sandbox.path(`${name}.img`);
  const mountPoint = sandbox.path(name);
  const handle = await open(image, 'wx');
  await handle.truncate(sizeBytes);
  await handle.close();
  const [tool, ...args] = MKFS.btrfs as [string, ...string[]];
  await run(tool, [...args, image]);
  await mkdir(mountPoint);
  await run('mount', ['-t', 'btrfs', '-o', 'loop', image, mountPoint]);
  return mountPoint;
}

/** Bytes that unprivileged writes can still take on the filesystem holding `path`. */
export async function freeBytes(path: string): Promise<number> {
  const fs = await statfs(path);
  return fs.bavail * fs.bsize;
}

/**
 * Bytes in use on the filesystem holding `path`, after syncing it: btrfs (and XFS's delayed
 * allocation) account for written data only once it reaches the disk.
 */
export async function usedBytes(path: string): Promise<number> {
  await run('sync', ['-f', path]);
  const fs = await statfs(path);
  return (fs.blocks - fs.bfree) * fs.bsize;
}
