import { run } from './exec.js';

/** Makes an XFS filesystem with reflinks (shared copy-on-write extents) on a device or image file. */
export async function makeXfsWithReflink(target: string, label: string): Promise<void> {
  await run('mkfs.xfs', ['-q', '-m', 'reflink=1', '-L', label, target], { timeoutMs: 300_000 });
}

/** Grows a mounted XFS filesystem to the size of its device. */
export async function growXfs(mountPoint: string): Promise<void> {
  await run('xfs_growfs', [mountPoint], { timeoutMs: 300_000 });
}
