import { randomUUID } from 'node:crypto';
import type { CreateVolumeRequest } from '../generated/csi/v1/CreateVolumeRequest.js';
import type { NamespaceName, ObjectName } from '../k8s/names.js';
import { isObjectName } from '../k8s/names.js';
import { FS_TYPE_ANNOTATION, SNAPSHOT_GROUP } from '../k8s/objects.js';
import type { DataSourceReference, PersistentVolumeClaim } from '../k8s/objects.js';
import { formatQuantity, parseStorageQuantity } from '../k8s/quantity.js';
import type { ClaimRecord, FsType, SnapshotRecord } from '../catalog/records.js';
import type { ObjectKey } from '../catalog/catalog.js';
import { faultPoint } from '../util/fault.js';
import { ensureNamespace, resolveStorageClass } from './classes.js';
import type { LocalContext } from './context.js';
import {
  FS_TYPE_PARAMETER,
  FS_TYPES,
  driverParameters,
  nodeCapability,
  volumeCapabilities,
} from './csi-requests.js';
import { isRefusal, UserError } from './errors.js';
import { sameValue } from '../util/canonical-json.js';
import type { ApplyResult } from './results.js';

export function claimKey(namespace: NamespaceName, name: ObjectName): ObjectKey<'PersistentVolumeClaim'> {
  return { kind: 'PersistentVolumeClaim', name, namespace };
}

export function describeClaim(namespace: string, name: string): string {
  return `persistentvolumeclaim ${name}${namespace === 'default' ? '' : ` in namespace ${namespace}`}`;
}

/** The claim's data source after Kubernetes' rules for dataSource/dataSourceRef; undefined for none. */
export function dataSourceOf(
  claim: PersistentVolumeClaim,
): { kind: 'PersistentVolumeClaim' | 'VolumeSnapshot'; name: string } | undefined {
  const { dataSource, dataSourceRef } = claim.spec;
  if (dataSource && dataSourceRef) {
    const same =
      dataSource.kind === dataSourceRef.kind &&
      dataSource.name === dataSourceRef.name &&
      dataSource.apiGroup === dataSourceRef.apiGroup &&
      dataSourceRef.namespace === undefined;
    if (!same)
      throw new UserError(
        'spec.dataSource and spec.dataSourceRef name different objects; when both are set they must be the same (or set only one)',
      );
  }
  const reference: DataSourceReference | undefined = dataSourceRef ?? dataSource;
  if (!reference) return undefined;
  const field = dataSourceRef ? 'spec.dataSourceRef' : 'spec.dataSource';
  if (reference.namespace !== undefined && reference.namespace !== claim.metadata.namespace) {
    throw new UserError(
      `${field}.namespace ${reference.namespace}: a clone is made in its source's namespace; create this claim in namespace ${reference.namespace} (cross-namespace data sources are not supported)`,
    );
  }
  if (reference.kind === 'PersistentVolumeClaim') {
    if (reference.apiGroup !== '') {
      throw new UserError(
        `${field}.apiGroup ${reference.apiGroup}: a PersistentVolumeClaim is in the core API group; leave apiGroup empty or out`,
      );
    }
    return { kind: 'PersistentVolumeClaim', name: reference.name };
  }
  if (reference.kind === 'VolumeSnapshot') {
    if (reference.apiGroup !== SNAPSHOT_GROUP) {
      throw new UserError(
        `${field}.apiGroup ${reference.apiGroup || '(empty)'}: a VolumeSnapshot source needs apiGroup ${SNAPSHOT_GROUP}`,
      );
    }
    return { kind: 'VolumeSnapshot', name: reference.name };
  }
  throw new UserError(
    `${field}.kind ${reference.kind}${reference.apiGroup ? ` (apiGroup ${reference.apiGroup})` : ''} is not supported: clone a PersistentVolumeClaim (apiGroup empty) or restore a VolumeSnapshot (apiGroup ${SNAPSHOT_GROUP})`,
  );
}

interface ResolvedSource {
  kind: 'PersistentVolumeClaim' | 'VolumeSnapshot';
  name: string;
  contentSource: NonNullable<CreateVolumeRequest['volume_content_source']>;
  sizeBytes: number;
  fsType: FsType | undefined;
}

