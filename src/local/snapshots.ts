import { randomUUID } from 'node:crypto';
import type { NamespaceName, ObjectName } from '../k8s/names.js';
import { isObjectName } from '../k8s/names.js';
import type { VolumeSnapshot } from '../k8s/objects.js';
import type { ObjectKey } from '../catalog/catalog.js';
import type { SnapshotRecord } from '../catalog/records.js';
import { claimKey, describeClaim } from './claims.js';
import { ensureNamespace, resolveSnapshotClass } from './classes.js';
import type { LocalContext } from './context.js';
import { driverParameters } from './csi-requests.js';
import { isRefusal, UserError } from './errors.js';
import { sameValue } from '../util/canonical-json.js';
import type { CreateSnapshotRequest } from '../generated/csi/v1/CreateSnapshotRequest.js';
import type { ApplyResult } from './results.js';

export function snapshotKey(namespace: NamespaceName, name: ObjectName): ObjectKey<'VolumeSnapshot'> {
  return { kind: 'VolumeSnapshot', name, namespace };
}

export function describeSnapshot(namespace: string, name: string): string {
  return `volumesnapshot ${name}${namespace === 'default' ? '' : ` in namespace ${namespace}`}`;
}

/** Takes a snapshot of a bound claim in the same namespace (CreateSnapshot), or leaves an identical one be. */
export async function applySnapshot(context: LocalContext, snapshot: VolumeSnapshot): Promise<ApplyResult> {
  const { namespace, name } = snapshot.metadata;
  const what = describeSnapshot(namespace, name);
  const sourceName = snapshot.spec.source.persistentVolumeClaimName;
  const key = snapshotKey(namespace, name);
  const keys: ObjectKey[] = [key];
  if (isObjectName(sourceName)) keys.push(claimKey(namespace, sourceName));
  const locks = await context.catalog.lock(keys);
  try {
    const existing = await context.catalog.get(key);
    if (existing) {
      const sameSpec =
        sameValue(existing.object.spec.source, snapshot.spec.source) &&
        (snapshot.spec.volumeSnapshotClassName === undefined ||
          snapshot.spec.volumeSnapshotClassName === existing.snapshotClassName);
      if (!sameSpec) {
        throw new UserError(
          `${what} exists with another spec, and a VolumeSnapshot cannot change; delete it and apply it again`,
        );
      }
      if (existing.phase === 'Ready') {
        if (sameValue(existing.object.metadata, snapshot.metadata)) return 'unchanged';
        await context.catalog.put({ ...existing, object: snapshot });
        return 'configured';
      }
      await take(context, existing);
      return 'created';
    }
    const source = isObjectName(sourceName)
      ? await context.catalog.get(claimKey(namespace, sourceName))
      : undefined;
    if (!source)
      throw new UserError(
        `${what}: source ${describeClaim(namespace, sourceName)} not found (a snapshot is taken of a claim in its own namespace)`,
      );
    if (source.phase !== 'Bound' || !source.volume) {
      throw new UserError(
        `${what}: source ${describeClaim(namespace, sourceName)} is not bound yet; apply it again first`,
      );
    }
    const snapshotClass = await resolveSnapshotClass(context, snapshot.spec.volumeSnapshotClassName);
    await ensureNamespace(context, namespace);
    const record: PendingSnapshot = {
      version: 1,
      kind: 'VolumeSnapshot',
      object: snapshot,
      uid: randomUUID(),
      createdAt: new Date().toISOString(),
      phase: 'Pending',
      snapshotClassName: snapshotClass.object.metadata.name,
      pending: {
        sourceVolumeId: source.volume.id,
        origin: {
          volumeMode: source.object.spec.volumeMode,
          fsType: source.volume.fsType,
          sourceStorageClassName: source.storageClassName,
          parameters: snapshotClass.object.parameters,
        },
      },
    };
    // Recorded first, as for a claim: a command killed after CreateSnapshot leaves a Pending
    // snapshot that the next apply or delete finishes.
    await context.catalog.put(record);
    await take(context, record);
    return 'created';
  } finally {
    await locks.release();
  }
}

