import { realpath } from 'node:fs/promises';
import { enableDirectIo } from './loop.js';
import type { DirectIoState } from './loop.js';
import { findMount } from './mountinfo.js';
import { run } from './exec.js';

/**
 * Mounts an image file through a loop device. util-linux sets the loop device to clear itself
 * when the filesystem is unmounted, so nothing is left attached after umount. mount(8) has no
 * option for direct I/O, so it is switched on once mounted (which keeps that autoclear flag):
 * the image's data then sits in one page cache, the mounted filesystem's, not in the host
 * filesystem's too. Where the kernel refuses it the mount works as before, buffered; the
 * returned state says why.
 */
export async function mountImage(image: string, target: string, fsType: string): Promise<DirectIoState> {
  await run('mount', ['-t', fsType, '-o', 'loop', image, target], { timeoutMs: 120_000 });
  const device = (await findMount(await realpath(target)))?.source;
  if (device === undefined)
    return { on: false, reason: `no mount found at ${target} after mounting ${image}` };
  return enableDirectIo(device);
}

export async function unmount(target: string): Promise<void> {
  await run('umount', [target], { timeoutMs: 120_000 });
}

/**
 * Mounts a device. XFS clones carry their source's filesystem UUID, and XFS refuses a second
 * mount of the same UUID, so XFS is mounted with nouuid: source and clone can then be used on
 * one node together.
 */
export async function mountDevice(
  device: string,
  target: string,
  fsType: string,
  options: string[] = [],
): Promise<void> {
  const all = fsType === 'xfs' ? ['nouuid', ...options] : options;
  const args = ['-t', fsType];
  if (all.length > 0) args.push('-o', all.join(','));
  await run('mount', [...args, device, target], { timeoutMs: 120_000 });
}

/** Bind-mounts a directory or a device node onto `target`; read-only when asked. */
export async function bindMount(source: string, target: string, readOnly: boolean): Promise<void> {
  await run('mount', ['--bind', ...(readOnly ? ['-o', 'ro'] : []), source, target], { timeoutMs: 120_000 });
}
