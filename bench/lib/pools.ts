import { mkdir, open, statfs } from 'node:fs/promises';
import { run } from '../../src/host/exec.js';
import { mountImage } from '../../src/host/mount.js';
import type { Sandbox } from '../../test/helpers/sandbox.js';

/**
 * The pool filesystems the suite compares, hence the driver's backends. `xfs`: XFS with
 * reflink=1 (reflink backend: a clone is one FICLONE of the image). `btrfs`: btrfs (subvolume
 * backend: a clone is one subvolume snapshot). The suite only names the filesystem and asks the
 * driver through CSI.
 */
export type Backend = 'xfs' | 'btrfs';
export const BACKENDS: readonly Backend[] = ['xfs', 'btrfs'];

export const MKFS: Record<Backend, string[]> = {
  xfs: ['mkfs.xfs', '-q', '-m', 'reflink=1'],
  btrfs: ['mkfs.btrfs', '-q', '-f'],
};

/**
 * A loop-mounted filesystem of `backend` in the sandbox, on a sparse image of `sizeBytes`
 * (costing only what is written), mounted the way the driver mounts its embedded pool: its loop
 * device with direct I/O, so that it stands in for a disk (no second page cache that would make
 * the pool look faster than a disk, and volumes on it slower by comparison). The sandbox's
 * cleanup unmounts it and frees its loop device.
 */
export async function makePool(
  sandbox: Sandbox,
  backend: Backend,
  name: string,
  sizeBytes: number,
): Promise<string> {
  const image = sandbox.path(`${name}.img`);
  const mountPoint = sandbox.path(name);
  const handle = await open(image, 'wx');
  await handle.truncate(sizeBytes);
  await handle.close();
  const [tool, ...args] = MKFS[backend] as [string, ...string[]];
  await run(tool, [...args, image]);
  await mkdir(mountPoint);
  const directIo = await mountImage(image, mountPoint, backend);
  if (!directIo.on) throw new Error(`the bench pool ${mountPoint} has no direct I/O: ${directIo.reason}`);
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
