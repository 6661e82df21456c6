import { constants } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { open, readdir, readlink, realpath, stat, statfs } from 'node:fs/promises';
import { DollyError, errnoCode, notFound } from '../errors.js';
import { FIEMAP_EXTENT, mapExtents } from '../host/extent-map.js';
import { readMountInfo } from '../host/mountinfo.js';
import { ByteRanges } from './byte-ranges.js';
import type { SnapshotId, VolumeId } from './ids.js';
import { isSnapshotId, isVolumeId } from './ids.js';
import { PoolLayout } from './layout.js';

/** Space of one image, in bytes, from the filesystem's extent map. */
export interface ImageSpace {
  /** The image's size as a file (st_size): what the volume offers, not what it takes. */
  apparentBytes: number;
  /** Sum of its extents (written and preallocated blocks): what a full copy of it would take. */
  allocatedBytes: number;
  /** Of those, the bytes the filesystem flags as shared (reflinked with another file). */
  sharedBytes: number;
  /** Of those, the bytes only this image references: what deleting it would free. */
  exclusiveBytes: number;
  /** Extents in its map (holes not counted). */
  extents: number;
}

export interface VolumeSpace extends ImageSpace {
  id: VolumeId;
}

export interface SnapshotSpace extends ImageSpace {
  id: SnapshotId;
}

export interface PoolSpaceReport {
  /** The pool directory, resolved. */
  root: string;
  /** The filesystem's own totals (statfs); used includes its metadata and everything not an image. */
  filesystem: { sizeBytes: number; usedBytes: number; availableBytes: number };
  /** Sorted by ID. */
  volumes: VolumeSpace[];
  snapshots: SnapshotSpace[];
  totals: {
    /** allocatedBytes summed over all images: what the images would take as full copies. */
    allocatedBytes: number;
    /** The union of all images' physical extents: what the images really occupy. */
    physicalBytes: number;
    /** allocatedBytes − physicalBytes: what sharing saves. */
    savedBytes: number;
  };
  /** Entries with a valid ID whose image could not be measured as an image of this pool, and why. */
  skipped: { path: string; reason: string }[];
}

/** xfs_io processes at a time: enough to hide their start-up cost, few enough to leave the host alone. */
const PARALLEL_MAPS = 4;

interface Measured {
  space: ImageSpace;
  ranges: ByteRanges;
  /** Bytes with no physical location yet: counted as this image's own, outside the union. */
  unplacedBytes: number;
}

type Outcome = { measured: Measured } | { skipped: string } | { gone: true };

/**
 * Measures the space of every image in a pool from the filesystem's own accounting: statfs for
 * the totals, and each image's extent map (FIEMAP) for what it holds and shares. Read-only, and
 * safe while the driver works: an image created meanwhile may or may not be counted, and one
 * deleted or moved to trash/ before its map is done is left out, never an error. tmp/ and trash/
 * are not images; entries in volumes/ and snapshots/ that are not valid IDs are ignored.
 *
 * Cost: one xfs_io per image, and O(n log n) in the total number of extents n.
 */
export async function measurePoolSpace(
  poolRoot: string,
  options: { signal?: AbortSignal } = {},
): Promise<PoolSpaceReport> {
  const root = await realpath(poolRoot).catch((error: unknown) => {
    if (errnoCode(error) === 'ENOENT') throw notFound(`pool directory ${poolRoot} does not exist`);
    throw error;
  });
  const rootStat = await stat(root);
  if (!rootStat.isDirectory()) throw notFound(`pool directory ${poolRoot} is not a directory`);
  const layout = new PoolLayout(root);
  const [fs, mounts, volumeIds, snapshotIds] = await Promise.all([
    statfs(root),
    readMountInfo(),
    entries(layout.volumesDir, isVolumeId),
    entries(layout.snapshotsDir, isSnapshotId),
  ]);

  // Physical offsets are only comparable within one filesystem. The pool's own subvolumes (btrfs)
  // each have their own st_dev, so "another filesystem" is told by the mounts, not by st_dev.
  const mountedInside = mounts
    .map((mount) => mount.mountPoint)
    .filter((point) => point.startsWith(`${root}/`));
  const jobs = [
    ...(await Promise.all(
      volumeIds.map(async (id) => ({ kind: 'volume' as const, id, path: await layout.volumeImage(id) })),
    )),
    ...(await Promise.all(
      snapshotIds.map(async (id) => ({
        kind: 'snapshot' as const,
        id,
        path: await layout.snapshotImage(id),
      })),
    )),
  ];
  const outcomes = new Array<Outcome | undefined>(jobs.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let index = next++; index < jobs.length; index = next++) {
      const job = jobs[index];
      if (job) outcomes[index] = await measureImage(job.path, mountedInside, options.signal);
    }
  };
  await Promise.all(Array.from({ length: Math.min(PARALLEL_MAPS, jobs.length) }, worker));

  const report: PoolSpaceReport = {
    root,
    filesystem: {
      sizeBytes: fs.blocks * fs.bsize,
      usedBytes: (fs.blocks - fs.bfree) * fs.bsize,
      availableBytes: fs.bavail * fs.bsize,
    },
    volumes: [],
    snapshots: [],
    totals: { allocatedBytes: 0, physicalBytes: 0, savedBytes: 0 },
    skipped: [],
  };
  const physical = new ByteRanges();
  let unplacedBytes = 0;
  jobs.forEach((job, index) => {
    const outcome = outcomes[index];
    if (outcome === undefined || 'gone' in outcome) return;
    if ('skipped' in outcome) {
      report.skipped.push({ path: job.path, reason: outcome.skipped });
      return;
    }
    const { space, ranges } = outcome.measured;
    if (job.kind === 'volume') report.volumes.push({ id: job.id, ...space });
    else report.snapshots.push({ id: job.id, ...space });
    report.totals.allocatedBytes += space.allocatedBytes;
    physical.addAll(ranges);
    unplacedBytes += outcome.measured.unplacedBytes;
  });
  report.totals.physicalBytes = physical.coveredBytes() + unplacedBytes;
  report.totals.savedBytes = report.totals.allocatedBytes - report.totals.physicalBytes;
  return report;
}