async function elsewhere(
  context: LocalContext,
  kind: 'PersistentVolumeClaim' | 'VolumeSnapshot',
  name: ObjectName,
  namespace: string,
): Promise<string> {
  const others = (await context.catalog.namespaces()).filter((ns) => ns !== namespace);
  for (const ns of others) {
    if (await context.catalog.get({ kind, name, namespace: ns })) {
      return ` (there is one in namespace ${ns}: a clone must be in the same namespace as its source, so create it in ${ns})`;
    }
  }
  return '';
}

/** Finds the source and checks Kubernetes' rules: it exists here, is bound/ready, same mode, not larger. */
async function resolveSource(
  context: LocalContext,
  claim: PersistentVolumeClaim,
  source: { kind: 'PersistentVolumeClaim' | 'VolumeSnapshot'; name: string },
  requestBytes: number,
): Promise<ResolvedSource> {
  const namespace = claim.metadata.namespace;
  const { name } = source;
  if (source.kind === 'PersistentVolumeClaim') {
    const record = isObjectName(name) ? await context.catalog.get(claimKey(namespace, name)) : undefined;
    if (!record) {
      const hint = isObjectName(name)
        ? await elsewhere(context, 'PersistentVolumeClaim', name, namespace)
        : '';
      throw new UserError(`source ${describeClaim(namespace, name)} not found${hint}`);
    }
    if (record.phase !== 'Bound' || !record.volume) {
      throw new UserError(
        `source ${describeClaim(namespace, name)} is not bound yet (Pending: its apply did not finish); apply it again, then the clone`,
      );
    }
    if (record.object.spec.volumeMode !== claim.spec.volumeMode) {
      throw new UserError(
        `spec.volumeMode ${claim.spec.volumeMode} differs from the source's (${record.object.spec.volumeMode}): a clone has its source's volume mode; set volumeMode: ${record.object.spec.volumeMode}`,
      );
    }
    if (requestBytes < record.volume.capacityBytes) {
      throw new UserError(
        `spec.resources.requests.storage ${formatQuantity(requestBytes)} is smaller than the source's ${formatQuantity(record.volume.capacityBytes)}: a clone must be at least as large as its source; ask for ${formatQuantity(record.volume.capacityBytes)} or more`,
      );
    }
    return {
      kind: 'PersistentVolumeClaim',
      name,
      contentSource: { volume: { volume_id: record.volume.id } },
      sizeBytes: record.volume.capacityBytes,
      fsType: record.volume.fsType,
    };
  }
  const record: SnapshotRecord | undefined = isObjectName(name)
    ? await context.catalog.get({ kind: 'VolumeSnapshot', name, namespace })
    : undefined;
  if (!record) {
    const hint = isObjectName(name) ? await elsewhere(context, 'VolumeSnapshot', name, namespace) : '';
    throw new UserError(`source volumesnapshot ${name} not found in namespace ${namespace}${hint}`);
  }
  if (record.phase !== 'Ready' || !record.snapshot) {
    throw new UserError(
      `source volumesnapshot ${name} is not ready yet (its apply did not finish); apply it again, then the restore`,
    );
  }
  if (record.snapshot.volumeMode !== claim.spec.volumeMode) {
    throw new UserError(
      `spec.volumeMode ${claim.spec.volumeMode} differs from the snapshot's (${record.snapshot.volumeMode}): a restore has its snapshot's volume mode; set volumeMode: ${record.snapshot.volumeMode}`,
    );
  }
  if (requestBytes < record.snapshot.restoreBytes) {
    throw new UserError(
      `spec.resources.requests.storage ${formatQuantity(requestBytes)} is smaller than the snapshot's restore size ${formatQuantity(record.snapshot.restoreBytes)}; ask for ${formatQuantity(record.snapshot.restoreBytes)} or more`,
    );
  }
  return {
    kind: 'VolumeSnapshot',
    name,
    contentSource: { snapshot: { snapshot_id: record.snapshot.id } },
    sizeBytes: record.snapshot.restoreBytes,
    fsType: record.snapshot.fsType,
  };
}

function chosenFsType(
  claim: PersistentVolumeClaim,
  classParameters: Record<string, string>,
  source: ResolvedSource | undefined,
): FsType | undefined {
  if (claim.spec.volumeMode === 'Block') {
    if (claim.metadata.annotations[FS_TYPE_ANNOTATION] !== undefined) {
      throw new UserError(
        `annotation ${FS_TYPE_ANNOTATION} is for Filesystem volumes; a Block volume has no filesystem`,
      );
    }
    return undefined;
  }
  const wanted = claim.metadata.annotations[FS_TYPE_ANNOTATION] ?? classParameters[FS_TYPE_PARAMETER];
  if (wanted === undefined || wanted === '') return source?.fsType ?? 'ext4';
  if (!(FS_TYPES as readonly string[]).includes(wanted)) {
    throw new UserError(`filesystem ${wanted} is not one Dolly makes; use ${FS_TYPES.join(' or ')}`);
  }
  return wanted as FsType;
}

