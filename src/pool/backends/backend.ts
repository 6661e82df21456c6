/**
 * How a pool makes and removes the directories that hold its objects (volumes and snapshots).
 * The layout is the same on every backend — <dir>/disk.img and <dir>/meta.json — so everything
 * that reads a pool (node service, accounting, in-use checks) is backend-blind; only making,
 * copying and removing an object directory differ.
 */
export interface PoolBackend {
  /** reflink: a directory per object, a copy is one FICLONE of the image. btrfs: a subvolume per object, a copy is a subvolume snapshot. */
  readonly kind: BackendKind;

  /** Makes `work` (which does not exist) an empty object directory. */
  makeEmpty(work: string): Promise<void>;

  /**
   * Makes `work` (which does not exist) an object directory whose image `imageName` is a
   * copy-on-write copy of the one in `sourceDir`, sharing every block. Other files of the source
   * may come along; the caller rewrites what it keeps. Fails with ENOENT when the source is gone.
   */
  copy(sourceDir: string, work: string, imageName: string): Promise<void>;

  /** Removes an object directory this backend made, whole; one that does not exist is fine. */
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

export type BackendKind = 'reflink' | 'btrfs';
