import { join } from 'node:path';
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
  volumeImage(id: VolumeId): string {
    return join(this.volumeDir(id), IMAGE_FILE);
  }
  volumeMeta(id: VolumeId): string {
    return join(this.volumeDir(id), META_FILE);
  }
  snapshotDir(id: SnapshotId): string {
    return join(this.snapshotsDir, id);
  }
  snapshotImage(id: SnapshotId): string {
    return join(this.snapshotDir(id), IMAGE_FILE);
  }
  snapshotMeta(id: SnapshotId): string {
    return join(this.snapshotDir(id), META_FILE);
  }
}

export const IMAGE_FILE = 'disk.img';
export const META_FILE = 'meta.json';
