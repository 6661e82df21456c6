import { run } from './exec.js';

/**
 * Mounts an image file through a loop device. util-linux sets the loop device to clear itself
 * when the filesystem is unmounted, so nothing is left attached after umount.
 */
export async function mountImage(image: string, target: string, fsType: string): Promise<void> {
  await run('mount', ['-t', fsType, '-o', 'loop', image, target], { timeoutMs: 120_000 });
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
