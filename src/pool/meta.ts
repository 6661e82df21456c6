import { readFile, writeFile } from 'node:fs/promises';
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

/** What a snapshot is, as stored in snapshots/<id>/meta.json: a read-only image of its source. */
export interface SnapshotMeta extends CommonMetaFields {
  version: 1;
  id: SnapshotId;
  /** The volume it was taken of; the snapshot outlives it. */
  sourceVolumeId: VolumeId;
}

/** Reads a snapshot's metadata; undefined when the snapshot does not exist. */
export async function readSnapshotMeta(
  path: string,
  expectedId: SnapshotId,
): Promise<SnapshotMeta | undefined> {
  const text = await readMetaText(path);
  if (text === undefined) return undefined;
  const fail = (what: string): DollyError => corruptMeta(path, what, 'snapshot');
  const record = parseMetaObject(text, fail);
  if (record.id !== expectedId) throw fail(`id ${String(record.id)} does not match its directory`);
  if (typeof record.sourceVolumeId !== 'string' || !isVolumeId(record.sourceVolumeId))
    throw fail('sourceVolumeId missing');
  return {
    version: 1,
    id: expectedId,
    sourceVolumeId: record.sourceVolumeId,
    ...parseCommonFields(record, fail),
  };
}

/** `workDir`: where the temporary copy is written (the pool's tmp/, emptied at start); default beside `path`. */
export async function writeMeta(
  path: string,
  meta: VolumeMeta | SnapshotMeta,
  workDir?: string,
): Promise<void> {
  await writeFileAtomic(path, `${JSON.stringify(meta, null, 2)}\n`, 0o600, workDir);
}

/**
 * Writes the record of an object being built in tmp/, which becomes visible only when its whole
 * directory is renamed into place: written in place (a copy's directory may hold its source's
 * record, which this replaces). Not fsynced: the builder makes it durable, with the rest of the
 * object, before the rename (pool/durability.ts).
 */
export async function writeMetaInWork(path: string, meta: VolumeMeta | SnapshotMeta): Promise<void> {
  await writeFile(path, `${JSON.stringify(meta, null, 2)}\n`, { mode: 0o600 });
}

/** The text of a metadata file; undefined when the object (its directory) does not exist. */
export async function readMetaText(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    if (errnoCode(error) === 'ENOENT' || errnoCode(error) === 'ENOTDIR') return undefined;
    throw error;
  }
}

/** Reads a volume's metadata; undefined when the volume does not exist. */
export async function readMeta(path: string, expectedId: VolumeId): Promise<VolumeMeta | undefined> {
  const text = await readMetaText(path);
  return text === undefined ? undefined : parseMeta(text, path, expectedId);
}

export function corruptMeta(path: string, what: string, kind = 'volume'): DollyError {
  return new DollyError(
    Code.DATA_LOSS,
    `${kind} metadata ${path} is damaged (${what}); restore it or delete the ${kind} directory`,
  );
}

const corrupt = (path: string, what: string): DollyError => corruptMeta(path, what);

/** JSON.parse to a plain object, or a DATA_LOSS error naming the file. */
export function parseMetaObject(text: string, fail: (what: string) => DollyError): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw fail('not valid JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw fail('not an object');
  return value as Record<string, unknown>;
}

/** The fields volumes and snapshots share. */
export type CommonMetaFields = Pick<
  VolumeMeta,
  'name' | 'sizeBytes' | 'mode' | 'fsType' | 'parameters' | 'createdAt'
>;

export function parseCommonFields(
  record: Record<string, unknown>,
  fail: (what: string) => DollyError,
): CommonMetaFields {
  const { name, sizeBytes, mode, fsType, parameters, createdAt } = record;
  if (record.version !== 1) throw fail(`unknown version ${String(record.version)}`);
  if (typeof name !== 'string') throw fail('name missing');
  if (typeof sizeBytes !== 'number' || !Number.isSafeInteger(sizeBytes) || sizeBytes <= 0) {
    throw fail('sizeBytes missing');
  }
  if (mode !== 'mount' && mode !== 'block') throw fail('mode missing');
  if (fsType !== undefined && !FS_TYPES.includes(fsType as FsType)) throw fail('unknown fsType');
  if (typeof parameters !== 'object' || parameters === null || Array.isArray(parameters)) {
    throw fail('parameters missing');
  }
  for (const parameter of Object.values(parameters)) {
    if (typeof parameter !== 'string') throw fail('parameters must be strings');
  }
  if (typeof createdAt !== 'string') throw fail('createdAt missing');
  return {
    name,
    sizeBytes,
    mode,
    fsType: fsType as FsType | undefined,
    parameters: parameters as Record<string, string>,
    createdAt,
  };
}

export function parseMeta(text: string, path: string, expectedId: VolumeId): VolumeMeta {
  const fail = (what: string): DollyError => corrupt(path, what);
  const record = parseMetaObject(text, fail);
  if (record.id !== expectedId) throw fail(`id ${String(record.id)} does not match its directory`);
  return {
    version: 1,
    id: expectedId,
    ...parseCommonFields(record, fail),
    contentSource: parseContentSource(record.contentSource, path),
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
