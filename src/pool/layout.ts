import { lstatSync } from 'node:fs';
import { lstat } from 'node:fs/promises';
import { join } from 'node:path';
import { errnoCode } from '../errors.js';
import type { SnapshotId, VolumeId } from './ids.js';

/**
 * Every path inside the pool is built here, and only from validated IDs (the branded types),
 * so no string from a request ever reaches a path.
 */
export class PoolLayout {
  constructor(readonly root: string) {}

  get volumesDir(): string {
    return join(this.root, 'volumes');
  }
  get snapshotsDir(): string {
    return join(this.root, 'snapshots');
  }
  /** Work in progress: a volume is built here and renamed into place whole. Emptied at start. */
  get tmpDir(): string {
    return join(this.root, 'tmp');
  }
  /** Deletes in progress: renamed here in one step, then removed. Emptied at start. */
  get trashDir(): string {
    return join(this.root, 'trash');
  }

  /** Freezes in progress, so that a restart thaws what a killed driver left frozen. */
  get frozenDir(): string {
    return join(this.root, 'frozen');
  }

  /**
   * Where each staged filesystem volume is staged on this node, one file per volume: mountinfo
   * cannot tell a staging mount from a bind of it (a publish), so the node service keeps it.
   */
  get stagedDir(): string {
    return join(this.root, 'staged');
  }
  stagedRecord(id: VolumeId): string {
    return join(this.stagedDir, id);
  }

  volumeDir(id: VolumeId): string {
    return join(this.volumesDir, id);
  }
  /** The volume's image (where depends on how its directory was made: imageIn). */
  volumeImage(id: VolumeId): Promise<string> {
    return imageIn(this.volumeDir(id));
  }
  volumeMeta(id: VolumeId): string {
    return join(this.volumeDir(id), META_FILE);
  }
  snapshotDir(id: SnapshotId): string {
    return join(this.snapshotsDir, id);
  }
  snapshotImage(id: SnapshotId): Promise<string> {
    return imageIn(this.snapshotDir(id));
  }
  snapshotMeta(id: SnapshotId): string {
    return join(this.snapshotDir(id), META_FILE);
  }
}

export const IMAGE_FILE = 'disk.img';
export const META_FILE = 'meta.json';

/**
 * The btrfs backend's subvolume inside an object's directory, holding only its image: a copy
 * snapshots it and never writes into it, so the copy shares every tree block with its source
 * (writing there, even a chmod, would make the next commit copy the shared tree leaves: O(the
 * image's extents)). meta.json stays beside it, in the object's plain directory.
 */
export const DATA_DIR = 'data';

/**
 * Where the image of the object in `dir` is: <dir>/data/disk.img for objects the btrfs backend
 * makes, <dir>/disk.img for the reflink backend's and for btrfs objects of older versions (a
 * plain directory, or a subvolume holding the image itself). A missing object gives the second.
 */
export async function imageIn(dir: string): Promise<string> {
  const data = join(dir, DATA_DIR);
  const info = await lstat(data).catch((error: unknown) => {
    if (errnoCode(error) === 'ENOENT' || errnoCode(error) === 'ENOTDIR') return undefined;
    throw error;
  });
  return info?.isDirectory() ? join(data, IMAGE_FILE) : join(dir, IMAGE_FILE);
}

/** imageIn for tools outside the driver (tests, the fault harness, benchmarks). */
export function imageInSync(dir: string): string {
  const data = join(dir, DATA_DIR);
  return lstatSync(data, { throwIfNoEntry: false })?.isDirectory()
    ? join(data, IMAGE_FILE)
    : join(dir, IMAGE_FILE);
}
