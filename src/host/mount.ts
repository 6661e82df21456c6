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
