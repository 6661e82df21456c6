import { readdir, stat, statfs } from 'node:fs/promises';
import { errnoCode } from '../errors.js';
import { isSnapshotId, isVolumeId } from '../pool/ids.js';
import type { Pool } from '../pool/pool.js';

export interface PoolUsage {
  sizeBytes: number;
  usedBytes: number;
  availableBytes: number;
  /** Bytes the images hold on disk, each counted in full: st_blocks × 512, summed. */
  imagesAllocatedBytes: number;
  /** A lower bound of what reflinks save: imagesAllocatedBytes − usedBytes, at least 0. */
  sharedBytes: number;
  volumes: number;
  snapshots: number;
}

/** Allocated bytes of each image in `dir` whose entry name passes `isId`; gone ones count 0. */
async function imagesIn<Id extends string>(
  dir: string,
  isId: (name: string) => name is Id,
  imagePath: (id: Id) => Promise<string>,
): Promise<{ count: number; allocatedBytes: number }> {
  const ids = (await readdir(dir)).filter(isId);
  const sizes = await Promise.all(
    ids.map(async (id) => {
      try {
        return (await stat(await imagePath(id))).blocks * 512;
      } catch (error) {
        // Deleted between readdir and stat: a race with DeleteVolume, not a failure.
        if (errnoCode(error) === 'ENOENT') return 0;
        throw error;
      }
    }),
  );
  return { count: ids.length, allocatedBytes: sizes.reduce((sum, size) => sum + size, 0) };
}

/**
 * What the pool gauges show, from one statfs of the pool and one stat per image: O(images),
 * no extent maps. Reflinked blocks count once in the filesystem's used bytes but once per image
 * in the images' allocated bytes, so the difference is what sharing saves; the filesystem's own
 * metadata (log, btrees, reservations: about 1.5% of a fresh XFS pool) and the meta.json files
 * count as used too, so the figure is a lower bound, low by that much, and 0 until sharing
 * exceeds it.
 */
export async function measurePoolUsage(pool: Pool): Promise<PoolUsage> {
  const { layout } = pool;
  const [fs, stats, volumes, snapshots] = await Promise.all([
    statfs(pool.root),
    pool.stats(),
    imagesIn(layout.volumesDir, isVolumeId, (id) => layout.volumeImage(id)),
    imagesIn(layout.snapshotsDir, isSnapshotId, (id) => layout.snapshotImage(id)),
  ]);
  // Used is what the filesystem holds (blocks − free), whatever the host below an embedded pool has left.
  const usedBytes = (fs.blocks - fs.bfree) * fs.bsize;
  const imagesAllocatedBytes = volumes.allocatedBytes + snapshots.allocatedBytes;
  return {
    sizeBytes: stats.totalBytes,
    usedBytes,
    availableBytes: stats.availableBytes,
    imagesAllocatedBytes,
    sharedBytes: Math.max(0, imagesAllocatedBytes - usedBytes),
    volumes: volumes.count,
    snapshots: snapshots.count,
  };
}
