import { readFile } from 'node:fs/promises';
import { Code, DollyError, errnoCode } from '../errors.js';
import { writeFileAtomic } from '../util/atomic-file.js';
import { isSnapshotId, isVolumeId } from './ids.js';
import type { SnapshotId, VolumeId } from './ids.js';

export type VolumeMode = 'mount' | 'block';
export const FS_TYPES = ['ext4', 'xfs'] as const;
export type FsType = (typeof FS_TYPES)[number];

export type ContentSource =
  { kind: 'volume'; volumeId: VolumeId } | { kind: 'snapshot'; snapshotId: SnapshotId };

/** What a volume is, as stored in volumes/<id>/meta.json. */
export interface VolumeMeta {
  version: 1;
  id: VolumeId;
  name: string;
  sizeBytes: number;
  mode: VolumeMode;
  /** The filesystem made at first stage; undefined for block volumes. */
  fsType: FsType | undefined;
  parameters: Record<string, string>;
  contentSource: ContentSource | undefined;
  createdAt: string;
}

export async function writeMeta(path: string, meta: VolumeMeta): Promise<void> {
  await writeFileAtomic(path, `${JSON.stringify(meta, null, 2)}\n`);
}

/** Reads a volume's metadata; undefined when the volume does not exist. */
export async function readMeta(path: string, expectedId: VolumeId): Promise<VolumeMeta | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if (errnoCode(error) === 'ENOENT' || errnoCode(error) === 'ENOTDIR') return undefined;
    throw error;
  }
  return parseMeta(text, path, expectedId);
}

function corrupt(path: string, what: string): DollyError {
  return new DollyError(
    Code.DATA_LOSS,
    `volume metadata ${path} is damaged (${what}); restore it or delete the volume directory`,
  );
}

export function parseMeta(text: string, path: string, expectedId: VolumeId): VolumeMeta {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw corrupt(path, 'not valid JSON');
  }
  if (typeof value !== 'object' || value === null) throw corrupt(path, 'not an object');
  const record = value as Record<string, unknown>;
  const { id, name, sizeBytes, mode, fsType, parameters, contentSource, createdAt } = record;
  if (record.version !== 1) throw corrupt(path, `unknown version ${String(record.version)}`);
  if (id !== expectedId) throw corrupt(path, `id ${String(id)} does not match its directory`);
  if (typeof name !== 'string') throw corrupt(path, 'name missing');
  if (typeof sizeBytes !== 'number' || !Number.isSafeInteger(sizeBytes) || sizeBytes <= 0) {
    throw corrupt(path, 'sizeBytes missing');
  }
  if (mode !== 'mount' && mode !== 'block') throw corrupt(path, 'mode missing');
  if (fsType !== undefined && !FS_TYPES.includes(fsType as FsType)) throw corrupt(path, 'unknown fsType');
  if (typeof parameters !== 'object' || parameters === null || Array.isArray(parameters)) {
    throw corrupt(path, 'parameters missing');
  }
  for (const parameter of Object.values(parameters)) {
    if (typeof parameter !== 'string') throw corrupt(path, 'parameters must be strings');
  }
  if (typeof createdAt !== 'string') throw corrupt(path, 'createdAt missing');
  return {
    version: 1,
    id: expectedId,
    name,
    sizeBytes,
    mode,
    fsType: fsType as FsType | undefined,
    parameters: parameters as Record<string, string>,
    contentSource: parseContentSource(contentSource, path),
    createdAt,
  };
}

function parseContentSource(value: unknown, path: string): ContentSource | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'object') {
    const source = value as Record<string, unknown>;
    if (source.kind === 'volume' && typeof source.volumeId === 'string' && isVolumeId(source.volumeId)) {
      return { kind: 'volume', volumeId: source.volumeId };
    }
    if (
      source.kind === 'snapshot' &&
      typeof source.snapshotId === 'string' &&
      isSnapshotId(source.snapshotId)
    ) {
      return { kind: 'snapshot', snapshotId: source.snapshotId };
    }
  }
  throw corrupt(path, 'contentSource malformed');
}
