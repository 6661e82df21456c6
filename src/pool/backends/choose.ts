import { statfs } from 'node:fs/promises';
import { BTRFS_MAGIC } from '../../host/btrfs.js';
import type { PoolBackend } from './backend.js';
import { BtrfsBackend } from './btrfs.js';
import { reflinkBackend } from './reflink.js';

/** The backend for a pool directory: subvolumes on btrfs, reflinks on anything else (XFS). */
export async function backendFor(root: string): Promise<PoolBackend> {
  return (await statfs(root)).type === BTRFS_MAGIC ? new BtrfsBackend() : reflinkBackend;
}
