import { freezeFilesystem, thawFilesystem } from '../host/filesystem.js';
import { readMountInfo } from '../host/mountinfo.js';

type Logger = (message: string, fields?: Record<string, unknown>) => void;

/**
 * Runs `action` with the filesystems at `mountPoints` frozen (FIFREEZE), so that a reflink of
 * an image in use is one consistent point in time. One mount point per filesystem is frozen
 * (bind mounts share the superblock), and every frozen one is thawed on every path.
 */
export async function withFrozen<T>(
  mountPoints: string[],
  log: Logger,
  action: () => Promise<T>,
): Promise<T> {
  const mounts = await readMountInfo();
  const seenDevices = new Set<string>();
  const targets: string[] = [];
  for (const point of mountPoints) {
    const device = mounts.find((mount) => mount.mountPoint === point)?.device;
    if (device === undefined || seenDevices.has(device)) continue;
    seenDevices.add(device);
    targets.push(point);
  }
  const frozen: string[] = [];
  try {
    for (const target of targets) {
      await freezeFilesystem(target);
      frozen.push(target);
    }
    return await action();
  } finally {
    for (const target of frozen.reverse()) {
      await thawFilesystem(target).catch((error: unknown) =>
        log('could not thaw a frozen filesystem; writes to it are blocked until `fsfreeze -u` succeeds', {
          mountPoint: target,
          error: error instanceof Error ? error.message : String(error),
        }),
      );
    }
  }
}
