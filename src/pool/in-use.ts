import { loopsFor } from '../host/loop.js';
import { readMountInfo } from '../host/mountinfo.js';

export interface ImageUsers {
  /** Loop devices the image is attached to (a staged volume has one). */
  devices: string[];
  /** Where those devices' filesystems are mounted: the staging path and every bind of it. */
  mountPoints: string[];
}

/** What on this node uses a volume image: derived from the kernel's state, so it survives restarts. */
export async function imageUsers(image: string): Promise<ImageUsers> {
  const devices = (await loopsFor(image)).map((loop) => loop.name);
  if (devices.length === 0) return { devices, mountPoints: [] };
  const mounts = await readMountInfo();
  const mountPoints = mounts
    .filter((mount) => devices.includes(mount.source))
    .map((mount) => mount.mountPoint);
  return { devices, mountPoints };
}