/** The parts of a claim's spec that cannot change once it exists, for comparing two applies. */
function immutableSpec(claim: PersistentVolumeClaim): unknown {
  const { resources, ...rest } = claim.spec;
  return { ...rest, storageClassName: undefined, limits: resources.limits };
}

/**
 * Creates a claim (provisioning its volume through CreateVolume) or applies a change to an
 * existing one (a larger request expands it; everything else is immutable, as in Kubernetes).
 */
export async function applyClaim(
  context: LocalContext,
  claim: PersistentVolumeClaim,
  options: { mustBeNew?: boolean } = {},
): Promise<ApplyResult> {
  const source = dataSourceOf(claim);
  const key = claimKey(claim.metadata.namespace, claim.metadata.name);
  const keys: ObjectKey[] = [key];
  if (source && isObjectName(source.name)) {
    keys.push({ kind: source.kind, name: source.name, namespace: claim.metadata.namespace });
  }
  const locks = await context.catalog.lock(keys);
  try {
    const existing = await context.catalog.get(key);
    if (existing && options.mustBeNew) {
      throw new UserError(
        `${describeClaim(claim.metadata.namespace, claim.metadata.name)} already exists; choose another name`,
      );
    }
    if (existing) return await updateClaim(context, existing, claim);
    return await createClaim(context, claim, source);
  } finally {
    await locks.release();
  }
}

async function createClaim(
  context: LocalContext,
  claim: PersistentVolumeClaim,
  source: { kind: 'PersistentVolumeClaim' | 'VolumeSnapshot'; name: string } | undefined,
): Promise<ApplyResult> {
  const requestBytes = parseStorageQuantity(claim.spec.resources.requests.storage);
  const limits = claim.spec.resources.limits;
  const limitBytes = limits ? parseStorageQuantity(limits.storage) : 0;
  const storageClass = await resolveStorageClass(context, claim.spec.storageClassName);
  const resolved = source && (await resolveSource(context, claim, source, requestBytes));
  const fsType = chosenFsType(claim, storageClass.object.parameters, resolved);
  const uid = randomUUID();
  const volumeName = `pvc-${uid}`;
  const request: CreateVolumeRequest = {
    name: volumeName,
    capacity_range: { required_bytes: requestBytes, limit_bytes: limitBytes },
    volume_capabilities: volumeCapabilities(
      claim.spec.accessModes,
      claim.spec.volumeMode,
      fsType,
      storageClass.object.mountOptions,
    ),
    parameters: driverParameters(storageClass.object.parameters, {
      'csi.storage.k8s.io/pvc/name': claim.metadata.name,
      'csi.storage.k8s.io/pvc/namespace': claim.metadata.namespace,
      'csi.storage.k8s.io/pv/name': volumeName,
    }),
    ...(resolved && { volume_content_source: resolved.contentSource }),
  };
  await ensureNamespace(context, claim.metadata.namespace);
  const record: PendingClaim = {
    version: 1,
    kind: 'PersistentVolumeClaim',
    object: claim,
    uid,
    createdAt: new Date().toISOString(),
    phase: 'Pending',
    storageClassName: storageClass.object.metadata.name,
    ...(resolved && { source: { kind: resolved.kind, name: resolved.name } }),
    mounts: [],
    pendingRequest: request,
    fsType,
  };
  // Recorded before the volume exists: a command killed after CreateVolume leaves a Pending
  // claim that the next apply or delete finishes, never a volume nobody knows of.
  await context.catalog.put(record);
  faultPoint('apply:claim-pending');
  await provision(context, record);
  return 'created';
}

/** A claim recorded before its CreateVolume, with the exact request, so a retry is the same call. */
export interface PendingClaim extends ClaimRecord {
  pendingRequest?: CreateVolumeRequest;
  fsType?: FsType | undefined;
}

