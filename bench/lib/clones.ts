import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fullCopy, remove } from './data.js';
import { summarize } from './timing.js';
import type { Summary } from './timing.js';
import type { World } from './world.js';

export interface CloneTimes {
  clone: Summary;
  snapshot: Summary;
}

/**
 * Times `repeat` CreateVolume-from-volume calls, then `repeat` CreateSnapshot calls, of one
 * source, one after another (each alone, as a person or a CI job makes them), then deletes
 * what they made (untimed), so the next point starts from the same source.
 */
export async function timeClones(
  world: World,
  sourceId: string,
  mode: 'block' | 'mount',
  repeat: number,
  tag: string,
): Promise<CloneTimes> {
  const clones: string[] = [];
  const snapshots: string[] = [];
  const cloneMs: number[] = [];
  const snapshotMs: number[] = [];
  try {
    for (let i = 0; i < repeat; i += 1) {
      const { id, ms } = await world.clone(`bench-${tag}-clone-${i}`, sourceId, mode);
      clones.push(id);
      cloneMs.push(ms);
    }
    for (let i = 0; i < repeat; i += 1) {
      const { id, ms } = await world.snapshot(`bench-${tag}-snap-${i}`, sourceId);
      snapshots.push(id);
      snapshotMs.push(ms);
    }
  } finally {
    for (const id of clones) await world.deleteVolume(id);
    for (const id of snapshots) await world.deleteSnapshot(id);
  }
  return { clone: summarize(cloneMs), snapshot: summarize(snapshotMs) };
}

export interface CopyTimes {
  cpMs: number;
  /** null when the image is larger than --dd-limit (dd writes every byte). */
  ddMs: number | null;
}

/** Full copies of a volume's image into the same pool (cp, then dd), each removed after it is timed. */
export async function timeCopies(
  world: World,
  image: string,
  imageBytes: number,
  ddLimitBytes: number,
): Promise<CopyTimes> {
  const dir = join(world.pool, 'bench-copies');
  await mkdir(dir, { recursive: true });
  const copy = join(dir, 'copy.img');
  try {
    const cpMs = await fullCopy('cp', image, copy);
    await remove(copy);
    const ddMs = imageBytes <= ddLimitBytes ? await fullCopy('dd', image, copy) : null;
    return { cpMs, ddMs };
  } finally {
    await remove(dir);
    await world.trim();
  }
}
