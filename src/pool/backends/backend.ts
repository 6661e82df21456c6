/**
 * How a pool makes, copies and removes the directories that hold its objects (volumes and
 * snapshots). Every object directory holds meta.json; its image is found with imageIn()
 * (layout.ts), so everything that reads a pool (node service, accounting, in-use checks) is
 * backend-blind.
 */
export interface PoolBackend {
  /** reflink: a directory per object, a copy is one FICLONE of the image. btrfs: the image in a subvolume, a copy is a subvolume snapshot. */
  readonly kind: BackendKind;

  /** Where the image of an object this backend makes in `work` goes. */
  imageIn(work: string): string;

  /** Makes `work` (which does not exist) an empty object directory, ready for its image at imageIn(work). */
  makeEmpty(work: string): Promise<void>;

  /**
   * Makes `work` (which does not exist) an object directory whose image is a copy-on-write copy
   * of `source.image`, sharing every block, durable when this returns. A read-only copy's image
   * cannot be written (a CSI snapshot); otherwise its owner can write it. Fails with ENOENT when
   * the source is gone.
   */
  copy(source: CopySource, work: string, access: 'read-only' | 'writable'): Promise<void>;

  /** Removes an object directory this backend made (or any earlier version made), whole; one that does not exist is fine. */
  remove(dir: string): Promise<void>;

  /**
   * Waits (a bounded time) for the space of removed objects to be free again, where the
   * filesystem frees it after remove() returns; false when some may still be on its way.
   */
  reclaim(poolRoot: string): Promise<boolean>;

  /**
   * Where a new version of a file in `objectDir` is written before it is renamed over the old
   * one: a directory on the same filesystem — and for btrfs, in the same subvolume, since a
   * rename cannot cross subvolumes.
   */
  workDirFor(objectDir: string, poolTmp: string): string;
}

/** The object a copy is made of: its directory and its image (imageIn of it). */
export interface CopySource {
  dir: string;
  image: string;
}

export type BackendKind = 'reflink' | 'btrfs';