async function provision(context: LocalContext, record: PendingClaim): Promise<void> {
  const request = record.pendingRequest;
  if (!request)
    throw new UserError(
      `${describeClaim(record.object.metadata.namespace, record.object.metadata.name)} is Pending without its request; delete it and apply it again`,
    );
  const { namespace, name } = record.object.metadata;
  let response;
  try {
    response = await context.timed('CreateVolume', () => context.client.createVolume(request));
  } catch (error) {
    if (isRefusal(error)) {
      await context.catalog.remove(claimKey(namespace, name));
      throw context.fail(error, `${describeClaim(namespace, name)} refused`);
    }
    throw context.fail(
      error,
      `${describeClaim(namespace, name)} stays Pending (apply it again to finish, or delete it)`,
    );
  }
  faultPoint('apply:volume-created');
  const volume = response.volume;
  if (!volume) throw new UserError(`the driver answered CreateVolume for ${name} without a volume`);
  const bound: PendingClaim = {
    ...record,
    phase: 'Bound',
    volume: {
      id: volume.volume_id,
      capacityBytes: Number(volume.capacity_bytes),
      fsType: record.fsType,
      mountOptions: request.volume_capabilities?.[0]?.mount?.mount_flags ?? [],
      volumeContext: volume.volume_context,
    },
  };
  // What only a Pending claim needs goes: the record is now an ordinary bound claim.
  delete bound.pendingRequest;
  delete bound.fsType;
  await context.catalog.put(bound);
}

async function updateClaim(
  context: LocalContext,
  existing: PendingClaim,
  claim: PersistentVolumeClaim,
): Promise<ApplyResult> {
  const { namespace, name } = claim.metadata;
  const what = describeClaim(namespace, name);
  const explicitClass = claim.spec.storageClassName;
  if (explicitClass !== undefined && explicitClass !== existing.storageClassName) {
    throw new UserError(
      `${what}: spec.storageClassName cannot change (it is ${existing.storageClassName}); delete the claim and apply it again, or clone it into the other class`,
    );
  }
  if (!sameValue(immutableSpec(existing.object), immutableSpec(claim))) {
    throw new UserError(
      `${what}: its spec cannot change once made, except resources.requests.storage (to grow it); delete the claim and apply it again`,
    );
  }
  if (existing.phase === 'Pending') {
    if (existing.object.spec.resources.requests.storage !== claim.spec.resources.requests.storage) {
      throw new UserError(
        `${what} is Pending from an apply that did not finish, with another size; apply it as it was, or delete it`,
      );
    }
    await provision(context, existing);
    return 'created';
  }
  const before = parseStorageQuantity(existing.object.spec.resources.requests.storage);
  const after = parseStorageQuantity(claim.spec.resources.requests.storage);
  if (after < before) {
    throw new UserError(
      `${what}: spec.resources.requests.storage can not be less than before (${existing.object.spec.resources.requests.storage}); volumes do not shrink`,
    );
  }
  const metadataChanged = !sameValue(existing.object.metadata, claim.metadata);
  if (after === before) {
    if (!metadataChanged) return 'unchanged';
    // Only metadata changed (labels, annotations): the spec stays as first applied.
    await context.catalog.put({ ...existing, object: { ...existing.object, metadata: claim.metadata } });
    return 'configured';
  }
  await expandHeld(
    context,
    { ...existing, object: { ...existing.object, metadata: claim.metadata } },
    after,
    claim.spec.resources.requests.storage,
  );
  return 'configured';
}

/**
 * Grows a claim's volume to `bytes` (the caller holds the claim's lock): ControllerExpandVolume,
 * then NodeExpandVolume when the volume is staged and the driver asks for it (or expands only
 * on the node), as the external-resizer and kubelet do.
 */