/** The names in `dir` that are valid IDs, sorted; none if the directory does not exist (yet). */
async function entries<Id extends string>(dir: string, isId: (name: string) => name is Id): Promise<Id[]> {
  try {
    return (await readdir(dir)).filter(isId).sort();
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return [];
    throw error;
  }
}

/**
 * Opens the image without following a symbolic link or blocking on a FIFO, checks that the file
 * opened is a regular file that sits exactly at `path` on the pool's filesystem (physical
 * offsets are only comparable within one filesystem), maps it, and checks that it is still in
 * place afterwards.
 */
async function measureImage(
  path: string,
  mountedInside: readonly string[],
  signal: AbortSignal | undefined,
): Promise<Outcome> {
  let handle: FileHandle;
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (error) {
    switch (errnoCode(error)) {
      case 'ENOENT':
        return { gone: true };
      case 'ELOOP':
        return { skipped: 'a symbolic link, not an image file' };
      case 'ENOTDIR':
        return { skipped: 'its directory is not a directory' };
      default:
        throw error;
    }
  }
  try {
    const before = await handle.stat();
    if (!before.isFile()) return { skipped: 'not a regular file' };
    const mount = mountedInside.find((point) => path === point || path.startsWith(`${point}/`));
    if (mount !== undefined)
      return { skipped: `on another filesystem than the pool's (mounted at ${mount})` };
    const placed = await placement(handle, path);
    if (placed !== 'in place') return placed;

    const ranges = new ByteRanges();
    const space: ImageSpace = {
      apparentBytes: before.size,
      allocatedBytes: 0,
      sharedBytes: 0,
      exclusiveBytes: 0,
      extents: 0,
    };
    let unplacedBytes = 0;
    try {
      await mapExtents(
        handle.fd,
        (extent) => {
          space.extents += 1;
          space.allocatedBytes += extent.lengthBytes;
          if (extent.flags & FIEMAP_EXTENT.SHARED) space.sharedBytes += extent.lengthBytes;
          // Delayed allocation that the sync did not catch (a write racing the map): its blocks
          // exist only as a reservation, so they are this image's alone.
          if (extent.flags & FIEMAP_EXTENT.UNKNOWN) unplacedBytes += extent.lengthBytes;
          else ranges.add(extent.physicalBytes, extent.physicalBytes + extent.lengthBytes);
        },
        { signal, timeoutMs: 600_000 },
      );
    } catch (error) {
      if (error instanceof DollyError) {
        throw new DollyError(error.code, `measuring ${path}: ${error.message}`, { cause: error });
      }
      throw error;
    }
    space.exclusiveBytes = space.allocatedBytes - space.sharedBytes;

    // Deleted or moved to trash/ while it was mapped: no longer an image of the pool.
    const after = await placement(handle, path);
    if (after !== 'in place') return { gone: true };
    return { measured: { space, ranges, unplacedBytes } };
  } finally {
    await handle.close();
  }
}

/**
 * Whether the open file is still the one at `path`, by the kernel's own record of its path. One
 * that was deleted or moved away (a delete renames it to trash/ first) is gone; one that `path`
 * still leads to, through a link to elsewhere, is not where an image belongs.
 */
async function placement(handle: FileHandle, path: string): Promise<'in place' | Outcome> {
  const actual = await readlink(`/proc/self/fd/${handle.fd}`);
  if (actual === path) return 'in place';
  const [opened, atPath] = await Promise.all([handle.stat(), stat(path).catch(() => undefined)]);
  if (atPath === undefined || atPath.ino !== opened.ino || atPath.dev !== opened.dev) return { gone: true };
  return { skipped: `resolves to ${actual}, outside its place in the pool` };
}
