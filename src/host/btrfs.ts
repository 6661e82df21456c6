import { stat } from 'node:fs/promises';
import { run } from './exec.js';
import { checkAbsolutePath, isKernelError, kernelAddon, kernelFailure, splitEntry } from './kernel.js';

/** statfs f_type of btrfs. */
export const BTRFS_MAGIC = 0x9123683e;

/** The inode number of every subvolume's root directory (BTRFS_FIRST_FREE_OBJECTID). */
const SUBVOLUME_ROOT_INODE = 256;

/** Whether `path`, a directory on btrfs, is the root of a subvolume. */
export async function isSubvolume(path: string): Promise<boolean> {
  const info = await stat(path);
  return info.isDirectory() && info.ino === SUBVOLUME_ROOT_INODE;
}

/** Makes an empty subvolume at `path` (which must not exist): BTRFS_IOC_SUBVOL_CREATE. */
export async function createSubvolume(path: string): Promise<void> {
  const { dir, name } = splitEntry(path);
  try {
    await kernelAddon().subvolumeCreate(dir, name);
  } catch (error) {
    throw kernelFailure(`cannot create the btrfs subvolume ${path}`, error);
  }
}

/**
 * Marks a directory so that files created in it are NOCOW (chattr +C, FS_NOCOW_FL): written in
 * place, not copied on every write. Only files created after the mark inherit it (a file only
 * while empty).
 */
export async function markNoCow(dir: string): Promise<void> {
  checkAbsolutePath(dir);
  try {
    await kernelAddon().setNoCow(dir);
  } catch (error) {
    throw kernelFailure(`cannot mark ${dir} NOCOW`, error);
  }
}

/**
 * Snapshots the subvolume at `source` to `destination` (which must not exist):
 * BTRFS_IOC_SNAP_CREATE_V2. O(1) in the size and the fragmentation of what it holds, and
 * durable when it returns (the kernel commits the transaction that creates it).
 */
export async function snapshotSubvolume(
  source: string,
  destination: string,
  options: { readOnly?: boolean } = {},
): Promise<void> {
  checkAbsolutePath(source);
  const { dir, name } = splitEntry(destination);
  try {
    await kernelAddon().subvolumeSnapshot(source, dir, name, options.readOnly ?? false);
  } catch (error) {
    const notSubvolume = isKernelError(error) && error.code === 'EINVAL' ? ' (is it a subvolume?)' : '';
    throw kernelFailure(
      `cannot snapshot the btrfs subvolume ${source}${notSubvolume} to ${destination}`,
      error,
    );
  }
}

/**
 * Deletes the subvolume at `path`: BTRFS_IOC_SNAP_DESTROY. Its space is reclaimed by the kernel
 * in the background.
 */
export async function deleteSubvolume(path: string): Promise<void> {
  const { dir, name } = splitEntry(path);
  try {
    await kernelAddon().subvolumeDelete(dir, name);
  } catch (error) {
    throw kernelFailure(`cannot delete the btrfs subvolume ${path}`, error);
  }
}

/**
 * Waits until the subvolumes deleted on the filesystem at `path` are gone and their space is
 * free again (the kernel's cleaner frees it after the delete returns).
 */
export async function waitForDeletedSubvolumes(path: string, timeoutMs: number): Promise<void> {
  await run('btrfs', ['subvolume', 'sync', path], { timeoutMs });
}

/**
 * Commits the current transaction of the filesystem holding the directory `path`
 * (BTRFS_IOC_SYNC, what `btrfs filesystem sync` and syncfs do on btrfs).
 */
export async function commitTransaction(path: string): Promise<void> {
  checkAbsolutePath(path);
  try {
    await kernelAddon().btrfsSync(path);
  } catch (error) {
    throw kernelFailure(`cannot commit the btrfs transaction of ${path}`, error);
  }
}

/** Makes a btrfs filesystem on a device or image file. */
export async function makeBtrfs(target: string, label: string): Promise<void> {
  await run('mkfs.btrfs', ['-q', '-L', label, target], { timeoutMs: 300_000 });
}

/** Grows a mounted btrfs filesystem to the size of its device. */
export async function growBtrfs(mountPoint: string): Promise<void> {
  await run('btrfs', ['filesystem', 'resize', 'max', mountPoint], { timeoutMs: 300_000 });
}