export async function expandHeld(
  context: LocalContext,
  record: ClaimRecord,
  bytes: number,
  requestText: string,
): Promise<ClaimRecord> {
  const { namespace, name } = record.object.metadata;
  const what = describeClaim(namespace, name);
  const volume = record.volume;
  if (record.phase !== 'Bound' || !volume)
    throw new UserError(`${what} is not bound yet; apply it again to finish it first`);
  const storageClass = isObjectName(record.storageClassName)
    ? await context.catalog.get({ kind: 'StorageClass', name: record.storageClassName })
    : undefined;
  if (!storageClass) {
    throw new UserError(
      `${what}: its storageclass ${record.storageClassName} is gone, and a claim grows only under a class that allows it; apply the class again`,
    );
  }
  if (!storageClass.object.allowVolumeExpansion) {
    throw new UserError(
      `${what}: storageclass ${record.storageClassName} does not allow expansion (allowVolumeExpansion is not true)`,
    );
  }
  // The request first, as Kubernetes records spec before status: a retry sees what was asked.
  let current: ClaimRecord = {
    ...record,
    object: {
      ...record.object,
      spec: {
        ...record.object.spec,
        resources: { ...record.object.spec.resources, requests: { storage: requestText } },
      },
    },
  };
  await context.catalog.put(current);
  if (bytes <= volume.capacityBytes) return current;
  const capability = nodeCapability(record, volume);
  const staged = record.stagingPath !== undefined && record.mounts.some((mount) => mount.state === 'mounted');
  let capacityBytes = volume.capacityBytes;
  let nodeExpansionRequired = true;
  if (context.controllerCapabilities.has('EXPAND_VOLUME')) {
    try {
      const response = await context.client.controllerExpandVolume({
        volume_id: volume.id,
        capacity_range: { required_bytes: bytes },
        volume_capability: capability,
      });
      capacityBytes = Number(response.capacity_bytes);
      nodeExpansionRequired = response.node_expansion_required;
    } catch (error) {
      throw context.fail(error, `growing ${what}`);
    }
  } else if (!staged) {
    throw new UserError(
      `${what}: this driver grows volumes on the node (dolly serve --expansion node); mount it first, then expand it`,
    );
  }
  if (nodeExpansionRequired && staged) {
    const target = record.mounts.find((mount) => mount.state === 'mounted')?.target;
    try {
      const response = await context.client.nodeExpandVolume({
        volume_id: volume.id,
        volume_path: target ?? '',
        staging_target_path: record.stagingPath ?? '',
        capacity_range: { required_bytes: bytes },
        volume_capability: capability,
      });
      capacityBytes = Math.max(capacityBytes, Number(response.capacity_bytes));
    } catch (error) {
      throw context.fail(error, `growing the filesystem of ${what}`);
    }
  }
  current = { ...current, volume: { ...volume, capacityBytes } };
  await context.catalog.put(current);
  return current;
}

/** Grows a claim to `requestText` (`dolly volume expand`). */
export async function expandClaim(
  context: LocalContext,
  namespace: NamespaceName,
  name: ObjectName,
  requestText: string,
): Promise<ClaimRecord> {
  const bytes = parseStorageQuantity(requestText);
  const key = claimKey(namespace, name);
  const what = describeClaim(namespace, name);
  const locks = await context.catalog.lock([key]);
  try {
    const record = await context.catalog.get(key);
    if (!record) throw new UserError(`${what} not found`);
    const capacity = record.volume?.capacityBytes ?? 0;
    if (bytes < capacity) {
      throw new UserError(
        `${what} is ${formatQuantity(capacity)}; volumes do not shrink, so ask for ${formatQuantity(capacity)} or more`,
      );
    }
    if (bytes === capacity) return record;
    return await expandHeld(context, record, bytes, requestText);
  } finally {
    await locks.release();
  }
}

/** Deletes a claim and its volume; refused while it is mounted. */
export async function deleteClaim(
  context: LocalContext,
  namespace: NamespaceName,
  name: ObjectName,
): Promise<void> {
  const key = claimKey(namespace, name);
  const what = describeClaim(namespace, name);
  const locks = await context.catalog.lock([key]);
  try {
    const record: PendingClaim | undefined = await context.catalog.get(key);
    if (!record) throw new UserError(`${what} not found`);
    if (record.mounts.length > 0) {
      const targets = record.mounts.map((mount) => mount.target).join(', ');
      throw new UserError(
        `${what} is mounted at ${targets}: unmount it first (dolly volume umount ${record.mounts[0]?.target ?? ''})`,
      );
    }
    let volumeId = record.volume?.id;
    if (volumeId === undefined && record.pendingRequest) {
      // A Pending claim may or may not have its volume: the same CreateVolume finds out.
      try {
        volumeId = (await context.client.createVolume(record.pendingRequest)).volume?.volume_id;
      } catch (error) {
        if (!isRefusal(error)) throw context.fail(error, `deleting ${what}`);
      }
    }
    if (volumeId !== undefined) {
      try {
        await context.client.deleteVolume({ volume_id: volumeId });
      } catch (error) {
        throw context.fail(error, `deleting ${what}`);
      }
    }
    await context.catalog.remove(key);
  } finally {
    await locks.release();
  }
}

export { formatQuantity };
