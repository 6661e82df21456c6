import { readFile, rm } from 'node:fs/promises';
import { errnoCode } from '../errors.js';
import type { VolumeId } from '../pool/ids.js';
import type { PoolLayout } from '../pool/layout.js';
import { writeFileAtomic } from '../util/atomic-file.js';

/**
 * Where a filesystem volume is staged on this node. The kernel's mount table cannot say: a
 * publish is a bind of the staging mount, the same device and root, so a request naming a
 * publish target as its staging path would look staged there. The record lives in the pool
 * (<pool>/staged/<volume-id>) and is only ever believed while that path still holds a mount of
 * the volume's device, so a record outliving its mount (a reboot) is ignored.
 */
export async function readStagedPath(layout: PoolLayout, id: VolumeId): Promise<string | undefined> {
  try {
    return (await readFile(layout.stagedRecord(id), 'utf8')).trim() || undefined;
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return undefined;
    throw error;
  }
}

export async function writeStagedPath(layout: PoolLayout, id: VolumeId, stagingPath: string): Promise<void> {
  await writeFileAtomic(layout.stagedRecord(id), `${stagingPath}\n`, 0o600, layout.stagedDir);
}

export async function removeStagedPath(layout: PoolLayout, id: VolumeId): Promise<void> {
  await rm(layout.stagedRecord(id), { force: true });
}
