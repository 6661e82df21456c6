import { stat } from 'node:fs/promises';
import { Code } from '../errors.js';
import { run } from './exec.js';

/** statfs f_type of btrfs. */
export const BTRFS_MAGIC = 0x9123683e;

/** The inode number of every subvolume's root directory (BTRFS_FIRST_FREE_OBJECTID). */
const SUBVOLUME_ROOT_INODE = 256;

/** Whether `path`, a directory on btrfs, is the root of a subvolume. */
export async function isSubvolume(path: string): Promise<boolean> {
  const info = await stat(path);
  return info.isDirectory() && info.ino === SUBVOLUME_ROOT_INODE;
}

/** Makes an empty subvolume at `path` (which must not exist). */
export async function createSubvolume(path: string): Promise<void> {
  await run('btrfs', ['subvolume', 'create', path], { timeoutMs: 60_000 });
}

/**
 * Marks a directory so that files created in it are NOCOW (chattr +C): written in place, not
 * copied on every write. Only files created after the mark inherit it (a file only while empty).
 */
export async function markNoCow(dir: string): Promise<void> {
  await run('chattr', ['+C', dir], { timeoutMs: 60_000 });
}

/**
 * Snapshots the subvolume at `source` to `destination` (which must not exist): O(1) in the
 * size and the fragmentation of what it holds, and durable when it returns (the kernel commits
 * the transaction that creates it).
 */
export async function snapshotSubvolume(
  source: string,
  destination: string,
  options: { readOnly?: boolean } = {},
): Promise<void> {
  const args = ['subvolume', 'snapshot', ...(options.readOnly ? ['-r'] : []), source, destination];
  await run('btrfs', args, { timeoutMs: 60_000, failureCode: Code.INTERNAL });
}

/** Deletes the subvolume at `path`; its space is reclaimed by the kernel in the background. */
export async function deleteSubvolume(path: string): Promise<void> {
  await run('btrfs', ['subvolume', 'delete', path], { timeoutMs: 60_000 });
}

/**
 * Waits until the subvolumes deleted on the filesystem at `path` are gone and their space is
 * free again (the kernel's cleaner frees it after the delete returns).
 */
export async function waitForDeletedSubvolumes(path: string, timeoutMs: number): Promise<void> {
  await run('btrfs', ['subvolume', 'sync', path], { timeoutMs });
}

/** Commits the filesystem's current transaction (what syncfs does on btrfs). */
export async function commitTransaction(path: string): Promise<void> {
  await run('btrfs', ['filesystem', 'sync', path], { timeoutMs: 60_000 });
}

/** Makes a btrfs filesystem on a device or image file. */
export async function makeBtrfs(target: string, label: string): Promise<void> {
  await run('mkfs.btrfs', ['-q', '-L', label, target], { timeoutMs: 300_000 });
}

/** Grows a mounted btrfs filesystem to the size of its device. */
export async function growBtrfs(mountPoint: string): Promise<void> {
  await run('btrfs', ['filesystem', 'resize', 'max', mountPoint], { timeoutMs: 300_000 });
}