interface SnapshotOrigin {
  volumeMode: 'Filesystem' | 'Block';
  fsType: 'ext4' | 'xfs' | undefined;
  sourceStorageClassName: string;
  parameters: Record<string, string>;
}

/** A Pending snapshot record keeps what its CreateSnapshot needs, so a retry is the same call. */
interface PendingSnapshot extends SnapshotRecord {
  pending?: { sourceVolumeId: string; origin: SnapshotOrigin };
}

/** The CreateSnapshot of a record, as the csi-snapshotter asks it (names from the record's uid). */
function createRequest(
  record: PendingSnapshot,
  pending: NonNullable<PendingSnapshot['pending']>,
): CreateSnapshotRequest {
  const { namespace, name } = record.object.metadata;
  return {
    source_volume_id: pending.sourceVolumeId,
    name: `snapshot-${record.uid}`,
    parameters: driverParameters(pending.origin.parameters, {
      'csi.storage.k8s.io/volumesnapshot/name': name,
      'csi.storage.k8s.io/volumesnapshot/namespace': namespace,
      'csi.storage.k8s.io/volumesnapshotcontent/name': `snapcontent-${record.uid}`,
    }),
  };
}

function timestamp(time: { seconds: number; nanos: number } | null): string {
  if (!time) return new Date().toISOString();
  return new Date(Number(time.seconds) * 1000 + Math.floor(time.nanos / 1e6)).toISOString();
}

async function take(context: LocalContext, record: PendingSnapshot): Promise<void> {
  const { namespace, name } = record.object.metadata;
  const what = describeSnapshot(namespace, name);
  const pending = record.pending;
  if (!pending) throw new UserError(`${what} is Pending without its request; delete it and apply it again`);
  let response;
  try {
    response = await context.timed('CreateSnapshot', () =>
      context.client.createSnapshot(createRequest(record, pending)),
    );
  } catch (error) {
    if (isRefusal(error)) {
      await context.catalog.remove(snapshotKey(namespace, name));
      throw context.fail(error, `${what} refused`);
    }
    throw context.fail(error, `${what} stays Pending (apply it again to finish, or delete it)`);
  }
  const snapshot = response.snapshot;
  if (!snapshot) throw new UserError(`the driver answered CreateSnapshot for ${name} without a snapshot`);
  const ready: PendingSnapshot = {
    ...record,
    phase: 'Ready',
    snapshot: {
      id: snapshot.snapshot_id,
      restoreBytes: Number(snapshot.size_bytes),
      sourceVolumeId: pending.sourceVolumeId,
      volumeMode: pending.origin.volumeMode,
      fsType: pending.origin.fsType,
      sourceStorageClassName: pending.origin.sourceStorageClassName,
      creationTime: timestamp(snapshot.creation_time),
    },
  };
  delete ready.pending;
  await context.catalog.put(ready);
}

export async function deleteSnapshot(
  context: LocalContext,
  namespace: NamespaceName,
  name: ObjectName,
): Promise<void> {
  const key = snapshotKey(namespace, name);
  const what = describeSnapshot(namespace, name);
  const locks = await context.catalog.lock([key]);
  try {
    const record: PendingSnapshot | undefined = await context.catalog.get(key);
    if (!record) throw new UserError(`${what} not found`);
    let snapshotId = record.snapshot?.id;
    if (snapshotId === undefined && record.pending) {
      try {
        snapshotId = (await context.client.createSnapshot(createRequest(record, record.pending))).snapshot
          ?.snapshot_id;
      } catch {
        // Refused now (its source is gone): then it was never made either.
      }
    }
    if (snapshotId !== undefined) {
      try {
        await context.client.deleteSnapshot({ snapshot_id: snapshotId });
      } catch (error) {
        throw context.fail(error, `deleting ${what}`);
      }
    }
    await context.catalog.remove(key);
  } finally {
    await locks.release();
  }
}
